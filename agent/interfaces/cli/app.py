"""The ``chamberlain`` command line.

Every command takes ``--data-dir`` (or ``CHAMBERLAIN_DATA_DIR``); all other settings come from
environment variables (see the README's configuration table).

Start-up is part of the interface: commands that need no model (``--help``, ``approvals
list/show``, ``audit *``, ``sql check``, ``requests template``) must not import the runtime, the
graph or the model stack (``tests/agent/test_startup_imports.py`` checks; ``benchmarks/
startup_bench.py`` times them). So:

- A command group lives in its own module (``agent/interfaces/cli/<name>.py``) whose top level imports only
  typer/rich and our light modules; heavy imports go inside the command functions.
- Register it with one line in ``_mount_subcommands`` below: ``app.add_typer(mod.app, name=...)``.
- Get settings with ``agent.interfaces.cli.support.load_settings(data_dir)`` (checks the data dir; pass
  ``create=True`` only for commands that create state) and fail with ``support.fail``.
- Use ``agent.runtime.store_access`` (not ``agent.runtime.services``) for approvals/audit without a runtime.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agent.events import ApprovalView
from agent.interfaces.cli.render import console, print_audit, print_outcome, render_approval, render_event
from agent.interfaces.cli.support import load_settings

app = typer.Typer(
    help="Chamberlain: an assistant that reads within your permissions and writes only with approval.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain usage errors: three short lines, not a boxed panel.
    rich_markup_mode=None,
)
approvals_app = typer.Typer(help="Review and decide approval requests.", no_args_is_help=True)
audit_app = typer.Typer(help="Inspect and verify the audit log.", no_args_is_help=True)
crm_app = typer.Typer(help="The local HubSpot-compatible demo CRM.", no_args_is_help=True)
app.add_typer(approvals_app, name="approvals")
app.add_typer(audit_app, name="audit")
app.add_typer(crm_app, name="crm")

err_console = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="CHAMBERLAIN_DATA_DIR", help="Where all state lives (default ./.chamberlain)."),
]
UserOpt = Annotated[str, typer.Option("--user", "-u", help="Directory id of the person asking, e.g. u_alice.")]


def _settings(data_dir: Path | None, *, create: bool = False) -> Any:
    return load_settings(data_dir, create=create)


def _fail(message: str, code: int = 1) -> None:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _thread_label(rt: Any, user: str, thread_id: str) -> str:
    """Who and when, then the id to continue with (ids like ``cli:u_alice:3f2a…`` say neither)."""
    from datetime import datetime

    who = rt.directory.get(user).name
    return f"conversation of {who}, {datetime.now().astimezone():%Y-%m-%d %H:%M} — continue with --thread {thread_id}"


def _check_user(settings: Any, user: str) -> None:
    """Fail at once on an unknown user, before the runtime (and its model stack) loads."""
    from policies.directory import Directory
    from policies.errors import UnknownPrincipal

    try:
        Directory.load(settings.directory_path).get(user)
    except UnknownPrincipal as exc:
        _fail(str(exc))


@app.command()
def ask(
    text: Annotated[str, typer.Argument(help="What to ask.")],
    user: UserOpt,
    thread: Annotated[str | None, typer.Option("--thread", "-t", help="Continue this conversation.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Ask one question (or continue a conversation with --thread)."""
    from policies.errors import UnknownPrincipal

    settings = _settings(data_dir)
    _check_user(settings, user)
    from agent.runtime.services import open_runtime

    with open_runtime(settings) as rt:
        try:
            out = rt.ask(user, text, thread_id=thread, on_event=render_event)
        except UnknownPrincipal as exc:
            _fail(str(exc))
        console.print(f"[dim]{_thread_label(rt, user, out.thread_id)}[/dim]")
        print_outcome(out)
        if out.status == "failed":
            raise typer.Exit(1)


@app.command()
def chat(user: UserOpt, data_dir: DataDir = None) -> None:
    """Talk to Chamberlain interactively (empty line or Ctrl-D to quit)."""
    settings = _settings(data_dir)
    _check_user(settings, user)
    from agent.runtime.services import open_runtime

    with open_runtime(settings) as rt:
        thread = None
        while True:
            try:
                text = console.input("[bold]you>[/bold] ").strip()
            except EOFError:
                break
            if not text:
                break
            out = rt.ask(user, text, thread_id=thread, on_event=render_event)
            thread = out.thread_id
            print_outcome(out)


