"""``chamberlain approvals``: list, show, approve, reject and retry approval requests (and batches)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from agent.events import ApprovalView
from agent.interfaces.cli.options import DataDir, UserOpt
from agent.interfaces.cli.options import fail as _fail
from agent.interfaces.cli.options import settings_for as _settings
from agent.interfaces.cli.render import console, print_audit, render_approval

app = typer.Typer(help="Review and decide approval requests.", no_args_is_help=True)


@app.command("list")
def approvals_list(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only items waiting for this approver.")] = None,
    status: Annotated[str | None, typer.Option(help="pending, approved, rejected, executed, ...")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data_dir: DataDir = None,
) -> None:
    """List approval requests."""
    from typing import get_args

    from connectors.appdb.approvals import Status

    if status is not None and status not in get_args(Status):
        _fail(f"unknown --status {status!r}; use one of: {', '.join(get_args(Status))}")
    from agent.runtime.store_access import open_store

    with open_store(_settings(data_dir)) as (store, directory):
        from agent.views import approval_view

        recs = store.pending_for(user) if user else store.list(status=status)
        views = [approval_view(r, directory) for r in recs]
        if as_json:
            for v in views:
                print(json.dumps(_view_json(v), default=str))
            return
        table = Table()
        # The id is what the next command takes: never wrapped or cut, whatever the terminal width.
        table.add_column("id", no_wrap=True, min_width=max((len(v.id) for v in views), default=2))
        # Kind and status are what a reader scans: never cut to "exec…". On a narrow terminal
        # the requester is shown by id and the date is left out, so the rest still fits.
        wide = console.width >= 120
        names = ("kind", "status", "requester", "waiting for", "created", "title") if wide else (
            "kind", "status", "requester", "waiting for", "title"
        )  # fmt: skip
        for name in names:
            table.add_column(name, no_wrap=name in ("kind", "status"), ratio=1 if name == "title" else None)
        for v in views:
            waiting = next((", ".join(s.approvers) for s in v.stages if s.status == "pending"), "")
            cells = {
                "kind": v.kind,
                "status": v.status,
                "requester": v.requester_label if wide else v.requester_id,
                "waiting for": waiting,
                "created": v.created_at.strftime("%Y-%m-%d %H:%M"),
                "title": v.summary[:60],
            }
            table.add_row(v.id, *(cells[n] for n in names))
        console.print(table)


@app.command("show")
def approvals_show(approval_id: str, data_dir: DataDir = None) -> None:
    """Show one request: what changes, why, the route and the audit trail."""
    from agent.runtime.store_access import open_store
    from agent.views import approval_view
    from connectors.appdb import AuditLog
    from connectors.appdb.id_prefix import resolve_approval_id
    from connectors.errors import AmbiguousId, RecordNotFound

    with open_store(_settings(data_dir)) as (store, directory):
        if approval_id.startswith("bat_"):
            _show_batch(store.engine, directory, approval_id)
            return
        try:
            approval_id = resolve_approval_id(store.engine, approval_id)
            render_approval(approval_view(store.get(approval_id), directory, engine=store.engine))
        except (RecordNotFound, AmbiguousId) as exc:
            _fail(str(exc))
        print_audit(AuditLog(store.engine).entries(approval_id=approval_id))


def _show_batch(engine: Any, directory: Any, batch_id: str) -> None:
    from agent.batches import batch_views

    views = batch_views(engine, directory, batch_id)
    if not views:
        _fail(f"no batch {batch_id!r}; `chamberlain approvals show ID` of one of its requests names its batch")
    waiting = sum(1 for v in views if v.status == "pending")
    console.print(f"[bold]Batch {batch_id}[/bold]: {len(views)} changes proposed together, {waiting} waiting")
    for n, v in enumerate(views, start=1):
        console.print(f"\n[bold]{n}.[/bold]", end=" ")
        render_approval(v)


def _decide_batch(batch_id: str, user: str, approve: bool, reason: str | None, data_dir: Path | None) -> None:
    from agent.batches import decide_batch
    from agent.runtime.services import open_runtime
    from connectors.errors import RecordNotFound
    from policies.directory import Directory
    from policies.errors import UnknownPrincipal

    settings = _settings(data_dir)
    try:
        Directory.load(settings.directory_path).get(user)
    except UnknownPrincipal as exc:
        _fail(str(exc))
    with open_runtime(settings) as rt:
        try:
            res = decide_batch(rt, batch_id, approver_id=user, approve=approve, reason=reason)
        except RecordNotFound as exc:
            _fail(f"{exc}; `chamberlain approvals show ID` of one of its requests names its batch")
        for item in res.items:
            mark = "[green]✓[/green]" if item.accepted else "[red]✗[/red]"
            outcome = f" → {item.outcome}" if item.accepted and item.outcome else ""
            console.print(f"{mark} {item.approval_id} {item.title}: {item.message}{outcome}", highlight=False)
        if not res.accepted:
            _fail(f"nothing in batch {batch_id} was decided by {user}")


def _decide(approval_id: str, user: str, approve: bool, reason: str | None, data_dir: Path | None) -> None:
    if approval_id.startswith("bat_"):  # a batch: one decision per item (refused items say why)
        _decide_batch(approval_id, user, approve, reason, data_dir)
        return
    from agent.runtime.store_access import resolve_id
    from connectors.errors import AmbiguousId, RecordNotFound
    from policies.directory import Directory
    from policies.errors import UnknownPrincipal

    settings = _settings(data_dir)
    try:
        # Both checked before the runtime (and its model stack) loads: a typo fails at once.
        approval_id = resolve_id(settings, approval_id)
        Directory.load(settings.directory_path).get(user)
    except (RecordNotFound, AmbiguousId, UnknownPrincipal) as exc:
        _fail(str(exc))
    from agent.runtime.services import open_runtime

    with open_runtime(settings) as rt:
        try:
            # No on_event: the requester's resumed conversation is theirs, not the approver's.
            res = rt.decide(approval_id, approver_id=user, approve=approve, reason=reason)
        except (RecordNotFound, UnknownPrincipal) as exc:
            _fail(str(exc))
        if not res.accepted:
            _fail(res.message)
        console.print(f"[green]{res.message}[/green]")
        if res.final:
            console.print(f"outcome: {res.outcome}")


@app.command("retry")
def approvals_retry(approval_id: str, user: UserOpt, data_dir: DataDir = None) -> None:
    """Retry a request whose execution failed, as --user (an operator: the requester, one of
    its approvers or an IT admin). Same payload, same idempotency key."""
    from agent.runtime.services import open_runtime
    from connectors.errors import RecordNotFound
    from policies.errors import UnknownPrincipal

    with open_runtime(_settings(data_dir)) as rt:
        try:
            res = rt.retry(approval_id, operator_id=user)
        except (RecordNotFound, UnknownPrincipal, PermissionError) as exc:
            _fail(str(exc))
        if not res.accepted:
            _fail(res.message)
        console.print(f"[green]{res.message}[/green]")


@app.command("approve")
def approvals_approve(
    approval_id: str,
    user: UserOpt,
    reason: Annotated[str | None, typer.Option(help="Optional note.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Approve a request (or every item of a batch, bat_…) as --user; each write runs exactly once."""
    _decide(approval_id, user, True, reason, data_dir)


@app.command("reject")
def approvals_reject(
    approval_id: str,
    user: UserOpt,
    reason: Annotated[str, typer.Option(help="Why (the requester and the model see it).")] = "",
    data_dir: DataDir = None,
) -> None:
    """Reject a request (or every item of a batch, bat_…) as --user."""
    _decide(approval_id, user, False, reason or None, data_dir)


def _view_json(v: ApprovalView) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(v)
