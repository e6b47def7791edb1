"""``chamberlain approvals``: list, show, approve, reject and retry approval requests (and batches)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from agent.events import ApprovalView
from agent.interfaces.cli.options import DataDir, UserOpt
from agent.interfaces.cli.options import fail as _fail
from agent.interfaces.cli.options import settings_for as _settings
from agent.interfaces.cli.render import console, print_audit, render_approval

if TYPE_CHECKING:
    from agent.settings import Settings
    from policies.directory import Directory

app = typer.Typer(help="Review and decide approval requests.", no_args_is_help=True)


@app.command("list")
def approvals_list(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only items waiting for this approver.")] = None,
    status: Annotated[str | None, typer.Option(help="pending, approved, rejected, executed, ...")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data_dir: DataDir = None,
) -> None:
    """List approval requests."""
    from agent.errors import InvalidInput
    from agent.service.stores import open_service

    with open_service(_settings(data_dir)) as svc:
        try:
            views = svc.approvals.list_views(waiting_for=user, status=status)
        except InvalidInput as exc:
            _fail(str(exc).replace("unknown status", "unknown --status"))
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
    from agent.errors import AmbiguousId, RecordNotFound
    from agent.service.stores import open_service

    with open_service(_settings(data_dir)) as svc:
        try:
            if approval_id.startswith("bat_"):
                _show_batch(batch_id=approval_id, views=svc.approvals.batch(approval_id))
                return
            detail = svc.approvals.detail(approval_id)
        except (RecordNotFound, AmbiguousId) as exc:
            _fail(str(exc))
        render_approval(detail.view)
        print_audit(detail.audit)


def _show_batch(*, batch_id: str, views: list[ApprovalView]) -> None:
    waiting = sum(1 for v in views if v.status == "pending")
    console.print(f"[bold]Batch {batch_id}[/bold]: {len(views)} changes proposed together, {waiting} waiting")
    for n, v in enumerate(views, start=1):
        console.print(f"\n[bold]{n}.[/bold]", end=" ")
        render_approval(v)


def _check_user(settings: Settings, user: str) -> Directory:
    """A typo in --user fails before anything opens; the directory it read is the one decisions use."""
    from agent.errors import UnknownPrincipal
    from policies.directory import Directory

    directory = Directory.load(settings.directory_path)
    try:
        directory.get(user)
    except UnknownPrincipal as exc:
        _fail(str(exc))
    return directory


def _decide(approval_id: str, user: str, approve: bool, reason: str | None, data_dir: Path | None) -> None:
    """Decide without the conversation graph (no LangGraph, no model: about a second). The write
    runs here, once; a conversation waiting on it is queued and continued by a detached
    ``chamberlain resume --queued`` (or a server's sweeper, or the requester's next message)."""
    from agent.errors import AmbiguousId, RecordNotFound, UnknownPrincipal
    from agent.service.stores import open_service

    settings = _settings(data_dir)
    directory = _check_user(settings, user)
    queued: set[str] = set()
    with open_service(settings, decide=True, directory=directory) as svc:
        try:
            if approval_id.startswith("bat_"):  # a batch: one decision per item (refused items say why)
                res_b = svc.approvals.decide_batch(approval_id, approver_id=user, approve=approve, reason=reason)
            else:
                res = svc.approvals.decide(approval_id, approver_id=user, approve=approve, reason=reason)
        except RecordNotFound as exc:
            hint = "; `chamberlain approvals show ID` of one of its requests names its batch"
            _fail(f"{exc}{hint if approval_id.startswith('bat_') else ''}")
        except (AmbiguousId, UnknownPrincipal) as exc:
            _fail(str(exc))
        if approval_id.startswith("bat_"):
            for item in res_b.items:
                mark = "[green]✓[/green]" if item.accepted else "[red]✗[/red]"
                outcome = f" → {item.outcome}" if item.accepted and item.outcome else ""
                console.print(f"{mark} {item.approval_id} {item.title}: {item.message}{outcome}", highlight=False)
            queued = {t for t in res_b.queued_threads if t}
            if not res_b.accepted:
                _fail(f"nothing in batch {approval_id} was decided by {user}")
        else:
            if not res.accepted:
                _fail(res.message)
            console.print(f"[green]{res.message}[/green]")
            if res.final:
                console.print(f"outcome: {res.outcome}")
            if res.resume_queued:
                queued.add(res.resume_queued)
    for thread in sorted(queued):
        _continue_in_background(settings, thread)


def _continue_in_background(settings: Settings, thread: str) -> None:
    """Start ``chamberlain resume --queued THREAD`` detached: the requester's conversation goes on
    after this command returns. The resume is durable: if the child dies, a server's sweeper,
    ``chamberlain resume`` or the requester's next message continues it, once."""
    import os
    import subprocess
    import sys

    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "agent", "resume", thread, "--queued", "--data-dir", str(settings.data_dir)]
    env = {**os.environ, "CHAMBERLAIN_DATA_DIR": str(settings.data_dir)}
    log = str(logs / "resume.log")
    if hasattr(os, "posix_spawn"):
        # Spawned, not a Popen: nothing here waits for it, and it outlives this command in a
        # session of its own (not stopped by this terminal's Ctrl-C or hang-up).
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, log, flags, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ]
        os.posix_spawn(sys.executable, argv, env, file_actions=actions, setsid=True)
    else:  # pragma: no cover - Windows
        with open(log, "ab") as out:
            subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    console.print(
        f"the requester's conversation continues in the background (thread {thread}); "
        f"`chamberlain resume {thread}` continues it now if it has not",
        highlight=False,
    )


@app.command("retry")
def approvals_retry(approval_id: str, user: UserOpt, data_dir: DataDir = None) -> None:
    """Retry a request whose execution failed, as --user (an operator: the requester, one of
    its approvers or an IT admin). Same payload, same idempotency key."""
    from agent.errors import AmbiguousId, RecordNotFound, UnknownPrincipal
    from agent.service.stores import open_service

    settings = _settings(data_dir)
    with open_service(settings, decide=True) as svc:
        try:
            res = svc.approvals.retry(approval_id, operator_id=user)
        except (RecordNotFound, AmbiguousId, UnknownPrincipal, PermissionError) as exc:
            _fail(str(exc))
        if not res.accepted:
            _fail(res.message)
        console.print(f"[green]{res.message}[/green]")
    if res.resume_queued:
        _continue_in_background(settings, res.resume_queued)


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
