""":class:`RecordingOutbox`: the in-memory fake that ships with the code, same rules for ``send``."""

from __future__ import annotations

import threading
import uuid

from connectors.outbox.model import SentMessage, _same_or_conflict, _validate, channel_for, now_utc


class RecordingOutbox:
    """In-memory outbox for tests and evals; thread-safe. It queues, it never delivers."""

    def __init__(self) -> None:
        self._by_key: dict[str, SentMessage] = {}
        self._order: list[SentMessage] = []
        self._lock = threading.Lock()

    def send(
        self,
        recipient: str,
        text: str,
        *,
        idempotency_key: str,
        requester_id: str | None = None,
        thread_id: str | None = None,
    ) -> SentMessage:
        _validate(recipient, text, idempotency_key)
        with self._lock:
            existing = self._by_key.get(idempotency_key)
            if existing is not None:
                return _same_or_conflict(existing, recipient, text)
            msg = SentMessage(
                uuid.uuid4().hex,
                recipient,
                text,
                idempotency_key,
                now_utc(),
                channel=channel_for(recipient),
                requester_id=requester_id,
                thread_id=thread_id,
            )
            self._by_key[idempotency_key] = msg
            self._order.append(msg)
            return msg

    def messages(self, recipient: str | None = None) -> list[SentMessage]:
        with self._lock:
            return [m for m in self._order if recipient is None or m.recipient == recipient]
