"""Batches: the writes one turn proposed together, shown to approvers as one card.

A batch is a grouping only. Each of its items is still its own approval in
``connectors.appdb.approvals`` (own route, own vote rows, own claim and idempotency key), so
"approve all" is a series of ordinary per-item decisions and nothing can execute twice.

Membership is keyed by the proposals' dedupe keys and written *before* the approvals exist:
a card rendered while the turn is still proposing (the outbox worker may run at once) already
knows its batch, and a gate that re-runs after a crash writes the same rows again (no-op).
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError

from connectors.appdb._schema import approvals

_md = MetaData()

approval_batches = Table(
    "approval_batches",
    _md,
    Column("dedupe_key", String(300), primary_key=True),  # an item belongs to one batch at most
    Column("batch_id", String(40), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("thread_id", String(300)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

_ready: weakref.WeakSet[Engine] = weakref.WeakSet()


def batch_id_for(thread_id: str, call_ids: Sequence[str]) -> str:
    """The same calls of the same turn always make the same batch id (a re-run gate included)."""
    digest = hashlib.sha256(f"{thread_id}|{','.join(call_ids)}".encode()).hexdigest()
    return "bat_" + digest[:20]


class BatchStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        if engine not in _ready:
            from connectors.appdb._engine import create_tables  # N processes may start at once

            create_tables(engine, _md)
            _ready.add(engine)

    def group(self, batch_id: str, dedupe_keys: Sequence[str], *, thread_id: str | None = None) -> None:
        """Record ``dedupe_keys`` (in order) as one batch; rows already there are kept."""
        now = datetime.now(UTC)
        for position, key in enumerate(dedupe_keys):
            try:
                with self.engine.begin() as c:
                    c.execute(
                        approval_batches.insert().values(
                            dedupe_key=key, batch_id=batch_id, position=position, thread_id=thread_id, created_at=now
                        )
                    )
            except IntegrityError:
                continue  # recorded by an earlier run of the same gate

    def batch_of(self, dedupe_key: str) -> str | None:
        with self.engine.connect() as c:
            return c.execute(
                select(approval_batches.c.batch_id).where(approval_batches.c.dedupe_key == dedupe_key)
            ).scalar()

    def items(self, batch_id: str) -> list[str]:
        """The batch's approval ids, in the order the model proposed them (only those that were
        filed: a call the gate denied never became an approval)."""
        b = approval_batches.c
        with self.engine.connect() as c:
            rows = c.execute(
                select(approvals.c.id)
                .select_from(approval_batches.join(approvals, approvals.c.dedupe_key == b.dedupe_key))
                .where(b.batch_id == batch_id)
                .order_by(b.position)
            ).all()
        return [r[0] for r in rows]


__all__ = ["BatchStore", "approval_batches", "batch_id_for"]
