"""The Events API ack path: verify the signature, de-duplicate, enqueue, answer 200.

Slack wants an answer within 3 seconds and retries (same ``event_id``) when it gets none, so
nothing slow may stand between a request and its 200. Through Bolt alone, each event first
waits for a free Bolt listener thread, then runs the middleware chain, while the conversations
already running compete for the same interpreter; under a burst the acks queue behind each
other. Here an ``event_callback`` is acknowledged after exactly four steps: the HMAC check
(Slack's signing secret), a de-duplication in memory (a Slack retry reaching this process stops
here), a queue put, the response. No database round trip stands before the ack: under a burst the
app database is busy with the conversations' own writes, and SQLite's busy handler backs off in
sleeps of up to 100 ms. A small dispatcher pool then hands the request to Bolt
(``App.dispatch``), whose listeners de-duplicate durably (``connectors.appdb.DedupeStore``, the
``event:`` key, shared by every worker) before any work starts: a retry that reaches another
worker is acked there and dropped there.

Acks come first: Python runs one thread at a time, so conversations already under way slow the
event loop that answers Slack (each runnable thread may hold the interpreter for 5 ms). During a
burst the dispatchers therefore hold new work back until no event has arrived for
``QUIET_S`` (at most ``MAX_HOLD_S``), and the burst is acked before its work starts.

The HTTP side is :class:`FastAckMiddleware`, in front of FastAPI's routing: under a burst the
event loop is the bottleneck (it answers every request in turn, holding the interpreter), so an
ack costs it only the HTTP parse, the HMAC, a dict lookup and a queue put; the ``BoltRequest``
is built by the dispatcher, after the ack.

Everything else (interactivity, slash commands, ``url_verification``) needs Bolt's answer in
the response body and goes to Bolt directly.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)

# Event ids remembered in memory: Slack retries within minutes; the durable check follows anyway.
_SEEN = 50_000
QUIET_S = 0.05  # dispatch once no event has arrived for this long…
MAX_HOLD_S = 1.0  # …or once an event has waited this long


class EventAcker:
    """Acknowledges Events API deliveries at once and dispatches them to Bolt afterwards."""

    def __init__(self, bolt_app: App, signing_secret: str, *, dispatchers: int = 4) -> None:
        self.bolt_app = bolt_app
        self._verifier = SignatureVerifier(signing_secret)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._pool = ThreadPoolExecutor(max_workers=dispatchers, thread_name_prefix="slack-dispatch")
        self._pending = 0
        self._last_arrival = float("-inf")
        self._lock = threading.Lock()

    def verified_event(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        """The ``event_id`` of a correctly signed ``event_callback``; None for anything else
        (which Bolt handles, and rejects if unsigned)."""
        if b'"event_callback"' not in body:  # cheap pre-check before parsing
            return None
        if not self._verifier.is_valid(
            body, headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
        ):
            return None
        try:
            payload = json.loads(body)
        except ValueError:
            return None
        if not isinstance(payload, dict) or payload.get("type") != "event_callback":
            return None
        event_id = payload.get("event_id")
        return str(event_id) if event_id else None

    def accept(self, event_id: str, body: bytes, headers: Mapping[str, str]) -> None:
        """De-duplicate and enqueue (the caller answers 200 afterwards, whatever happened)."""
        with self._lock:
            if event_id in self._seen:
                return  # a Slack retry or a second delivery: already queued once
            self._seen[event_id] = None
            if len(self._seen) > _SEEN:
                self._seen.popitem(last=False)
        now = time.monotonic()
        with self._lock:
            self._pending += 1
            self._last_arrival = now
        # The BoltRequest (body and header parsing) is built by the dispatcher, after the ack.
        self._pool.submit(self._dispatch, event_id, body, dict(headers), now)

    def _hold(self, arrived: float) -> None:
        """Wait for a lull in arrivals (see the module docstring), never past ``MAX_HOLD_S``."""
        deadline = arrived + MAX_HOLD_S
        while True:
            now = time.monotonic()
            with self._lock:
                quiet_at = self._last_arrival + QUIET_S
            if now >= quiet_at or now >= deadline:
                return
            time.sleep(min(quiet_at, deadline) - now)

    def _dispatch(self, event_id: str, body: bytes, headers: Mapping[str, str], arrived: float) -> None:
        try:
            self._hold(arrived)
            request = BoltRequest(body=body.decode(), headers={k: [v] for k, v in headers.items()})
            response = self.bolt_app.dispatch(request)
            if response.status >= 400:
                log.warning("Slack event %s: Bolt answered %s after the ack", event_id, response.status)
        except Exception:
            log.exception("Slack event %s failed after the ack", event_id)
        finally:
            with self._lock:
                self._pending -= 1

    def pending(self) -> int:
        """Events acknowledged but not yet handed to the listeners."""
        with self._lock:
            return self._pending

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class FastAckMiddleware:
    """ASGI middleware that acks Events API deliveries before any routing or request object:
    under a burst every request costs the event loop (which holds the interpreter) only the
    HTTP parse, the HMAC check, a dict lookup and a queue put. Anything else posted to ``path``
    (interactivity, slash commands, unsigned requests) reaches the app with its body intact."""

    def __init__(self, app: Any, acker: EventAcker, path: str) -> None:
        self.app = app
        self.acker = acker
        self.path = path

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        event_id = self.acker.verified_event(body, headers)
        if event_id is not None:
            self.acker.accept(event_id, body, headers)  # memory only: fine on the event loop
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def fast_acker(bolt_app: App) -> Any:
    """The acker :func:`agent.interfaces.slack.app.create_slack_bot` attached to ``bolt_app``, if any."""
    return getattr(bolt_app, "chamberlain_acker", None)


__all__ = ["EventAcker", "FastAckMiddleware", "fast_acker"]
