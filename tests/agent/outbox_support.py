"""Shared pieces for the outbox tests: a controllable clock and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

CERTS = Path(__file__).resolve().parents[1] / "fixtures" / "smtp"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += timedelta(seconds=seconds)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: Message

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass
class SmtpSink:
    """What the SMTP server accepted, and scripted answers for the next DATA commands."""

    received: list[Received] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)  # e.g. "451 4.3.0 busy", "550 5.1.1 unknown"
    logins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.answers:
                return self.answers.pop(0)
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.original_content))
            )
        return "250 2.0.0 OK: queued"


def server_tls_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(CERTS / "cert.pem", CERTS / "key.pem")
    return ctx


def client_tls_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(CERTS / "cert.pem"))


def start_smtp(sink: SmtpSink, *, starttls: bool = True, auth: tuple[str, str] | None = None) -> Any:
    """A real aiosmtpd server on 127.0.0.1; STARTTLS required when ``starttls``."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = (
            auth is not None
            and isinstance(data, LoginPassword)
            and (data.login.decode(), data.password.decode()) == auth
        )
        if ok:
            sink.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535

    kwargs: dict[str, Any] = {}
    if starttls:
        kwargs.update(tls_context=server_tls_context(), require_starttls=True)
    if auth is not None:
        kwargs.update(authenticator=authenticator, auth_require_tls=starttls, auth_required=True)
    controller = Controller(sink, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller
