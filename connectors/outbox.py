"""The outbox: where the assistant's outgoing messages (email, Slack DM, channel post, thread
reply, approval notifications) wait until a delivery worker has handed them to their channel.

- :class:`Outbox`: what the messaging tool needs, ``send(recipient, text, idempotency_key=...)``.
- :class:`SqlOutbox`: messages stored in the ``outbox`` table of the app database, plus the
  queue operations a delivery worker needs (claim with a lease, mark sent / retry / failed,
  retry by hand, list, show). Unique on the idempotency key, so a retried or concurrent
  execution of the same approved send stores exactly one message. ``send`` can join a caller's
  transaction (``connection=``), so a row is written with the state change that causes it.
- :class:`RecordingOutbox`: the in-memory fake that ships with the code, same rules for ``send``.

A message's life, as a person reads it:

    queued ──claim──▶ sending ──▶ sent (the channel's id: "D0BOB/1700000001.000001", a Message-ID)
       ▲                 │
       └──retry later────┤        (retryable error: next attempt after backoff or Retry-After)
                         └──────▶ failed (why) ──``outbox retry``──▶ queued

Claiming is ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so N workers never take the same
row; on SQLite every write transaction is ``BEGIN IMMEDIATE`` (see ``connectors.appdb``), which
makes the claim a single-writer lease. A ``sending`` row whose lease ran out (its worker died)
is claimed again; the channel's idempotency key (Slack ``client_msg_id``, email ``Message-ID``)
is what keeps that second attempt from becoming a second message. Every mark is conditional on
still holding the lease, so a worker that lost its lease cannot overwrite the new owner's state.

Reusing a key with a different recipient or text is a :class:`~connectors.errors.ConflictError`:
that is a bug in the caller, never a second message.
"""

from __future__ import annotations

import builtins
import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from connectors.errors import ConflictError, ConnectorUnavailable, InvalidRequest, RecordNotFound

MAX_TEXT_CHARS = 40_000  # hard connector limit; each channel's own limit is lower (see delivery)

QUEUED, SENDING, SENT, FAILED = "queued", "sending", "sent", "failed"
STATUSES = (QUEUED, SENDING, SENT, FAILED)

#: What a row is: a message someone approved, the receipt that tells its requester what became
#: of it, or an approval notification (a card to post or update).
KINDS = ("message", "receipt", "notification")
CHANNELS = ("slack", "email", "notify")

_metadata = MetaData()

outbox_table = Table(
    "outbox",
    _metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("recipient", String(320), nullable=False),
    Column("text", Text, nullable=False),
    # When the message was accepted (queued); the name predates the delivery worker.
    Column("sent_at", DateTime(timezone=True), nullable=False),
    # -- delivery (added with the worker; server defaults fill rows of older databases) -------
    Column("kind", String(20), nullable=False, server_default="message"),
    Column("channel", String(10), nullable=False, server_default="slack"),
    Column("status", String(10), nullable=False, server_default=QUEUED),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("lease_owner", String(100)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("delivered_at", DateTime(timezone=True)),
    Column("delivery_ref", String(300)),
    Column("requester_id", String(100)),
    Column("thread_id", String(300)),  # the conversation the request came from
    Column("thread_ts", String(40)),  # post as a reply in this Slack thread
    Column("subject", Text),
    Column("parent_id", String(40)),  # a receipt's message
    Column("payload_json", Text),  # a notification's event
)
Index("ix_outbox_due", outbox_table.c.status, outbox_table.c.next_attempt_at)


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SentMessage:
    """A message accepted by the outbox. ``duplicate``: an earlier send with the same key."""

    id: str
    recipient: str
    text: str
    idempotency_key: str
    sent_at: datetime
    duplicate: bool = False
    kind: str = "message"
    channel: str = "slack"
    status: str = QUEUED
    attempts: int = 0
    next_attempt_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    delivery_ref: str | None = None
    requester_id: str | None = None
    thread_id: str | None = None
    thread_ts: str | None = None
    subject: str | None = None
    parent_id: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)

    @property
    def queued_at(self) -> datetime:
        return self.sent_at


@dataclass(frozen=True)
class NewMessage:
    """A row to queue alongside a mark (e.g. the receipt that tells the requester)."""

    recipient: str
    text: str
    idempotency_key: str
    kind: str = "receipt"
    channel: str = "slack"
    thread_ts: str | None = None
    requester_id: str | None = None
    thread_id: str | None = None
    parent_id: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)  # a notification's event


