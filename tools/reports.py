"""Periodic reports: ``schedule_report`` proposes a standing report (a write: it sends data to
people on every period, so it needs approval like any other write).

The plan checks everything that can be checked at creation, so a bad report is refused before
anyone is asked to approve it: the schedule (cron, time zone, not more often than the minimum
interval), every question's SQL through the SQL guard with the *owner's* permissions, and the
destination's audience — every person who will read the report must be allowed to read every
table and column it uses (a channel whose members cannot be listed is refused). The same checks
run again at every run (:mod:`agent.workflows.reports`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from connectors.appdb.reports import ReportStore
from connectors.errors import ConnectorUnavailable
from connectors.warehouse import Warehouse
from policies.data_access import DataAccessPolicy, warehouse_allow_list
from policies.directory import Directory, Principal
from policies.schedules import DEFAULT_MIN_INTERVAL, ScheduleError, validate
from policies.sql_guard import SqlGuard
from tools.base import Effect, Tool, ToolArgs, ToolContext, ToolResult, WritePlan, tool
from tools.errors import ToolFailure, ToolInputError

FAMILY = "reports"

# Who reads a destination: directory ids, or None when that cannot be known (then refused).
ChannelMembers = Callable[[str], Sequence[str] | None]


class ReportQuestion(ToolArgs):
    title: str = Field(min_length=1, max_length=200, description="What this part answers, e.g. 'Revenue by region'.")
    sql: str = Field(
        min_length=1, max_length=20_000, description="One read-only SELECT over the warehouse (as for run_query)."
    )


class ScheduleReportArgs(ToolArgs):
    name: str = Field(min_length=1, max_length=120, description="Short name, e.g. 'Weekly pipeline by region'.")
    cron: str = Field(
        max_length=100,
        description="When to run, five cron fields: minute hour day-of-month month day-of-week ('0 9 * * MON').",
    )
    timezone: str = Field(default="UTC", max_length=64, description="IANA time zone of the cron, e.g. Europe/Berlin.")
    questions: list[ReportQuestion] = Field(min_length=1, max_length=5, description="The queries the report runs.")
    destination: str = Field(
        min_length=1,
        max_length=200,
        description="Where it goes: a Slack channel ('#sales'), a person's directory id ('u_alice') or an email.",
    )
    format: Literal["table", "chart", "table+chart"] = Field(default="table", description="How results are shown.")
    catch_up: bool = Field(default=True, description="After downtime, run the latest missed period once (or skip).")


class ScheduledReport(ToolResult):
    report_id: str = Field(description="The new report's id")
    name: str
    next_run: str = Field(description="When it first runs (UTC)")


@dataclass(frozen=True)
class Audience:
    """Who will read a report at ``destination``, as directory principals."""

    destination: str
    readers: tuple[Principal, ...]


def resolve_audience(
    destination: str, owner: Principal, directory: Directory, channel_members: ChannelMembers | None
) -> Audience:
    d = destination.strip()
    if "@" in d and not d.startswith("<@"):
        person = directory.by_email(d)
        if person is None:
            raise ToolInputError(f"{d} is not in the company directory; reports go only to people in it")
        return Audience(d, (person,))
    found = directory.find(d)
    if found is not None:
        return Audience(d, (found,))
    if d.startswith("#") or d[:1] in ("C", "G"):
        members = channel_members(d) if channel_members else None
        if members is None:
            raise ToolInputError(
                f"cannot tell who reads {d}, so a report cannot go there; send it to a person (directory id or email)"
            )
        readers = tuple(p for p in (directory.find(m) for m in members) if p is not None)
        if len(readers) != len(members):
            raise ToolInputError(f"{d} has members outside the company directory; a report cannot go there")
        return Audience(d, readers)
    raise ToolInputError(f"unknown destination {d!r}: use '#channel', a directory id like 'u_alice' or an email")


def check_report_access(
    questions: Sequence[Mapping[str, str]],
    readers: Sequence[Principal],
    warehouse: Warehouse,
    policy: DataAccessPolicy | None,
    max_rows: int,
) -> list[str]:
    """Problems (one line each) if any reader may not read what a question reads."""
    try:
        schema = {n: t.column_names for n, t in warehouse.tables().items()}
    except ConnectorUnavailable as exc:
        raise ToolFailure(f"the warehouse is unavailable: {exc}", retryable=True) from exc
    guard = SqlGuard(warehouse.dialect, max_rows=max_rows + 1, schema=schema)
    problems = []
    for q in questions:
        for person in readers:
            verdict = guard.check(q["sql"], warehouse_allow_list(person, policy))
            if not verdict.allowed:
                problems.append(f"{person.name} may not see '{q['title']}': {'; '.join(verdict.reasons)}")
    return problems


def report_tools(
    store: ReportStore,
    warehouse: Warehouse,
    directory: Directory,
    *,
    policy: DataAccessPolicy | None = None,
    channel_members: ChannelMembers | None = None,
    min_interval: timedelta = DEFAULT_MIN_INTERVAL,
    max_rows: int = 200,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[Tool[Any, Any]]:
    def _validated(args: ScheduleReportArgs, ctx: ToolContext) -> tuple[Audience, datetime]:
        try:
            schedule = validate(args.cron, args.timezone, min_interval=min_interval)
        except ScheduleError as exc:
            raise ToolInputError(str(exc)) from None
        questions = [q.model_dump() for q in args.questions]
        own = check_report_access(questions, [ctx.principal], warehouse, policy, max_rows)
        if own:
            raise ToolInputError("the SQL guard refuses a question: " + " | ".join(own))
        audience = resolve_audience(args.destination, ctx.principal, directory, channel_members)
        others = check_report_access(questions, audience.readers, warehouse, policy, max_rows)
        if others:
            raise ToolInputError(
                "not everyone at the destination may read this report: "
                + " | ".join(others)
                + ". Choose a destination whose readers may all read the data."
            )
        return audience, schedule.next_after(clock())

    def plan(args: ScheduleReportArgs, ctx: ToolContext) -> WritePlan:
        audience, first = _validated(args, ctx)
        readers = ", ".join(p.name for p in audience.readers)
        return WritePlan(
            target=f"report to {args.destination}",
            summary=(
                f"Send '{args.name}' to {args.destination} ({readers}) on schedule '{args.cron}' "
                f"({args.timezone}), {len(args.questions)} question(s), first run {first:%Y-%m-%d %H:%M} UTC"
            ),
            proposed={
                "schedule": f"{args.cron} ({args.timezone})",
                "destination": args.destination,
                "readers": readers,
                "questions": [q.title for q in args.questions],
                "sql": [q.sql for q in args.questions],
                "format": args.format,
            },
            facts={"destination": args.destination, "readers": [p.id for p in audience.readers]},
        )

    @tool(effect=Effect.WRITE, plan=plan, family=FAMILY, progress="scheduling the report…")
    def schedule_report(args: ScheduleReportArgs, ctx: ToolContext) -> ScheduledReport:
        """Schedule a periodic report (e.g. every Monday 9:00, revenue by region to #sales): the
        questions' SQL runs with the requester's permissions on each period and the result goes
        to the destination. Needs approval. Give the SQL you would pass to run_query."""
        _audience, first = _validated(args, ctx)  # again at execution: rights may have changed
        if not ctx.idempotency_key:
            raise ToolFailure("a report can only be created by an approved request")
        rep, _created = store.create(
            approval_id=ctx.idempotency_key,
            name=args.name,
            owner_id=ctx.principal.id,
            spec=args.model_dump(mode="json"),
            now=clock(),
        )
        return ScheduledReport(report_id=rep.id, name=rep.name, next_run=f"{first:%Y-%m-%d %H:%M}")

    return [schedule_report]


__all__ = [
    "Audience",
    "ChannelMembers",
    "ReportQuestion",
    "ScheduleReportArgs",
    "ScheduledReport",
    "check_report_access",
    "report_tools",
    "resolve_audience",
]
