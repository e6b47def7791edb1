"""``chamberlain reports``: scheduled reports — list, show (with run history), pause, resume,
delete, run now, and ``tick`` (run what is due; servers do this in the background)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table

app = typer.Typer(help="Scheduled reports: list, show, pause, resume, delete, run-now, tick.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="CHAMBERLAIN_DATA_DIR", help="Where all state lives (default ./.chamberlain)."),
]
IdArg = Annotated[str, typer.Argument(help="Report id (or a unique prefix), as `reports list` prints it.")]


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


@contextlib.contextmanager
def _scheduler(data_dir: Path | None, now: datetime | None = None) -> Iterator[Any]:
    from agent.interfaces.cli.support import load_settings
    from agent.runtime.services import open_report_scheduler

    settings = load_settings(data_dir)  # a wrong --data-dir is an error, not empty state
    with open_report_scheduler(settings, clock=(lambda: now) if now else None) as sched:
        yield sched


def _store(data_dir: Path | None) -> Any:
    from agent.interfaces.cli.support import load_settings
    from agent.service.stores import connect_service

    settings = load_settings(data_dir)  # a wrong --data-dir is an error, not empty state
    return connect_service(settings).reports


def _find(store: Any, report_id: str) -> Any:
    from agent.errors import RecordNotFound

    try:
        return store.find(report_id)
    except RecordNotFound as exc:
        _fail(str(exc))


@app.command("list")
def list_(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this owner's reports.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Every report with its schedule, destination, status and last period."""
    store = _store(data_dir)
    reports = store.list(owner_id=user, status=["active", "paused"])
    if not reports:
        console.print("No scheduled reports. Ask for one in chat, e.g. 'every Monday 9:00 send me revenue by region'.")
        return
    t = Table("name", "owner", "schedule", "destination", "status", "last period", title="Scheduled reports")
    t.columns.insert(0, Column("id", no_wrap=True))
    for r in reports:
        t.add_row(
            r.id,
            r.name,
            r.owner_id,
            f"{r.spec['cron']} {r.spec.get('timezone', 'UTC')}",
            str(r.spec["destination"]),
            r.status + (f" ({r.status_reason})" if r.status_reason else ""),
            r.last_period or "–",
        )
    console.print(t)


@app.command()
def show(report_id: IdArg, data_dir: DataDir = None) -> None:
    """One report: its questions, and the history of its runs with their outcome."""
    store = _store(data_dir)
    r = _find(store, report_id)
    console.print(
        f"[bold]{r.name}[/bold] ({r.id}) — owner {r.owner_id}, {r.status}"
        + (f": {r.status_reason}" if r.status_reason else "")
    )
    console.print(
        f"schedule: {r.spec['cron']} ({r.spec.get('timezone', 'UTC')}); to {r.spec['destination']}; "
        f"format {r.spec.get('format', 'table')}; catch up after downtime: {r.spec.get('catch_up', True)}"
    )
    for q in r.spec["questions"]:
        console.print(f"  • {q['title']}: [dim]{q['sql']}[/dim]")
    runs = store.runs(r.id)
    t = Table("period", "status", "attempts", "finished", "detail", "messages", title="Runs (newest first)")
    for run in runs:
        t.add_row(
            run.period,
            run.status,
            str(run.attempts),
            f"{run.finished_at:%Y-%m-%d %H:%M}" if run.finished_at else "–",
            run.detail or "",
            ", ".join(run.message_ids),
        )
    console.print(t if runs else "[dim]no runs yet[/dim]")


def _set(report_id: str, status: str, data_dir: Path | None, reason: str | None) -> None:
    from agent.errors import RecordNotFound

    store = _store(data_dir)
    r = _find(store, report_id)
    try:
        r = store.set_status(r.id, status, reason)
    except RecordNotFound as exc:
        _fail(str(exc))
    console.print(f"{r.id} is now {r.status}.")


@app.command()
def pause(report_id: IdArg, data_dir: DataDir = None) -> None:
    """Stop running a report until it is resumed."""
    _set(report_id, "paused", data_dir, "paused by an operator")


@app.command()
def resume(report_id: IdArg, data_dir: DataDir = None) -> None:
    """Run a paused report again from its next period (access is checked again at every run)."""
    _set(report_id, "active", data_dir, None)


@app.command()
def delete(report_id: IdArg, data_dir: DataDir = None) -> None:
    """Stop a report for good (its run history is kept)."""
    _set(report_id, "deleted", data_dir, "deleted")


def _print_outcomes(outcomes: list[Any]) -> None:
    if not outcomes:
        console.print("Nothing was due.")
    for o in outcomes:
        colour = {"delivered": "green", "failed": "red", "paused": "yellow"}.get(o.status, "dim")
        console.print(f"[{colour}]{o.report_id} {o.period}: {o.status}[/{colour}] {o.detail}")


@app.command("run-now")
def run_now(report_id: IdArg, data_dir: DataDir = None) -> None:
    """Run a report once now, outside its schedule."""
    store = _store(data_dir)
    r = _find(store, report_id)
    with _scheduler(data_dir) as sched:
        _print_outcomes([sched.run_now(r.id)])


@app.command()
def tick(
    now: Annotated[
        str | None, typer.Option("--now", help="Run as if it were this UTC time (ISO 8601), e.g. to catch up by hand.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Run every report period that is due (safe to run from several processes at once)."""
    moment: datetime | None = None
    if now:
        try:
            parsed = datetime.fromisoformat(now.replace("Z", "+00:00"))
        except ValueError:
            _fail(f"--now {now!r} is not an ISO 8601 time; e.g. 2026-12-07T09:00:00Z")
            return
        moment = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
    with _scheduler(data_dir, moment) as sched:
        _print_outcomes(sched.tick())