#: What a mark queues with it (a receipt, card updates): committed with the mark or not at all.
FollowUps = NewMessage | Sequence[NewMessage] | None


@runtime_checkable
class Outbox(Protocol):
    def send(
        self,
        recipient: str,
        text: str,
        *,
        idempotency_key: str,
        requester_id: str | None = None,
        thread_id: str | None = None,
    ) -> SentMessage:
        """Queue ``text`` for ``recipient`` exactly once per ``idempotency_key``; the requester
        and their conversation are where the worker reports delivery.

        Raises ``InvalidRequest`` for an empty recipient/text or a missing key,
        ``ConflictError`` when the key was used for a different message,
        ``ConnectorUnavailable`` when the store cannot be reached.
        """
        ...

    def messages(self, recipient: str | None = None) -> list[SentMessage]:
        """Stored messages in sending order (optionally for one recipient)."""
        ...


def channel_for(recipient: str) -> str:
    """The channel a recipient is reached on: an address with ``@`` is email, the rest Slack."""
    return "email" if "@" in recipient and not recipient.startswith("<@") else "slack"


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


class SqlOutbox:
    """Outbox in the app database (SQLite or PostgreSQL); creates (or widens) its table."""

    def __init__(self, engine: Engine, *, clock: Any = now_utc) -> None:
        self.engine = engine
        self.clock = clock
        try:
            from connectors.appdb._engine import create_tables  # N processes may start at once

            create_tables(engine, _metadata)
            _add_missing_columns(engine)
        except OperationalError as exc:
            raise ConnectorUnavailable(f"cannot create the outbox table: {exc}") from exc

    # -- queueing ----------------------------------------------------------------------------

    def send(
        self,
        recipient: str,
        text: str,
        *,
        idempotency_key: str,
        kind: str = "message",
        channel: str | None = None,
        requester_id: str | None = None,
        thread_id: str | None = None,
        thread_ts: str | None = None,
        subject: str | None = None,
        parent_id: str | None = None,
        payload: Mapping[str, Any] | None = None,
        connection: Connection | None = None,
    ) -> SentMessage:
        """Queue a message. With ``connection`` the row joins that open transaction (commit or
        roll back with it); a clash on the key is then the caller's to handle (the transaction
        is aborted on PostgreSQL), so callers pass keys derived from their own new state."""
        _validate(recipient, text, idempotency_key)
        if kind not in KINDS:
            raise InvalidRequest(f"unknown outbox kind {kind!r}; use one of {', '.join(KINDS)}")
        channel = channel or channel_for(recipient)
        if channel not in CHANNELS:
            raise InvalidRequest(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")
        now = self.clock()
        msg = SentMessage(
            uuid.uuid4().hex,
            recipient,
            text,
            idempotency_key,
            now,
            kind=kind,
            channel=channel,
            next_attempt_at=now,
            requester_id=requester_id,
            thread_id=thread_id,
            thread_ts=thread_ts,
            subject=subject,
            parent_id=parent_id,
            payload=dict(payload or {}),
        )
        values = {
            "id": msg.id,
            "idempotency_key": idempotency_key,
            "recipient": recipient,
            "text": text,
            "sent_at": now,
            "kind": kind,
            "channel": channel,
            "status": QUEUED,
            "attempts": 0,
            "next_attempt_at": now,
            "requester_id": requester_id,
            "thread_id": thread_id,
            "thread_ts": thread_ts,
            "subject": subject,
            "parent_id": parent_id,
            "payload_json": json.dumps(dict(payload), sort_keys=True) if payload else None,
        }
        if connection is not None:
            connection.execute(insert(outbox_table).values(**values))
            return msg
        try:
            with self.engine.begin() as c:
                c.execute(insert(outbox_table).values(**values))
            return msg
        except IntegrityError:
            existing = self.by_key(idempotency_key)
            if existing is None:  # pragma: no cover - a unique clash on the random id
                raise
            return _same_or_conflict(existing, recipient, text)
        except OperationalError as exc:
            raise ConnectorUnavailable(f"the outbox is unavailable: {exc}") from exc

    # -- the worker's side -------------------------------------------------------------------

    def claim(self, owner: str, *, limit: int = 5, lease: timedelta = timedelta(seconds=60)) -> list[SentMessage]:
        """Take up to ``limit`` due rows for ``owner`` until ``now + lease``; oldest first.

        Due: queued with ``next_attempt_at`` reached, or sending with an expired lease (its
        worker died mid-delivery). Each claim counts as an attempt.
        """
        t = outbox_table.c
        now = self.clock()
        due = or_(
            (t.status == QUEUED) & or_(t.next_attempt_at.is_(None), t.next_attempt_at <= now),
            (t.status == SENDING) & (t.lease_expires_at < now),
        )
        q = select(t.id).where(due).order_by(t.seq).limit(limit).with_for_update(skip_locked=True)
        try:
            with self.engine.begin() as c:
                ids = list(c.execute(q).scalars())
                if not ids:
                    return []
                c.execute(
                    update(outbox_table)
                    .where(t.id.in_(ids))
                    .values(status=SENDING, lease_owner=owner, lease_expires_at=now + lease, attempts=t.attempts + 1)
                )
                rows = c.execute(select(outbox_table).where(t.id.in_(ids)).order_by(t.seq)).mappings().all()
        except OperationalError as exc:
            raise ConnectorUnavailable(f"the outbox is unavailable: {exc}") from exc
        return [_row(r) for r in rows]

    def mark_sent(self, message_id: str, owner: str, ref: str, *, follow_up: FollowUps = None) -> bool:
        """``sending`` → ``sent`` with the channel's reference; False if the lease was lost."""
        return self._finish(message_id, owner, {"status": SENT, "delivery_ref": ref[:300]}, follow_up)

    def mark_failed(self, message_id: str, owner: str, reason: str, *, follow_up: FollowUps = None) -> bool:
        """``sending`` → ``failed`` (the dead letters) with why; False if the lease was lost."""
        return self._finish(message_id, owner, {"status": FAILED, "last_error": reason}, follow_up)

    def mark_retry(self, message_id: str, owner: str, reason: str, *, at: datetime) -> bool:
        """``sending`` → ``queued`` again, due ``at``; False if the lease was lost."""
        return self._finish(message_id, owner, {"status": QUEUED, "last_error": reason, "next_attempt_at": at}, None)

    def _finish(self, message_id: str, owner: str, values: dict[str, Any], follow_up: FollowUps) -> bool:
        t = outbox_table.c
        now = self.clock()
        if values["status"] in (SENT, FAILED):
            values = {**values, "delivered_at": now if values["status"] == SENT else None}
        values = {**values, "lease_owner": None, "lease_expires_at": None}
        try:
            with self.engine.begin() as c:
                res = c.execute(
                    update(outbox_table)
                    .where(t.id == message_id, t.status == SENDING, t.lease_owner == owner)
                    .values(**values)
                )
                if res.rowcount != 1:
                    return False
                # Receipts and card updates commit with the mark, or not at all.
                follow_ups = [follow_up] if isinstance(follow_up, NewMessage) else list(follow_up or ())
                for f in follow_ups:
                    if self._key_exists(c, f.idempotency_key):
                        continue
                    self.send(
                        f.recipient,
                        f.text,
                        idempotency_key=f.idempotency_key,
                        kind=f.kind,
                        channel=f.channel,
                        thread_ts=f.thread_ts,
                        requester_id=f.requester_id,
                        thread_id=f.thread_id,
                        parent_id=f.parent_id,
                        payload=dict(f.payload) or None,
                        connection=c,
                    )
                return True
        except OperationalError as exc:
            raise ConnectorUnavailable(f"the outbox is unavailable: {exc}") from exc

    def _key_exists(self, c: Connection, key: str) -> bool:
        t = outbox_table.c
        return c.execute(select(t.id).where(t.idempotency_key == key)).first() is not None

    # -- people's side -----------------------------------------------------------------------

    def retry(self, message_id: str) -> SentMessage:
        """Put a failed message back in the queue, due now, with a fresh attempt budget."""
        t = outbox_table.c
        msg = self.get(message_id)
        if msg.status != FAILED:
            raise ConflictError(f"message {msg.id} is {msg.status}; only failed messages can be retried")
        with self.engine.begin() as c:
            res = c.execute(
                update(outbox_table)
                .where(t.id == msg.id, t.status == FAILED)
                .values(status=QUEUED, attempts=0, next_attempt_at=self.clock(), last_error=None)
            )
            if res.rowcount != 1:
                raise ConflictError(f"message {msg.id} changed while retrying it; look again")
        return self.get(msg.id)

    def get(self, message_id: str) -> SentMessage:
        """One message by id (or a unique prefix of at least 6 characters, as lists show)."""
        t = outbox_table.c
        with self.engine.connect() as c:
            row = c.execute(select(outbox_table).where(t.id == message_id)).mappings().first()
            if row is None and len(message_id) >= 6:
                rows = c.execute(select(outbox_table).where(t.id.startswith(message_id)).limit(2)).mappings().all()
                if len(rows) > 1:
                    raise InvalidRequest(f"{message_id!r} matches several messages; give more of the id")
                row = rows[0] if rows else None
        if row is None:
            raise RecordNotFound(f"no outbox message {message_id!r}; `chamberlain outbox list` shows the ids")
        return _row(row)

    def by_key(self, key: str) -> SentMessage | None:
        with self.engine.connect() as c:
            row = c.execute(select(outbox_table).where(outbox_table.c.idempotency_key == key)).mappings().first()
        return _row(row) if row is not None else None

    def list(
        self, *, status: str | None = None, kinds: Sequence[str] | None = None, limit: int | None = None
    ) -> builtins.list[SentMessage]:
        """Messages, newest first (``status="failed"`` is the dead-letter view)."""
        t = outbox_table.c
        q = select(outbox_table).order_by(t.seq.desc())
        if status is not None:
            if status not in STATUSES:
                raise InvalidRequest(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
            q = q.where(t.status == status)
        if kinds:
            q = q.where(t.kind.in_(list(kinds)))
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as c:
            return [_row(r) for r in c.execute(q).mappings().all()]

    def counts(self) -> dict[str, int]:
        t = outbox_table.c
        with self.engine.connect() as c:
            rows = c.execute(select(t.status, func.count()).group_by(t.status)).all()
        return {s: 0 for s in STATUSES} | {str(s): int(n) for s, n in rows}

    def messages(self, recipient: str | None = None) -> builtins.list[SentMessage]:
        q = select(outbox_table).order_by(outbox_table.c.seq)
        if recipient is not None:
            q = q.where(outbox_table.c.recipient == recipient)
        try:
            with self.engine.connect() as c:
                rows = c.execute(q).mappings().all()
        except OperationalError as exc:
            raise ConnectorUnavailable(f"the outbox is unavailable: {exc}") from exc
        return [_row(r) for r in rows]

    # Kept for callers of the first version.
    _by_key = by_key


def _add_missing_columns(engine: Engine) -> None:
    """Widen an ``outbox`` table made before the delivery worker (create_all never alters)."""
    have = {c["name"] for c in inspect(engine).get_columns("outbox")}
    missing = [c for c in outbox_table.columns if c.name not in have]
    if not missing:
        return
    with engine.begin() as c:
        for col in missing:
            ddl = col.type.compile(dialect=engine.dialect)
            default = f" DEFAULT {col.server_default.arg!r}" if col.server_default is not None else ""  # type: ignore[attr-defined]
            not_null = " NOT NULL" if not col.nullable and default else ""
            c.execute(text(f'ALTER TABLE outbox ADD COLUMN "{col.name}" {ddl}{default}{not_null}'))


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite returns naive datetimes
        return value.replace(tzinfo=UTC)
    return value


def _row(r: object) -> SentMessage:
    m = dict(r)  # type: ignore[call-overload]
    sent_at = _aware(m["sent_at"])
    assert sent_at is not None
    return SentMessage(
        m["id"],
        m["recipient"],
        m["text"],
        m["idempotency_key"],
        sent_at,
        kind=m.get("kind") or "message",
        channel=m.get("channel") or "slack",
        status=m.get("status") or QUEUED,
        attempts=int(m.get("attempts") or 0),
        next_attempt_at=_aware(m.get("next_attempt_at")),
        lease_owner=m.get("lease_owner"),
        lease_expires_at=_aware(m.get("lease_expires_at")),
        last_error=m.get("last_error"),
        delivered_at=_aware(m.get("delivered_at")),
        delivery_ref=m.get("delivery_ref"),
        requester_id=m.get("requester_id"),
        thread_id=m.get("thread_id"),
        thread_ts=m.get("thread_ts"),
        subject=m.get("subject"),
        parent_id=m.get("parent_id"),
        payload=json.loads(m["payload_json"]) if m.get("payload_json") else {},
    )


__all__ = [
    "CHANNELS",
    "FAILED",
    "KINDS",
    "MAX_TEXT_CHARS",
    "QUEUED",
    "SENDING",
    "SENT",
    "STATUSES",
    "NewMessage",
    "Outbox",
    "RecordingOutbox",
    "SentMessage",
    "SqlOutbox",
    "channel_for",
    "outbox_table",
]
