"""The outbox: where the assistant's outgoing messages (email, Slack DM, channel post) go.

- :class:`Outbox`: what the messaging tool needs, ``send(recipient, text, idempotency_key=...)``.
- :class:`SqlOutbox`: messages stored in the ``outbox`` table of the app database; a delivery
  worker (or the Slack adapter) picks them up from there. Unique on the idempotency key, so a
  retried or concurrent execution of the same approved send stores exactly one message.
- :class:`RecordingOutbox`: the in-memory fake that ships with the code, same rules.

Reusing a key with a different recipient or text is a :class:`~connectors.errors.ConflictError`:
that is a bug in the caller, never a second message.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, Text, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from connectors.errors import ConflictError, ConnectorUnavailable, InvalidRequest

MAX_TEXT_CHARS = 40_000  # hard connector limit; the tool's own limit is lower

_metadata = MetaData()

outbox_table = Table(
    "outbox",
    _metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("recipient", String(320), nullable=False),
    Column("text", Text, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class SentMessage:
    """A message accepted by the outbox. ``duplicate``: an earlier send with the same key."""

    id: str
    recipient: str
    text: str
    idempotency_key: str
    sent_at: datetime
    duplicate: bool = False


@runtime_checkable
class Outbox(Protocol):
    def send(self, recipient: str, text: str, *, idempotency_key: str) -> SentMessage:
        """Queue ``text`` for ``recipient`` exactly once per ``idempotency_key``.

        Raises ``InvalidRequest`` for an empty recipient/text or a missing key,
        ``ConflictError`` when the key was used for a different message,
        ``ConnectorUnavailable`` when the store cannot be reached.
        """
        ...

    def messages(self, recipient: str | None = None) -> list[SentMessage]:
        """Stored messages in sending order (optionally for one recipient)."""
        ...


def _validate(recipient: str, text: str, idempotency_key: str) -> None:
    if not recipient.strip():
        raise InvalidRequest("a message needs a recipient")
    if not text.strip():
        raise InvalidRequest("a message needs some text")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidRequest(f"a message may hold at most {MAX_TEXT_CHARS:,} characters, not {len(text):,}")
    if not idempotency_key:
        raise InvalidRequest("sending needs an idempotency key (so a retry never sends twice)")


def _same_or_conflict(existing: SentMessage, recipient: str, text: str) -> SentMessage:
    if existing.recipient != recipient or existing.text != text:
        raise ConflictError(
            f"idempotency key {existing.idempotency_key!r} was already used for a different message "
            f"(to {existing.recipient}); use a new key for a new message"
        )
    return replace(existing, duplicate=True)


class RecordingOutbox:
    """In-memory outbox for tests and evals; thread-safe."""

    def __init__(self) -> None:
        self._by_key: dict[str, SentMessage] = {}
        self._order: list[SentMessage] = []
        self._lock = threading.Lock()

    def send(self, recipient: str, text: str, *, idempotency_key: str) -> SentMessage:
        _validate(recipient, text, idempotency_key)
        with self._lock:
            existing = self._by_key.get(idempotency_key)
            if existing is not None:
                return _same_or_conflict(existing, recipient, text)
            msg = SentMessage(uuid.uuid4().hex, recipient, text, idempotency_key, datetime.now(UTC))
            self._by_key[idempotency_key] = msg
            self._order.append(msg)
            return msg

    def messages(self, recipient: str | None = None) -> list[SentMessage]:
        with self._lock:
            return [m for m in self._order if recipient is None or m.recipient == recipient]


class SqlOutbox:
    """Outbox in the app database (SQLite or PostgreSQL); creates its table if missing."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        try:
            from connectors.appdb._engine import create_tables  # N processes may start at once

            create_tables(engine, _metadata)
        except OperationalError as exc:
            raise ConnectorUnavailable(f"cannot create the outbox table: {exc}") from exc

    def send(self, recipient: str, text: str, *, idempotency_key: str) -> SentMessage:
        _validate(recipient, text, idempotency_key)
        msg = SentMessage(uuid.uuid4().hex, recipient, text, idempotency_key, datetime.now(UTC))
        try:
            with self.engine.begin() as c:
                c.execute(
                    insert(outbox_table).values(
                        id=msg.id, idempotency_key=idempotency_key, recipient=recipient, text=text, sent_at=msg.sent_at
                    )
                )
            return msg
        except IntegrityError:
            existing = self._by_key(idempotency_key)
            if existing is None:  # pragma: no cover - a unique clash on the random id
                raise
            return _same_or_conflict(existing, recipient, text)
        except OperationalError as exc:
            raise ConnectorUnavailable(f"the outbox is unavailable: {exc}") from exc

    def messages(self, recipient: str | None = None) -> list[SentMessage]:
        q = select(outbox_table).order_by(outbox_table.c.seq)
        if recipient is not None:
            q = q.where(outbox_table.c.recipient == recipient)
        try:
            with self.engine.connect() as c:
                rows = c.execute(q).mappings().all()
        except OperationalError as exc:
            raise ConnectorUnavailable(f"the outbox is unavailable: {exc}") from exc
        return [_row(r) for r in rows]

    def _by_key(self, key: str) -> SentMessage | None:
        with self.engine.connect() as c:
            row = c.execute(select(outbox_table).where(outbox_table.c.idempotency_key == key)).mappings().first()
        return _row(row) if row is not None else None


def _row(r: object) -> SentMessage:
    m = dict(r)  # type: ignore[call-overload]
    sent_at = m["sent_at"]
    if sent_at.tzinfo is None:  # SQLite returns naive datetimes
        sent_at = sent_at.replace(tzinfo=UTC)
    return SentMessage(m["id"], m["recipient"], m["text"], m["idempotency_key"], sent_at)


__all__ = ["MAX_TEXT_CHARS", "Outbox", "RecordingOutbox", "SentMessage", "SqlOutbox", "outbox_table"]
