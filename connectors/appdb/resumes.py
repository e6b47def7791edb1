"""Conversations waiting to be resumed after a decision: a durable "resume pending" per thread.

A decision can be recorded by a process that has no conversation graph (``chamberlain approvals
approve`` runs the write without LangGraph, to answer in under a second). The requester's thread
still has to continue: the decision records a row here, and whichever process resumes it first
claims the row under a lease (the detached ``chamberlain resume --queued`` the CLI starts, a
server's sweeper, the next ``ask`` on that thread, ``recover``). Two processes never resume the
same thread at once (LangGraph would run the interrupted node twice); a resumer that dies
leaves its claim to lapse, and the next one picks the thread up.

``generation`` counts requests: a decision that lands while the thread is being resumed bumps
it, so the resumer's :meth:`ResumeQueue.done` keeps the row and the thread is resumed again.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from connectors.appdb._engine import create_tables
from connectors.appdb.approvals import now_utc

_metadata = MetaData()
pending_resumes = Table(
    "pending_resumes",
    _metadata,
    Column("thread_id", String(200), primary_key=True),
    Column("generation", Integer, nullable=False, default=1),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("claimed_by", String(64)),
    Column("claimed_generation", Integer),
    Column("claimed_until", DateTime(timezone=True)),
)

#: How long a resumer may hold a thread before another process may take it over (a resume can
#: call the model several times; a crashed resumer's threads wait this long).
DEFAULT_LEASE = timedelta(minutes=10)


class ResumeQueue:
    """Threads whose conversation must continue; claim one before resuming it."""

    def __init__(self, engine: Engine, *, lease: timedelta = DEFAULT_LEASE) -> None:
        self.engine = engine
        self.lease = lease
        self.owner = uuid.uuid4().hex[:16]  # this process's claims
        create_tables(engine, _metadata)

    def request(self, thread_id: str) -> None:
        """Record that ``thread_id`` must be resumed (idempotent; bumps the generation)."""
        now = now_utc()
        try:
            with self.engine.begin() as c:
                c.execute(pending_resumes.insert().values(thread_id=thread_id, generation=1, requested_at=now))
        except IntegrityError:
            with self.engine.begin() as c:
                c.execute(
                    update(pending_resumes)
                    .where(pending_resumes.c.thread_id == thread_id)
                    .values(generation=pending_resumes.c.generation + 1, requested_at=now)
                )

    def claim(self, thread_id: str) -> bool:
        """Take ``thread_id`` for this process (compare-and-set): False when nothing is pending
        or another live resumer holds it."""
        now = now_utc()
        t = pending_resumes.c
        with self.engine.begin() as c:
            gen = c.execute(select(t.generation).where(t.thread_id == thread_id)).scalar_one_or_none()
            if gen is None:
                return False
            res = c.execute(
                update(pending_resumes)
                .where(
                    and_(
                        t.thread_id == thread_id,
                        or_(t.claimed_until.is_(None), t.claimed_until < now),
                    )
                )
                .values(claimed_by=self.owner, claimed_generation=gen, claimed_until=now + self.lease)
            )
            return res.rowcount == 1

    def done(self, thread_id: str) -> None:
        """The claimed resume ran: drop the row, unless a newer request arrived meanwhile (then
        release it, so it is resumed again)."""
        t = pending_resumes.c
        with self.engine.begin() as c:
            gone = c.execute(
                delete(pending_resumes).where(
                    and_(t.thread_id == thread_id, t.claimed_by == self.owner, t.claimed_generation == t.generation)
                )
            )
            if gone.rowcount == 0:
                self.release(thread_id, conn=c)

    def release(self, thread_id: str, *, conn: Connection | None = None) -> None:
        """Give up a claim without resuming (an error): the thread stays pending for others."""
        t = pending_resumes.c
        stmt = (
            update(pending_resumes)
            .where(and_(t.thread_id == thread_id, t.claimed_by == self.owner))
            .values(claimed_by=None, claimed_generation=None, claimed_until=None)
        )
        if conn is not None:
            conn.execute(stmt)
            return
        with self.engine.begin() as c:
            c.execute(stmt)

    def due(self, limit: int = 1000) -> list[str]:
        """Threads waiting for a resumer (unclaimed, or their resumer's lease lapsed), oldest first."""
        t = pending_resumes.c
        now = now_utc()
        with self.engine.connect() as c:
            rows = c.execute(
                select(t.thread_id)
                .where(or_(t.claimed_until.is_(None), t.claimed_until < now))
                .order_by(t.requested_at)
                .limit(limit)
            )
            return [r[0] for r in rows]

    def is_pending(self, thread_id: str) -> bool:
        with self.engine.connect() as c:
            found = c.execute(select(pending_resumes.c.thread_id).where(pending_resumes.c.thread_id == thread_id))
            return found.first() is not None


__all__ = ["DEFAULT_LEASE", "ResumeQueue", "pending_resumes"]
