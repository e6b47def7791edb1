"""Delivery channels: hand one outbox message to Slack or to an SMTP server, once.

- :class:`Channel`: ``deliver(message) -> ref`` (the channel's id for what it accepted);
  raises :class:`~connectors.errors.RetryLater` (try again; ``retry_after`` if the far side said)
  or :class:`~connectors.errors.DeliveryRefused` (never again, with the reason a person reads).
- :class:`SlackChannel`: ``chat.postMessage`` to a user id (the DM), a channel, or a thread
  (``thread_ts``); link and media unfurling off, so no preview fetches a URL the model chose.
  The idempotency key is ``client_msg_id``, a UUID derived from the outbox id, identical on
  every attempt. The client must not sleep on 429 itself: the worker reschedules the row after
  ``Retry-After`` and goes on with other messages.
- :class:`SmtpChannel`: stdlib ``smtplib`` with STARTTLS (or implicit TLS) and login from
  settings; the ``Message-ID`` is derived from the outbox id, so a retry after an unknown
  outcome carries the same id and receivers drop the copy. 4xx is retried, 5xx refused.
- :class:`RecordingChannel`: the fake, for tests and the demo.

Per-channel size limits live here (:data:`TEXT_LIMITS`) so the messaging tool can refuse an
oversized message when it is proposed, before anyone approves it.
"""

from __future__ import annotations

import smtplib
import ssl
import threading
import urllib.error
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Protocol

from connectors.errors import DeliveryRefused, RetryLater
from connectors.outbox import SentMessage

#: Longest text each channel takes. Slack asks for at most 4,000 characters in ``text`` (longer
#: is truncated, and beyond 40,000 refused as ``msg_too_long``); email has no such limit but we
#: cap it where a person would stop reading.
TEXT_LIMITS: dict[str, int] = {"slack": 4000, "email": 20_000}

# Slack errors worth another try; every other error is permanent for this message.
_SLACK_RETRYABLE = {
    "ratelimited",
    "rate_limited",
    "fatal_error",
    "internal_error",
    "service_unavailable",
    "request_timeout",
}
_SLACK_REASONS = {
    "channel_not_found": "the channel does not exist, or the bot cannot see it",
    "not_in_channel": "the bot is not a member of the channel; invite it (/invite @Chamberlain)",
    "is_archived": "the channel is archived",
    "invalid_auth": "the bot token was rejected; check SLACK_BOT_TOKEN",
    "not_authed": "no bot token was sent; set SLACK_BOT_TOKEN",
    "account_inactive": "the bot's token belongs to a deactivated app or user",
    "token_revoked": "the bot token was revoked; reinstall the app",
    "missing_scope": "the app lacks the chat:write scope",
    "msg_too_long": "the message is longer than Slack accepts",
    "no_text": "the message is empty",
    "restricted_action": "the workspace does not let the bot post there",
    "user_not_found": "no such Slack user",
}


class Channel(Protocol):
    name: str

    def deliver(self, message: SentMessage) -> str:
        """Deliver ``message``; return the channel's reference for it."""
        ...


