"""The ``chamberlain`` command line.

Every command takes ``--data-dir`` (or ``CHAMBERLAIN_DATA_DIR``); all other settings come from
environment variables (see the README's configuration table).

Start-up is part of the interface: commands that need no model (``--help``, ``approvals
list/show``, ``audit *``, ``sql check``, ``requests template``) must not import the runtime, the
graph or the model stack (``tests/agent/test_startup_imports.py`` checks; ``benchmarks/
startup_bench.py`` times them). So:

- A command group lives in its own module (``agent/interfaces/cli/<name>.py``) whose top level imports only
  typer/rich and our light modules; heavy imports go inside the command functions.
- Register it in ``GROUPS`` below (a three-line loader and one row): the module is imported and its
  commands built only when that group runs, or ``--help`` lists it (``agent/interfaces/cli/lazy.py``).
- Get settings with ``agent.interfaces.cli.support.load_settings(data_dir)`` (checks the data dir; pass
  ``create=True`` only for commands that create state) and fail with ``support.fail``.
- Use ``agent.service.stores.open_service`` (not ``agent.runtime.services``) for approvals/audit without a runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from agent.interfaces.cli import models as cli_models
from agent.interfaces.cli.lazy import lazy_groups
from agent.interfaces.cli.options import DataDir, UserOpt, err_console
from agent.interfaces.cli.options import fail as _fail
from agent.interfaces.cli.options import settings_for as _settings
from agent.interfaces.cli.render import console, print_outcome, render_event


def _approvals() -> typer.Typer:
    from agent.interfaces.cli import approvals, requests

    requests.register(approvals.app)  # submit, simulate, ... join `approvals`
    return approvals.app


def _evals() -> typer.Typer:
    from agent.interfaces.cli import evals, models

    models.evals_app.command("agentdojo")(evals.agentdojo)  # joins `evals live`
    return models.evals_app


def _audit() -> typer.Typer:
    from agent.interfaces.cli import audit

    return audit.app


def _crm() -> typer.Typer:
    from agent.interfaces.cli import crm

    return crm.app


def _sql() -> typer.Typer:
    from agent.interfaces.cli import sql

    return sql.app


def _docs() -> typer.Typer:
    from agent.interfaces.cli import docs

    return docs.app


def _slack() -> typer.Typer:
    from agent.interfaces.cli import slack

    return slack.app


def _web() -> typer.Typer:
    from agent.interfaces.cli import web

    return web.app


def _tools() -> typer.Typer:
    from agent.interfaces.cli import tools

    return tools.app


def _warehouse() -> typer.Typer:
    from agent.interfaces.cli import warehouse

    return warehouse.app


def _templates() -> typer.Typer:
    from agent.interfaces.cli import templates

    return templates.app


def _outbox() -> typer.Typer:
    from agent.interfaces.cli import outbox

    return outbox.app


def _reports() -> typer.Typer:
    from agent.interfaces.cli import reports

    return reports.app


def _mcp() -> typer.Typer:
    from agent.interfaces.cli import mcp

    return mcp.app


# The command groups, in the order `chamberlain --help` lists them (the core ones first). Each
# module is imported, and its commands built, only when its group runs or --help lists it
# (agent/interfaces/cli/lazy.py). A new group: its own module with an `app`, a loader above (a
# plain import, so the architecture test sees the edge) and one row here.
GROUPS: dict[str, Callable[[], typer.Typer]] = {
    "approvals": _approvals,
    "audit": _audit,
    "crm": _crm,
    "sql": _sql,
    "docs": _docs,
    "slack": _slack,
    "web": _web,
    "tools": _tools,
    "warehouse": _warehouse,
    "requests": _templates,
    "outbox": _outbox,
    "reports": _reports,
    "mcp": _mcp,
    "evals": _evals,
}

app = typer.Typer(
    cls=lazy_groups(GROUPS),
    help="Chamberlain: an assistant that reads within your permissions and writes only with approval.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain usage errors: three short lines, not a boxed panel.
    rich_markup_mode=None,
)


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
    queued: Annotated[
        bool,
        typer.Option(
            "--queued",
            help="Only if a decision queued it and no other process is continuing it "
            "(what `approvals approve` starts in the background).",
        ),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Resume a thread whose approvals were decided (or recover all after a restart)."""
    settings = _settings(data_dir)
    if thread:
        from agent.service.stores import open_service

        with open_service(settings) as svc:
            known = bool(svc.approvals.on_thread(thread, limit=1))
            pending = svc.resumes.is_pending(thread)
        if not known:
            _fail(
                f"no approval requests on thread {thread!r}, so nothing to resume; "
                "threads are printed by `chamberlain ask` and shown by `chamberlain approvals show ID`"
            )
        if queued and not pending:
            console.print(f"[dim]thread {thread} was already continued[/dim]")
            return
    from agent.runtime.services import open_runtime

    with open_runtime(settings) as rt:
        if queued and thread:
            out = rt.resume_requested(thread, on_event=render_event)
            outs = [out] if out is not None else []
        elif thread:
            outs = [rt.resume(thread, on_event=render_event)]
        else:
            outs = rt.recover(on_event=render_event)
        console.print(f"[dim]resumed {len(outs)} thread(s)[/dim]")


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


# `usage` and `doctor` are commands of the root itself, listed after the ones above.
cli_models.register(app)


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
