"""Running scheduled reports: each period once, as the owner, through the same checks as a chat
turn, delivered through the outbox.

``ReportScheduler.tick()`` may run in any number of processes at once: a run is keyed by
(report, period) in the app database, so each period runs once; a run whose process died is
claimed again after its lease, and its delivery key (``report:<id>:<period>``) makes the outbox
keep a single message however often the run is retried.

For every run:

1. the owner must still be in the directory and hold the right to query the warehouse (RBAC, as
   the gate decides for ``run_query``), and every question must still pass the SQL guard with the
   owner's permissions — otherwise the report is **paused** and the owner and approver are told;
2. every reader at the destination must still be allowed to read the data (else paused);
3. the questions run through the analytics ``run_query`` tool as the owner (guard, read-only
   connection, row cap, timeout), results are rendered as a table and/or chart;
4. the narrative (from a narrator — a model, or the built-in summary) is checked: every number in
   it must come from the results (:mod:`policies.numbers`); one that does not stops the send and
   the run fails naming the number;
5. PII is redacted for the least-cleared reader; the message goes to the outbox.

A run that fails (warehouse down) is recorded with its reason, retried per the store's policy,
and the owner is told — never a silent gap.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from connectors.appdb.reports import Report, ReportRun, ReportStore
from policies.access import AccessPolicy, decide_call
from policies.data_access import DataAccessPolicy
from policies.directory import Directory, Principal
from policies.numbers import check_narrative
from policies.pii import redact_for
from policies.schedules import PERIOD_FORMAT, Schedule, due, period_key
from tools.analytics import ChartSpec, RunQueryArgs, RunQueryResult
from tools.base import Tool, ToolContext
from tools.errors import ToolError, ToolFailure, ToolInputError
from tools.reports import ChannelMembers, check_report_access, resolve_audience


class Narrator(Protocol):
    """Writes the short narrative of one run from its results (a model, or the built-in one)."""

    def __call__(self, report: Report, results: Sequence[tuple[str, RunQueryResult]]) -> str: ...


def summary_narrative(report: Report, results: Sequence[tuple[str, RunQueryResult]]) -> str:
    """The built-in narrative: for each question, its row count and its largest figure."""
    parts = []
    for title, res in results:
        nums = [
            (row[0], v) for row in res.rows for v in row[1:2] if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        if nums:
            label, top = max(nums, key=lambda x: x[1])
            parts.append(f"{title}: {res.row_count} rows; highest {label} at {_fmt(top)}.")
        else:
            parts.append(f"{title}: {res.row_count} rows.")
    return " ".join(parts)


def _fmt(v: float) -> str:
    return f"{v:,.2f}" if isinstance(v, float) and not float(v).is_integer() else f"{int(v):,}"


@dataclass(frozen=True)
class RunOutcome:
    report_id: str
    period: str
    status: str  # delivered | failed | paused | skipped
    detail: str = ""
    message_ids: tuple[str, ...] = ()


class ReportScheduler:
    def __init__(
        self,
        store: ReportStore,
        *,
        run_query: Tool[Any, Any],
        warehouse: Any,
        directory: Directory,
        access: AccessPolicy,
        outbox: Any,
        audit: Any = None,
        data_policy: DataAccessPolicy | None = None,
        channel_members: ChannelMembers | None = None,
        narrator: Narrator | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        artifacts_dir: Path | None = None,
        worker_id: str | None = None,
        lease: timedelta = timedelta(minutes=5),
        max_rows: int = 200,
    ) -> None:
        self.store = store
        self.run_query = run_query
        self.warehouse = warehouse
        self.directory = directory
        self.access = access
        self.outbox = outbox
        self.audit = audit
        self.data_policy = data_policy
        self.channel_members = channel_members
        self.narrator: Narrator = narrator or summary_narrative
        self.clock = clock
        self.artifacts_dir = artifacts_dir
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.lease = lease
        self.max_rows = max_rows

    # -- scheduling --------------------------------------------------------------------------

    def tick(self) -> list[RunOutcome]:
        """Run every period that is due now (any number of processes may tick at once)."""
        out = []
        now = self.clock()
        for rep in self.store.list(status=["active"]):
            spec = rep.spec
            schedule = Schedule(str(spec["cron"]), str(spec.get("timezone", "UTC")))
            last = datetime.strptime(rep.last_period, PERIOD_FORMAT).replace(tzinfo=UTC) if rep.last_period else None
            catch_up = bool(spec.get("catch_up", True))
            # A failed run of the latest period stays due (and is retried) until its attempts
            # are spent; a finished one moves last_period on.
            for period in due(schedule, created=rep.created_at, last_period=last, now=now, catch_up=catch_up):
                run = self.store.claim_run(rep.id, period_key(period), worker=self.worker_id, now=now, lease=self.lease)
                if run is not None:
                    out.append(self._execute(rep, run))
        return out

    def run_now(self, report_id: str) -> RunOutcome:
        """Run a report once, outside its schedule (keyed by the minute, so a double click runs once)."""
        rep = self.store.get(report_id)
        if rep.status != "active":
            return RunOutcome(rep.id, "", "skipped", f"the report is {rep.status}; resume it first")
        now = self.clock()
        key = "manual:" + period_key(now)
        run = self.store.claim_run(rep.id, key, worker=self.worker_id, now=now, lease=self.lease)
        if run is None:
            return RunOutcome(rep.id, key, "skipped", "this minute's manual run already happened")
        return self._execute(rep, run)

    # -- one run -----------------------------------------------------------------------------

    def _execute(self, rep: Report, run: ReportRun) -> RunOutcome:
        spec = rep.spec
        questions = [{"title": str(q["title"]), "sql": str(q["sql"])} for q in spec["questions"]]
        owner = self.directory.find(rep.owner_id)
        if owner is None:
            return self._pause(rep, run, f"its owner {rep.owner_id} is no longer in the directory")
        rbac = decide_call(owner, "run_query", "read", self.access)
        if rbac.kind != "allow":
            return self._pause(rep, run, f"{owner.name} may no longer query the warehouse")
        try:
            own = check_report_access(questions, [owner], self.warehouse, self.data_policy, self.max_rows)
            if own:
                return self._pause(rep, run, f"{owner.name} lost access: {' | '.join(own)}")
            audience = resolve_audience(str(spec["destination"]), owner, self.directory, self.channel_members)
            others = check_report_access(questions, audience.readers, self.warehouse, self.data_policy, self.max_rows)
            if others:
                return self._pause(rep, run, "a reader at the destination may not see it: " + " | ".join(others))
        except ToolInputError as exc:
            return self._pause(rep, run, str(exc))
        except ToolFailure as exc:
            return self._fail(rep, run, owner, str(exc))
        fmt = str(spec.get("format", "table"))
        ctx = ToolContext(
            principal=owner, thread_id=f"report:{rep.id}", artifacts_dir=self.artifacts_dir, extras={"turn_id": run.id}
        )
        results: list[tuple[str, RunQueryResult]] = []
        for q in questions:
            args = RunQueryArgs(
                sql=q["sql"], title=q["title"], chart=ChartSpec(title=q["title"]) if "chart" in fmt else None
            )
            try:
                results.append((q["title"], self.run_query.fn(args, ctx)))
            except ToolInputError as exc:
                return self._pause(rep, run, f"'{q['title']}' is now refused: {exc}")
            except ToolError as exc:
                return self._fail(rep, run, owner, f"'{q['title']}' failed: {exc}")
        narrative = self.narrator(rep, results).strip()
        check = check_narrative(
            narrative,
            [([c.name for c in r.columns], r.rows) for _t, r in results],
            approved_text=[rep.name, *(q["title"] for q in questions)],
        )
        if not check.ok:
            return self._fail(rep, run, owner, check.message, final=True)
        clearance = min((p.clearance for p in audience.readers), default=owner.clearance)
        text = redact_for(clearance, self._render(rep, run, results, narrative, fmt))
        recipient = self._recipient(str(spec["destination"]))
        msg = self.outbox.send(recipient, text, idempotency_key=f"report:{rep.id}:{run.period}")
        ids = (msg.id,)
        self.store.finish_run(run.id, worker=self.worker_id, status="delivered", now=self.clock(), message_ids=ids)
        self._audit("report_delivered", rep, run, {"message_id": msg.id, "to": recipient})
        return RunOutcome(rep.id, run.period, "delivered", f"queued for {recipient}", ids)

    def _recipient(self, destination: str) -> str:
        person = self.directory.find(destination)
        return person.email if person is not None else destination

    def _render(
        self, rep: Report, run: ReportRun, results: Sequence[tuple[str, RunQueryResult]], narrative: str, fmt: str
    ) -> str:
        when = run.period.removeprefix("manual:").replace("T", " ").replace("Z", " UTC")
        label = f"run of {when} (on request)" if run.period.startswith("manual:") else f"period of {when}"
        lines = [f"*{rep.name}* — {label}", narrative, ""]
        for title, res in results:
            lines.append(f"*{title}*")
            if "table" in fmt or not res.chart_path:
                lines += ["```", res.table, "```"]
            if "chart" in fmt and res.chart_path:
                lines.append(f"chart: {res.chart_path}")
        lines.append(f"_Scheduled report {rep.id}; computed from the warehouse with {rep.owner_id}'s permissions._")
        return "\n".join(lines)

    def _pause(self, rep: Report, run: ReportRun, why: str) -> RunOutcome:
        self.store.set_status(rep.id, "paused", why)
        self.store.finish_run(run.id, worker=self.worker_id, status="paused", now=self.clock(), detail=why)
        notice = f"Your scheduled report '{rep.name}' ({rep.id}) is paused: {why}. Nothing was sent."
        ids = self._notify(rep, run, notice, "paused")
        self._audit("report_paused", rep, run, {"reason": why})
        return RunOutcome(rep.id, run.period, "paused", why, ids)

    def _fail(self, rep: Report, run: ReportRun, owner: Principal, why: str, *, final: bool = False) -> RunOutcome:
        # A result that must not be sent (e.g. an invented number) is not retried.
        self.store.finish_run(
            run.id, worker=self.worker_id, status="failed", now=self.clock(), detail=why, retry=not final
        )
        notice = f"Your scheduled report '{rep.name}' ({rep.id}) did not run for {run.period}: {why}."
        ids = self._notify(rep, run, notice, "failed", only_owner=True)
        self._audit("report_failed", rep, run, {"reason": why})
        return RunOutcome(rep.id, run.period, "failed", why, ids)

    def _notify(
        self, rep: Report, run: ReportRun, text: str, what: str, *, only_owner: bool = False
    ) -> tuple[str, ...]:
        people = [rep.owner_id]
        if not only_owner:
            owner = self.directory.find(rep.owner_id)
            if owner is not None and owner.manager:
                people.append(owner.manager)  # the route's approver of the owner's writes
        ids = []
        for pid in dict.fromkeys(people):
            person = self.directory.find(pid)
            if person is None:
                continue
            msg = self.outbox.send(
                person.email, text, idempotency_key=f"report:{rep.id}:{run.period}:{what}:{pid}:{run.attempts}"
            )
            ids.append(msg.id)
        return tuple(ids)

    def _audit(self, event: str, rep: Report, run: ReportRun, data: dict[str, Any]) -> None:
        if self.audit is not None:
            self.audit.append(event, actor="system", data={"report": rep.id, "period": run.period, **data})


def load_narrator(spec: str) -> Narrator:
    """A narrator named ``module:function`` (e.g. a model-backed one); its numbers are checked."""
    import importlib

    module, _, name = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(
            f"CHAMBERLAIN_REPORT_NARRATOR={spec!r} cannot be loaded ({exc}); use module:function"
        ) from None
    return fn


__all__ = ["Narrator", "ReportScheduler", "RunOutcome", "load_narrator", "summary_narrative"]
