"""Where every copy of an approval card was posted, so a decision can update all of them.

Kept in the app database (table ``slack_approval_cards``) rather than in memory: the worker
that handles the click is not necessarily the one that posted the card.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, UniqueConstraint, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from connectors.appdb._engine import create_tables

_metadata = MetaData()

slack_approval_cards = Table(
    "slack_approval_cards",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("approval_id", String(128), nullable=False, index=True),
    Column("channel", String(64), nullable=False),
    Column("ts", String(32), nullable=False),
    Column("approver_id", String(128), nullable=True),  # None for a shared channel card
    Column("posted_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("approval_id", "channel", "ts", name="uq_slack_card_message"),
)


@dataclass(frozen=True)
class CardRef:
    approval_id: str
    channel: str
    ts: str
    approver_id: str | None


class CardStore:
    def __init__(self, engine: Engine, *, create_table: bool = True) -> None:
        self.engine = engine
        if create_table:
            create_tables(engine, _metadata)

    def add(self, ref: CardRef) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(slack_approval_cards).values(
                        approval_id=ref.approval_id,
                        channel=ref.channel,
                        ts=ref.ts,
                        approver_id=ref.approver_id,
                        posted_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            return  # the same message recorded twice: nothing new to remember

    def cards(self, approval_id: str) -> list[CardRef]:
        t = slack_approval_cards
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.approval_id, t.c.channel, t.c.ts, t.c.approver_id)
                .where(t.c.approval_id == approval_id)
                .order_by(t.c.id)
            ).all()
        return [CardRef(r.approval_id, r.channel, r.ts, r.approver_id) for r in rows]


__all__ = ["CardRef", "CardStore", "slack_approval_cards"]