@app.command()
def resume(
    thread: Annotated[str | None, typer.Argument(help="Thread to resume; omit to recover every thread.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Resume a thread whose approvals were decided (or recover all after a restart)."""
    settings = _settings(data_dir)
    if thread:
        from agent.runtime.store_access import open_store

        with open_store(settings) as (store, _d):
            if not store.list(thread_id=thread, limit=1):
                _fail(
                    f"no approval requests on thread {thread!r}, so nothing to resume; "
                    "threads are printed by `chamberlain ask` and shown by `chamberlain approvals show ID`"
                )
    from agent.runtime.services import open_runtime

    with open_runtime(settings) as rt:
        outs = [rt.resume(thread, on_event=render_event)] if thread else rt.recover(on_event=render_event)
        console.print(f"[dim]resumed {len(outs)} thread(s)[/dim]")


# -- approvals -----------------------------------------------------------------------------------


@approvals_app.command("list")
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


@approvals_app.command("show")
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


@approvals_app.command("retry")
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


@approvals_app.command("approve")
def approvals_approve(
    approval_id: str,
    user: UserOpt,
    reason: Annotated[str | None, typer.Option(help="Optional note.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Approve a request (or every item of a batch, bat_…) as --user; each write runs exactly once."""
    _decide(approval_id, user, True, reason, data_dir)


@approvals_app.command("reject")
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


# -- audit ---------------------------------------------------------------------------------------


@audit_app.command("show")
def audit_show(
    thread: Annotated[str | None, typer.Option(help="Only this conversation.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many entries.")] = 200,
    reverse: Annotated[bool, typer.Option("--reverse", help="Oldest first.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Print audit entries as a table, newest first (--reverse for oldest first)."""
    from agent.runtime.store_access import open_store
    from connectors.appdb import AuditLog

    with open_store(_settings(data_dir)) as (store, _d):
        print_audit(AuditLog(store.engine).entries(thread_id=thread, limit=limit, newest_first=not reverse))


@audit_app.command("verify")
def audit_verify(data_dir: DataDir = None) -> None:
    """Recompute the hash chain; exit 1 if any entry was edited, deleted or reordered."""
    from agent.runtime.store_access import open_store
    from connectors.appdb import AuditLog

    with open_store(_settings(data_dir)) as (store, _d):
        rep = AuditLog(store.engine).verify()
    if rep.ok:
        console.print(f"[green]audit log intact: {rep.entries} entries[/green]")
        return
    for p in rep.problems:
        err_console.print(f"[red]{p}[/red]")
    raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    since: Annotated[str | None, typer.Option(help="ISO date/time, e.g. 2026-11-01 or 2026-11-01T09:00")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Write audit entries as JSON Lines (for a SIEM)."""
    from datetime import UTC, datetime

    from agent.runtime.store_access import open_store
    from connectors.appdb import AuditLog

    start = None
    if since:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            _fail(f"--since {since!r} is not an ISO date/time; use e.g. 2026-11-01 or 2026-11-01T09:00")
        assert start is not None
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
    with open_store(_settings(data_dir)) as (store, _d):
        lines = (json.dumps(e.to_json(), default=str) for e in AuditLog(store.engine).entries(since=start))
        if out:
            n = 0
            with out.open("w", encoding="utf-8") as fh:
                for line in lines:
                    fh.write(line + "\n")
                    n += 1
            console.print(f"wrote {n} entries to {out}")
        else:
            for line in lines:
                sys.stdout.write(line + "\n")


# -- CRM, seed, demo ------------------------------------------------------------------------------


@crm_app.command("serve")
def crm_serve(
    port: Annotated[int | None, typer.Option(help="Port (default CHAMBERLAIN_CRM_PORT, 8765).")] = None,
    host: str = "127.0.0.1",
    data_dir: DataDir = None,
) -> None:
    """Run the local HubSpot-compatible CRM (seeded with the demo company) in the foreground."""
    from agent.runtime.services import LOCAL_CRM_TOKEN, ensure_crm_seeded
    from connectors.crm_service import serve

    settings = _settings(data_dir, create=True)  # it seeds the CRM it serves
    ensure_crm_seeded(settings)
    port = port or settings.crm_port
    console.print(f"CRM on http://{host}:{port} (token: {LOCAL_CRM_TOKEN})")
    serve(host, port, settings.crm_db_path, LOCAL_CRM_TOKEN)


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    host: Annotated[str, typer.Option(help="Interface; keep 127.0.0.1 unless behind a proxy.")] = "127.0.0.1",
    data_dir: DataDir = None,
) -> None:
    """Run the HTTP API and the web page at /web (needs CHAMBERLAIN_HTTP_TOKEN; put it behind your SSO proxy)."""
    from agent.interfaces.cli.serve import run_server

    settings = _settings(data_dir)
    if not settings.http_token:
        _fail("set CHAMBERLAIN_HTTP_TOKEN: the HTTP API refuses to run without a service token")
    # Listens at once (/healthz answers while the runtime loads; /readyz says when it is up).
    run_server(settings, host=host, port=port, announce=lambda text: console.print(text, markup=False))


@app.command()
def seed(
    data_dir: DataDir = None,
    force: Annotated[bool, typer.Option(help="Rebuild even if the data exists.")] = False,
) -> None:
    """Create the demo company's data: CRM, warehouse, knowledge base."""
    from agent.runtime.services import seed_all

    seed_all(_settings(data_dir, create=True), force=force, console=console)


@app.command()
def demo(
    data_dir: DataDir = None,
    fake_model_server: Annotated[
        str | None,
        typer.Option(help="Serve the scripted turns from a local fake 'openai' or 'anthropic' API (real SDK path)."),
    ] = None,
) -> None:
    """Seed, then run a conversation that reads the CRM, proposes a write, gets it approved and runs it once."""
    from agent.interfaces.cli.demo import run_demo

    run_demo(_settings(data_dir, create=True), console=console, fake_server=fake_model_server)


def _mount_subcommands() -> None:
    # Sub-apps import only typer and their own modules at import time; heavy imports happen
    # inside their commands, so `chamberlain --help` stays fast.
    from agent.interfaces.cli import (
        docs as cli_docs,
    )
    from agent.interfaces.cli import (
        models as cli_models,
    )
    from agent.interfaces.cli import (
        outbox as cli_outbox,
    )
    from agent.interfaces.cli import (
        requests as cli_requests,
    )
    from agent.interfaces.cli import slack as slack_cli
    from agent.interfaces.cli import (
        sql as cli_sql,
    )
    from agent.interfaces.cli import (
        templates as cli_templates,
    )
    from agent.interfaces.cli import (
        warehouse as cli_warehouse,
    )
    from agent.interfaces.cli import (
        web as cli_web,
    )

    app.add_typer(cli_sql.app, name="sql")
    app.add_typer(cli_docs.app, name="docs")
    app.add_typer(slack_cli.app, name="slack")
    app.add_typer(cli_web.app, name="web")
    from agent.interfaces.cli import evals as cli_evals
    from agent.interfaces.cli import tools as cli_tools

    app.add_typer(cli_tools.app, name="tools")
    cli_models.evals_app.command("agentdojo")(cli_evals.agentdojo)  # joins `evals live`
    app.add_typer(cli_warehouse.app, name="warehouse")
    app.add_typer(cli_templates.app, name="requests")
    cli_requests.register(approvals_app)
    app.add_typer(cli_outbox.app, name="outbox")
    from agent.interfaces.cli import reports as cli_reports

    app.add_typer(cli_reports.app, name="reports")
    cli_models.register(app)  # usage, doctor, evals live


_mount_subcommands()


def main() -> None:
    import logging
    import os

    from policies.logging_filter import install_process_log_redaction

    logging.basicConfig(level=os.environ.get("CHAMBERLAIN_LOG_LEVEL", "WARNING"))
    # The SQL guard rejects what sqlglot can only parse as a Command; its warning is noise.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    # bm25s sets its own logger to DEBUG when imported (after this runs): a filter outlives that.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    logging.getLogger("bm25s").addFilter(lambda record: record.levelno >= logging.WARNING)
    # slack_sdk logs every failed call at ERROR and then raises; the raise is what we handle and
    # report (one line at start-up, the outbox's reason later), so its log line only repeats it.
    logging.getLogger("slack_sdk.web.base_client").setLevel(logging.CRITICAL)
    # Bolt warns that `token` is unused when given a client too: we pass both on purpose.
    logging.getLogger("slack_bolt.App").addFilter(lambda record: "`token` will be unused" not in record.getMessage())
    # PII and secrets never reach logs: every record is redacted when it is created, so uvicorn's
    # own handlers (installed later by its dictConfig) and uncaught exceptions are covered too.
    install_process_log_redaction()
    try:
        app()
    except Exception as exc:
        # The one boundary for the whole command line: errors a person can act on become one
        # line (agent.errors); anything else is a bug and keeps its traceback.
        from agent.errors import translate

        error = translate(exc)
        message = error.message if error is not None else _service_error(exc)
        if message is None:
            raise
        err_console.print(f"[red]error:[/red] {message}")
        raise SystemExit(1) from None


def _service_error(exc: Exception) -> str | None:
    """An external service that is down or refuses our credentials at start-up (the Slack Web
    API is called by ``slack serve`` before it listens), named with the setting to check."""
    import traceback
    import urllib.error

    frames = {f.filename for f in traceback.extract_tb(exc.__traceback__)}
    slack = any("slack_sdk" in f or "slack_bolt" in f for f in frames)
    from slack_sdk.errors import SlackApiError

    if isinstance(exc, SlackApiError):
        error = exc.response.get("error") if exc.response is not None else None
        return f"the Slack API refused the request ({error or exc}): check SLACK_BOT_TOKEN and the app's scopes"
    if isinstance(exc, urllib.error.URLError | ConnectionError | TimeoutError) and slack:
        reason = getattr(exc, "reason", None) or exc
        return f"cannot reach the Slack API ({reason}): check the network, proxy or CHAMBERLAIN_SLACK_API_URL"
    return None


if __name__ == "__main__":
    main()
