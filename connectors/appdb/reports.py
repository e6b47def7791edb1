"""Scheduled reports and their runs, in the app database (SQLite or PostgreSQL).

- ``reports``: one row per approved ``schedule_report`` (unique on the approval, so a retried
  execution creates one report), its spec, owner, status (active / paused / deleted).
- ``report_runs``: one row per (report, period), unique — whichever scheduler inserts it owns
  the run; a run whose worker died (lease expired) is claimed again; a failed run is retried
  after a backoff until its attempts are spent. Delivery keys derive from the run, so a retried
  run never delivers twice (the outbox is unique on its idempotency key).
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from connectors.appdb._engine import create_tables
from connectors.errors import RecordNotFound

_md = MetaData()

reports_table = Table(
    "reports",
    _md,
    Column("id", String(40), primary_key=True),
    Column("approval_id", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("owner_id", String(100), nullable=False),
    Column("spec_json", Text, nullable=False),
    Column("status", String(20), nullable=False),  # active | paused | deleted
    Column("status_reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_period", String(40)),  # key of the latest period that is done with
)

runs_table = Table(
    "report_runs",
    _md,
    Column("id", String(40), primary_key=True),
    Column("report_id", String(40), nullable=False),
    Column("period", String(40), nullable=False),
    Column("status", String(20), nullable=False),  # running | delivered | failed | paused
    Column("attempts", Integer, nullable=False),
    Column("lease_owner", String(100)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("detail", Text),
    Column("message_ids", Text),
    UniqueConstraint("report_id", "period", name="uq_report_period"),
)

STATUSES = ("active", "paused", "deleted")


@dataclass(frozen=True)
class Report:
    id: str
    approval_id: str
    name: str
    owner_id: str
    spec: Mapping[str, Any]
    status: str
    status_reason: str | None
    created_at: datetime
    last_period: str | None


@dataclass(frozen=True)
class ReportRun:
    id: str
    report_id: str
    period: str
    status: str
    attempts: int
    started_at: datetime
    finished_at: datetime | None = None
    detail: str | None = None
    message_ids: tuple[str, ...] = field(default_factory=tuple)
    lease_owner: str | None = None


def _aware(v: datetime | None) -> datetime | None:
    return v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v


def _report(r: Any) -> Report:
    return Report(
        r.id,
        r.approval_id,
        r.name,
        r.owner_id,
        json.loads(r.spec_json),
        r.status,
        r.status_reason,
        _aware(r.created_at) or datetime.now(UTC),
        r.last_period,
    )


def _run(r: Any) -> ReportRun:
    return ReportRun(
        r.id,
        r.report_id,
        r.period,
        r.status,
        r.attempts,
        _aware(r.started_at) or datetime.now(UTC),
        _aware(r.finished_at),
        r.detail,
        tuple(json.loads(r.message_ids or "[]")),
        r.lease_owner,
    )


class ReportStore:
    def __init__(self, engine: Engine, *, max_attempts: int = 3, retry_after: timedelta = timedelta(minutes=5)) -> None:
        self.engine = engine
        self.max_attempts = max_attempts
        self.retry_after = retry_after
        create_tables(engine, _md)  # N replicas starting at once on one PostgreSQL must not race

    # -- reports ---------------------------------------------------------------------------

    def create(
        self, *, approval_id: str, name: str, owner_id: str, spec: Mapping[str, Any], now: datetime
    ) -> tuple[Report, bool]:
        """The report of this approval (created once; a retried execution gets the same one)."""
        rid = "rpt_" + uuid.uuid4().hex[:12]
        try:
            with self.engine.begin() as c:
                c.execute(
                    insert(reports_table).values(
                        id=rid,
                        approval_id=approval_id,
                        name=name,
                        owner_id=owner_id,
                        spec_json=json.dumps(dict(spec), sort_keys=True),
                        status="active",
                        created_at=now,
                    )
                )
            return self.get(rid), True
        except IntegrityError:
            with self.engine.connect() as c:
                row = c.execute(select(reports_table).where(reports_table.c.approval_id == approval_id)).first()
            if row is None:  # pragma: no cover - a clash on the random id
                raise
            return _report(row), False

    def get(self, report_id: str) -> Report:
        with self.engine.connect() as c:
            row = c.execute(select(reports_table).where(reports_table.c.id == report_id)).first()
        if row is None:
            raise RecordNotFound(f"no report {report_id!r}; `chamberlain reports list` shows them")
        return _report(row)

    def find(self, prefix: str) -> Report:
        """A report by id or unique id prefix."""
        with self.engine.connect() as c:
            rows = c.execute(select(reports_table).where(reports_table.c.id.startswith(prefix)).limit(2)).all()
        if not rows:
            raise RecordNotFound(f"no report {prefix!r}; `chamberlain reports list` shows them")
        if len(rows) > 1:
            raise RecordNotFound(f"{prefix!r} matches several reports; give more of the id")
        return _report(rows[0])

    def list(self, *, owner_id: str | None = None, status: Sequence[str] | None = None) -> list[Report]:
        q = select(reports_table).order_by(reports_table.c.created_at)
        if owner_id:
            q = q.where(reports_table.c.owner_id == owner_id)
        if status:
            q = q.where(reports_table.c.status.in_(list(status)))
        with self.engine.connect() as c:
            return [_report(r) for r in c.execute(q)]

    def set_status(self, report_id: str, status: str, reason: str | None = None) -> Report:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        with self.engine.begin() as c:
            n = c.execute(
                update(reports_table)
                .where(reports_table.c.id == report_id, reports_table.c.status != "deleted")
                .values(status=status, status_reason=reason)
            ).rowcount
        rep = self.get(report_id)
        if not n and rep.status == "deleted":
            raise RecordNotFound(f"report {report_id} was deleted")
        return rep

    # -- runs ------------------------------------------------------------------------------

    def claim_run(
        self, report_id: str, period: str, *, worker: str, now: datetime, lease: timedelta
    ) -> ReportRun | None:
        """Own the run of (report, period), or None when another scheduler has or had it.

        A new period is claimed by inserting its row (unique); a row whose worker's lease ran
        out, or that failed and may be retried now, is claimed with a conditional update."""
        rid = "run_" + uuid.uuid4().hex[:12]
        try:
            with self.engine.begin() as c:
                c.execute(
                    insert(runs_table).values(
                        id=rid,
                        report_id=report_id,
                        period=period,
                        status="running",
                        attempts=1,
                        lease_owner=worker,
                        lease_expires_at=now + lease,
                        started_at=now,
                    )
                )
            return self._get_run(rid)
        except IntegrityError:
            pass
        t = runs_table.c
        with self.engine.begin() as c:
            n = c.execute(
                update(runs_table)
                .where(
                    t.report_id == report_id,
                    t.period == period,
                    or_(
                        and_(t.status == "running", t.lease_expires_at < now),
                        and_(t.status == "failed", t.attempts < self.max_attempts, t.next_attempt_at <= now),
                    ),
                )
                .values(
                    status="running",
                    attempts=t.attempts + 1,
                    lease_owner=worker,
                    lease_expires_at=now + lease,
                    started_at=now,
                )
            ).rowcount
            if not n:
                return None
            row = c.execute(select(runs_table).where(t.report_id == report_id, t.period == period)).one()
        return _run(row)

    def finish_run(
        self,
        run_id: str,
        *,
        worker: str,
        status: str,
        now: datetime,
        detail: str | None = None,
        message_ids: Sequence[str] = (),
        retry: bool = True,
    ) -> bool:
        """Record the outcome, if this worker still holds the run; a delivered (or finally
        failed / paused) run moves the report past its period. ``retry=False``: a failure that
        a retry cannot fix (e.g. a narrative with an invented number)."""
        t = runs_table.c
        final = status != "failed" or not retry or self._attempts(run_id) >= self.max_attempts
        with self.engine.begin() as c:
            n = c.execute(
                update(runs_table)
                .where(t.id == run_id, t.lease_owner == worker, t.status == "running")
                .values(
                    status=status,
                    finished_at=now,
                    detail=detail,
                    message_ids=json.dumps(list(message_ids)),
                    lease_owner=None,
                    lease_expires_at=None,
                    next_attempt_at=None if final else now + self.retry_after,
                    **({} if retry else {"attempts": self.max_attempts}),
                )
            ).rowcount
            if n and final:
                run = c.execute(select(runs_table).where(t.id == run_id)).one()
                if not run.period.startswith("manual:"):  # run-now does not move the schedule
                    c.execute(
                        update(reports_table).where(reports_table.c.id == run.report_id).values(last_period=run.period)
                    )
        return bool(n)

    def _attempts(self, run_id: str) -> int:
        return self._get_run(run_id).attempts

    def _get_run(self, run_id: str) -> ReportRun:
        with self.engine.connect() as c:
            row = c.execute(select(runs_table).where(runs_table.c.id == run_id)).first()
        if row is None:
            raise RecordNotFound(f"no report run {run_id!r}")
        return _run(row)

    def runs(self, report_id: str, limit: int = 50) -> builtins.list[ReportRun]:
        with self.engine.connect() as c:
            rows = c.execute(
                select(runs_table)
                .where(runs_table.c.report_id == report_id)
                .order_by(runs_table.c.period.desc())
                .limit(limit)
            )
            return [_run(r) for r in rows]


__all__ = ["Report", "ReportRun", "ReportStore"]
