"""Tables of business requests' follow-ups (app database): what an approved expense, purchase,
time off, access or discount request wrote, and the SLA sweep's reminder locks.

Each follow-up row is unique per approval: a retried follow-up finds the row it wrote before
instead of writing a second one. The workflow layer (``agent/workflows/service.py``) decides what to
write; this module owns the schema and the queries.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from connectors.appdb._engine import create_tables

# --------------------------------------------------------------------------------------------
# Follow-up tables (app database). Each row is unique per approval: a retried follow-up finds
# the row it wrote before instead of writing a second one.

workflow_metadata = MetaData()


def _now_col() -> Column[Any]:
    return Column("created_at", DateTime(timezone=True), nullable=False)


ledger_entries = Table(
    "ledger_entries",
    workflow_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("approval_id", String(40), nullable=False, unique=True),
    Column("employee_id", String(100), nullable=False),
    Column("amount", String(32), nullable=False),  # Decimal as text: exact on every backend
    Column("currency", String(3), nullable=False),
    Column("amount_usd", String(32)),
    Column("category", String(40), nullable=False),
    Column("spent_on", Date, nullable=False),
    Column("description", Text, nullable=False),
    Column("merchant", String(500)),
    Column("has_receipt", Integer, nullable=False),
    _now_col(),
)

purchase_orders = Table(
    "purchase_orders",
    workflow_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("approval_id", String(40), nullable=False, unique=True),
    Column("requester_id", String(100), nullable=False),
    Column("item", String(500), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total", String(32), nullable=False),
    Column("category", String(40), nullable=False),
    Column("vendor", String(500)),
    Column("needed_by", Date),
    Column("status", String(20), nullable=False),
    _now_col(),
)

time_off = Table(
    "time_off",
    workflow_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("approval_id", String(40), nullable=False, unique=True),
    Column("employee_id", String(100), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("type", String(20), nullable=False),
    Column("business_days", Integer, nullable=False),
    _now_col(),
)

access_grants = Table(
    "access_grants",
    workflow_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("approval_id", String(40), nullable=False, unique=True),
    Column("principal_id", String(100), nullable=False),
    Column("system", String(40), nullable=False),
    Column("access_level", String(10), nullable=False),
    Column("expires_on", Date),
    _now_col(),
)

# The amounts a discount was computed from, fixed before the CRM is touched, so a retried
# follow-up writes the same amount instead of discounting twice.
discount_applications = Table(
    "discount_applications",
    workflow_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("approval_id", String(40), nullable=False, unique=True),
    Column("deal_id", String(64), nullable=False),
    Column("discount_percent", String(16), nullable=False),
    Column("amount_before", String(32), nullable=False),
    Column("amount_after", String(32), nullable=False),
    _now_col(),
)

# One reminder per stage wait: (request, stage, when the stage started) is unique, so
# concurrent ticks never remind twice.
request_reminders = Table(
    "request_reminders",
    workflow_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("approval_id", String(40), nullable=False),
    Column("stage", Integer, nullable=False),
    Column("stage_started_at", String(40), nullable=False),
    _now_col(),
    UniqueConstraint("approval_id", "stage", "stage_started_at", name="uq_request_reminder"),
)

FOLLOW_UP_TABLES: Mapping[str, Table] = {
    "expense": ledger_entries,
    "purchase": purchase_orders,
    "time_off": time_off,
    "access": access_grants,
    "discount": discount_applications,
}


def ensure_tables(engine: Engine) -> None:
    """Create the follow-up tables if they do not exist (idempotent; N processes may start at once)."""
    create_tables(engine, workflow_metadata)


class FollowUpStore:
    """The rows business requests' follow-ups write, and the reminder locks of the SLA sweep."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        ensure_tables(engine)

    def insert_once(self, table: Table, approval_id: str, **values: Any) -> dict[str, Any]:
        """Insert the follow-up row for ``approval_id``, or return the one written before."""
        with contextlib.suppress(IntegrityError), self.engine.begin() as c:
            c.execute(insert(table).values(approval_id=approval_id, **values))
        with self.engine.connect() as c:
            row = c.execute(select(table).where(table.c.approval_id == approval_id)).mappings().one()
            return dict(row)

    def rows(self, kind: str, approval_id: str | None = None) -> list[dict[str, Any]]:
        """Rows a kind's follow-up wrote (all, or one request's)."""
        table = FOLLOW_UP_TABLES[kind]
        q = select(table).order_by(table.c.id)
        if approval_id is not None:
            q = q.where(table.c.approval_id == approval_id)
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(q).mappings()]

    def claim_reminder(self, approval_id: str, stage: int, stage_started_at: dt.datetime, at: dt.datetime) -> bool:
        """Take the one reminder of this stage wait; ``False`` when another sweep took it first.
        The unique row is the lock: exactly one sweep reminds for this stage wait."""
        try:
            with self.engine.begin() as c:
                c.execute(
                    insert(request_reminders).values(
                        approval_id=approval_id,
                        stage=stage,
                        stage_started_at=stage_started_at.isoformat(),
                        created_at=at,
                    )
                )
        except IntegrityError:
            return False
        return True


__all__ = [
    "FOLLOW_UP_TABLES",
    "FollowUpStore",
    "access_grants",
    "discount_applications",
    "ensure_tables",
    "ledger_entries",
    "purchase_orders",
    "request_reminders",
    "time_off",
    "workflow_metadata",
]
