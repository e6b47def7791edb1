"""``chamberlain outbox``: deliver queued messages and see what became of them.

chamberlain outbox run [--once] [--worker-id ID]   deliver until stopped (or until none is due)
chamberlain outbox list [--status failed] [--limit 50] [--json]
chamberlain outbox show ID [--json]
chamberlain outbox retry ID                         send a failed message again
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(help="The outbox: deliver approved messages and see what became of them.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="CHAMBERLAIN_DATA_DIR", help="Where all state lives (default ./.chamberlain)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

_STYLE = {"queued": "cyan", "sending": "yellow", "sent": "green", "failed": "red"}


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)  # one line, greppable
    raise typer.Exit(code)


def _open(data_dir: Path | None) -> tuple[Any, Any, Any]:
    from sqlalchemy.exc import OperationalError

    from agent.service.stores import connect_service
    from agent.settings import Settings

    settings = Settings(data_dir=data_dir) if data_dir else Settings()
    try:
        svc = connect_service(settings)
        return settings, svc, svc.outbox
    except OperationalError as exc:
        _fail(f"cannot open the app database ({settings.resolved_database_url.split('@')[-1]}): {exc.orig}")
    raise AssertionError("unreachable")


def _as_json(m: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in (
        "id",
        "kind",
        "channel",
        "recipient",
        "status",
        "attempts",
        "last_error",
        "delivery_ref",
        "requester_id",
        "thread_id",
        "thread_ts",
        "parent_id",
        "text",
    ):
        out[name] = getattr(m, name)
    for name in ("queued_at", "next_attempt_at", "delivered_at", "lease_expires_at"):
        value = getattr(m, name)
        out[name] = value.isoformat() if value is not None else None
    return out


@app.command("run")
def run(
    once: Annotated[bool, typer.Option("--once", help="Deliver what is due now, then exit.")] = False,
    worker_id: Annotated[str | None, typer.Option(help="Name in leases and logs (default host:pid).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Deliver queued messages to Slack and email; run as many as you like on one database."""
    from agent.interfaces.outbox_worker import worker_from_settings

    settings, svc, outbox = _open(data_dir)
    try:
        worker = worker_from_settings(settings, outbox, worker_id=worker_id)
        configured = ", ".join(sorted(worker.channels)) or "none (set SLACK_BOT_TOKEN / CHAMBERLAIN_SMTP_HOST)"
        if once:
            worker.drain()
            c = worker.counts
            console.print(f"sent {c['sent']}, retrying {c['retry']}, failed {c['failed']} (channels: {configured})")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        console.print(f"outbox worker {worker.worker_id}: channels {configured} (Ctrl-C to stop)")
        worker.on_outcome = lambda o: console.print(
            f"[{_STYLE.get(o.status, 'white')}]{o.status}[/] {o.message.id[:8]} → {escape(o.message.recipient)}: "
            f"{escape(o.detail)}"
        )
        worker.run(stop=stop)
        c = worker.counts
        console.print(f"stopped: sent {c['sent']}, retried {c['retry']}, failed {c['failed']}")
    finally:
        svc.close()


@app.command("list")
def list_(
    status: Annotated[
        str | None, typer.Option("--status", "-s", help="queued, sending, sent or failed (the dead letters).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Newest N messages.")] = 50,
    as_json: JsonOpt = False,
    data_dir: DataDir = None,
) -> None:
    """Messages, newest first, with where each one stands."""
    from agent.errors import InvalidRequest

    _, svc, outbox = _open(data_dir)
    try:
        try:
            rows = outbox.list(status=status, limit=limit)
        except InvalidRequest as exc:
            _fail(str(exc))
        if as_json:
            typer.echo(json.dumps([_as_json(m) for m in rows], indent=2))
            return
        counts = outbox.counts()
        console.print(" · ".join(f"{k} {v}" for k, v in counts.items()))
        if not rows:
            console.print("no messages" + (f" with status {status}" if status else ""))
            return
        table = Table("id", "kind", "to", "status", "tries", "queued", "detail")
        for m in rows:
            detail = m.delivery_ref if m.status == "sent" else (m.last_error or "")
            table.add_row(
                m.id[:8],
                m.kind,
                escape(m.recipient),
                f"[{_STYLE.get(m.status, 'white')}]{m.status}[/]",
                str(m.attempts),
                m.queued_at.strftime("%Y-%m-%d %H:%M"),
                escape((detail or "")[:80]),
            )
        console.print(table)
    finally:
        svc.close()


@app.command("show")
def show(message_id: str, as_json: JsonOpt = False, data_dir: DataDir = None) -> None:
    """One message: its text, every state it has, why it failed."""
    from agent.errors import InvalidRequest, RecordNotFound

    _, svc, outbox = _open(data_dir)
    try:
        try:
            m = outbox.get(message_id)
        except (RecordNotFound, InvalidRequest) as exc:
            _fail(str(exc))
        data = _as_json(m)
        if as_json:
            typer.echo(json.dumps(data, indent=2))
            return
        for key, value in data.items():
            if value is None or key == "text":
                continue
            console.print(f"[bold]{key}[/bold]: {escape(str(value))}")
        console.print("[bold]text[/bold]:")
        console.print(escape(m.text))
    finally:
        svc.close()


@app.command("retry")
def retry(message_id: str, data_dir: DataDir = None) -> None:
    """Queue a failed message again (fix what its error says first)."""
    from agent.errors import ConflictError, InvalidRequest, RecordNotFound

    _, svc, outbox = _open(data_dir)
    try:
        try:
            m = outbox.retry(message_id)
        except (RecordNotFound, InvalidRequest, ConflictError) as exc:
            _fail(str(exc))
        console.print(f"queued {m.id[:8]} to {escape(m.recipient)} again; a running worker delivers it")
    finally:
        svc.close()


__all__ = ["app"]