def slack_client_msg_id(message_id: str) -> str:
    """The same UUID for every attempt at one outbox message."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chamberlain:outbox:{message_id}"))


class SlackChannel:
    """Posts with a ``slack_sdk.WebClient`` built without a rate-limit retry handler."""

    name = "slack"

    def __init__(self, client: Any) -> None:
        self.web = client

    def deliver(self, message: SentMessage) -> str:
        from slack_sdk.errors import SlackApiError, SlackClientError

        try:
            resp = self.web.chat_postMessage(
                channel=message.recipient,
                text=message.text,
                thread_ts=message.thread_ts,
                unfurl_links=False,
                unfurl_media=False,
                client_msg_id=slack_client_msg_id(message.id),
            )
        except SlackApiError as exc:
            raise _slack_error(exc) from exc
        except (SlackClientError, urllib.error.URLError, TimeoutError, OSError) as exc:
            raise RetryLater(f"could not reach Slack: {exc}") from exc
        return f"{resp['channel']}/{resp['ts']}"


def _slack_error(exc: Any) -> Exception:
    resp = exc.response
    status = int(getattr(resp, "status_code", 0) or 0)
    error = str(resp.get("error", "")) if resp is not None else ""
    if status == 429 or error in _SLACK_RETRYABLE or status >= 500:
        headers = getattr(resp, "headers", None) or {}
        raw = headers.get("Retry-After") or headers.get("retry-after")
        try:
            retry_after = float(raw) if raw is not None else None
        except ValueError:
            retry_after = None
        return RetryLater(f"Slack said {error or status}; trying again later", retry_after=retry_after)
    why = _SLACK_REASONS.get(error, "Slack refused the message")
    return DeliveryRefused(f"Slack said {error or status}: {why}")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 587
    starttls: bool = True  # upgrade a plain connection (587); both False: plain, trusted relays only
    implicit_tls: bool = False  # TLS from the first byte (465)
    username: str | None = None
    password: str | None = None
    sender: str = "chamberlain@localhost"
    timeout_s: float = 30.0
    ssl_context: ssl.SSLContext | None = None


class SmtpChannel:
    name = "email"

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def message_id(self, message: SentMessage) -> str:
        domain = self.config.sender.rpartition("@")[2] or "localhost"
        return f"<{message.id}@{domain}>"

    def build(self, message: SentMessage) -> EmailMessage:
        em = EmailMessage()
        em["From"] = self.config.sender
        em["To"] = message.recipient
        em["Subject"] = message.subject or _subject(message.text)
        em["Message-ID"] = self.message_id(message)
        em["Date"] = formatdate(message.sent_at.timestamp(), localtime=False, usegmt=True)
        em["Auto-Submitted"] = "auto-generated"
        em.set_content(message.text)
        return em

    def deliver(self, message: SentMessage) -> str:
        cfg = self.config
        em = self.build(message)
        try:
            client: smtplib.SMTP
            if cfg.implicit_tls:
                client = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, timeout=cfg.timeout_s, context=cfg.ssl_context or ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
            with client:
                client.ehlo()
                if cfg.starttls and not cfg.implicit_tls:
                    if not client.has_extn("starttls"):
                        raise DeliveryRefused(
                            f"the SMTP server {cfg.host}:{cfg.port} does not offer STARTTLS; "
                            "set CHAMBERLAIN_SMTP_STARTTLS=false only for a server on a trusted network"
                        )
                    client.starttls(context=cfg.ssl_context or ssl.create_default_context())
                    client.ehlo()
                if cfg.username:
                    client.login(cfg.username, cfg.password or "")
                client.send_message(em)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _smtp_error(code, text, "refused the recipient") from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryRefused(
                f"the SMTP server rejected the login ({exc.smtp_code}); check CHAMBERLAIN_SMTP_USERNAME/PASSWORD"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise _smtp_error(exc.smtp_code, exc.smtp_error, "refused the message") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryRefused(f"the SMTP server does not support what we need: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise RetryLater(f"could not reach the SMTP server {cfg.host}:{cfg.port}: {exc}") from exc
        return str(em["Message-ID"])


def _smtp_error(code: int, text: bytes | str, what: str) -> Exception:
    detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    msg = f"the SMTP server {what}: {code} {detail}".strip()
    if 400 <= code < 500:
        return RetryLater(msg)
    return DeliveryRefused(msg)


def _subject(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else "Message"
    return first if len(first) <= 78 else first[:77] + "…"


class RecordingChannel:
    """Keeps what it was given; ``fail_with`` scripts errors for the next deliveries."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.delivered: list[SentMessage] = []
        self.fail_with: list[Exception] = []
        self._lock = threading.Lock()

    def deliver(self, message: SentMessage) -> str:
        with self._lock:
            if self.fail_with:
                raise self.fail_with.pop(0)
            self.delivered.append(message)
            return f"{self.name}:{message.id}"


__all__ = [
    "TEXT_LIMITS",
    "Channel",
    "RecordingChannel",
    "SlackChannel",
    "SmtpChannel",
    "SmtpConfig",
    "slack_client_msg_id",
]
