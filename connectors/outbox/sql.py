""":class:`SqlOutbox`: the ``outbox`` table of the app database and the delivery worker's queue operations."""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
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
from connectors.outbox.model import (
    CHANNELS,
    FAILED,
    KINDS,
    QUEUED,
    SENDING,
    SENT,
    STATUSES,
    FollowUps,
    NewMessage,
    SentMessage,
    _metadata,
    _same_or_conflict,
    _validate,
    channel_for,
    now_utc,
    outbox_table,
)


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
