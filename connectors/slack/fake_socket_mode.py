"""A local Slack Socket Mode server, for tests: the WebSocket side of Slack.

It speaks Slack's Socket Mode protocol to an unmodified client (``slack_sdk`` / Bolt's
``SocketModeHandler``): the client calls ``apps.connections.open`` on the fake Web API with its
``xapp-`` token and gets this server's ``ws://`` URL; on connect the server says ``hello``; it
delivers ``events_api``, ``interactive`` and ``slash_commands`` envelopes, each with an
``envelope_id`` the client must acknowledge (``{"envelope_id": ...}``, with a ``payload`` where
Slack accepts one); and it can ask the client to reconnect with ``disconnect``
(``refresh_requested``), as Slack does every few hours.

    with FakeSlack(token=bot_token) as web, FakeSocketMode(web) as sm:
        handler = SocketModeHandler(bolt_app, "xapp-1-…"); handler.connect()
        envelope = sm.send_event(mention_event(...))
        sm.wait_ack(envelope)
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from connectors.slack.fake_api import FakeSlack


@dataclass(frozen=True)
class Ack:
    envelope_id: str
    payload: Any  # what the client sent back with the ack (None when nothing)
    connection: int  # which connection (1, 2, …) carried it


class FakeSocketMode:
    """The server; registers itself with ``fake`` so ``apps.connections.open`` hands out its URL."""

    def __init__(self, fake: FakeSlack, *, app_id: str = "A0CHAMBERLAIN") -> None:
        self.fake = fake
        self.app_id = app_id
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Condition()
        self._current: ServerConnection | None = None
        self._connection_no = 0
        self._seq = itertools.count(1)
        self.acks: dict[str, Ack] = {}
        self.sent: list[dict[str, Any]] = []  # every frame we sent, in order
        self.tickets: list[str] = []
        self.port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeSocketMode:
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.socket.getsockname()[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-socket-mode", daemon=True)
        self._thread.start()
        self.fake.socket_mode_url = f"ws://127.0.0.1:{self.port}/link/?app_id={self.app_id}"
        return self

    def stop(self) -> None:
        self.fake.socket_mode_url = None
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FakeSocketMode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connections(self) -> int:
        """How many WebSocket connections clients have opened so far."""
        with self._lock:
            return self._connection_no

    def wait_connected(self, n: int = 1, *, timeout: float = 30.0) -> None:
        """Block until the ``n``-th connection has been greeted with ``hello``."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._connection_no >= n and self._current is not None, timeout):
                raise TimeoutError(f"no Socket Mode connection #{n} within {timeout} s")

    # -- what Slack sends --------------------------------------------------------------------

    def send_event(self, event: dict[str, Any], *, event_id: str | None = None, retry_attempt: int = 0) -> str:
        """Deliver an Events API ``event_callback`` wrapping ``event``; returns its envelope id."""
        payload = {
            "token": "legacy-verification-token",
            "team_id": self.fake.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": self.fake.team_id, "user_id": self.fake.bot_user_id, "is_bot": True}],
        }
        return self._envelope("events_api", payload, accepts_response_payload=False, retry_attempt=retry_attempt)

    def send_interactive(self, payload: dict[str, Any]) -> str:
        """Deliver a ``block_actions`` / ``view_submission`` payload; returns its envelope id."""
        return self._envelope("interactive", payload, accepts_response_payload=payload.get("type") != "block_actions")

    def send_slash_command(self, payload: dict[str, Any]) -> str:
        return self._envelope("slash_commands", payload, accepts_response_payload=True)

    def request_refresh(self) -> None:
        """Tell the client this connection is going away, as Slack does before rotating hosts."""
        self._send({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "fake-socket-mode"}})

    def wait_ack(self, envelope_id: str, *, timeout: float = 30.0) -> Ack:
        with self._lock:
            if not self._lock.wait_for(lambda: envelope_id in self.acks, timeout):
                raise TimeoutError(f"envelope {envelope_id} was not acknowledged within {timeout} s")
            return self.acks[envelope_id]

    # -- internals ---------------------------------------------------------------------------

    def _envelope(
        self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool, retry_attempt: int = 0
    ) -> str:
        envelope_id = f"{uuid.uuid4()}-{next(self._seq)}"
        self._send(
            {
                "envelope_id": envelope_id,
                "payload": payload,
                "type": kind,
                "accepts_response_payload": accepts_response_payload,
                "retry_attempt": retry_attempt,
                "retry_reason": "" if retry_attempt == 0 else "timeout",
            }
        )
        return envelope_id

    def _send(self, frame: dict[str, Any]) -> None:
        with self._lock:
            if not self._lock.wait_for(lambda: self._current is not None, 10):
                raise RuntimeError("no Socket Mode client is connected")
            conn = self._current
            self.sent.append(frame)
        assert conn is not None
        conn.send(json.dumps(frame))

    def _handle(self, conn: ServerConnection) -> None:
        request = conn.request
        path = request.path if request is not None else ""
        with self._lock:
            self._connection_no += 1
            number = self._connection_no
            self.tickets.append(path)
        conn.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "fake-socket-mode", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": self.app_id},
                }
            )
        )
        with self._lock:
            self._current = conn
            self._lock.notify_all()
        try:
            for raw in conn:
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(message, dict) and message.get("envelope_id"):
                    with self._lock:
                        self.acks[str(message["envelope_id"])] = Ack(
                            str(message["envelope_id"]), message.get("payload"), number
                        )
                        self._lock.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if self._current is conn:
                    self._current = None
                self._lock.notify_all()


__all__ = ["Ack", "FakeSocketMode"]
