"""``chamberlain audit``: show, verify and export the audit log."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from agent.interfaces.cli.options import DataDir, err_console
from agent.interfaces.cli.options import fail as _fail
from agent.interfaces.cli.options import settings_for as _settings
from agent.interfaces.cli.render import console, print_audit

app = typer.Typer(help="Inspect and verify the audit log.", no_args_is_help=True)


@app.command("show")
def audit_show(
    thread: Annotated[str | None, typer.Option(help="Only this conversation.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many entries.")] = 200,
    reverse: Annotated[bool, typer.Option("--reverse", help="Oldest first.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Print audit entries as a table, newest first (--reverse for oldest first)."""
    from agent.service.stores import open_service

    with open_service(_settings(data_dir)) as svc:
        print_audit(svc.audit.entries(thread_id=thread, limit=limit, newest_first=not reverse))


@app.command("verify")
def audit_verify(data_dir: DataDir = None) -> None:
    """Recompute the hash chain; exit 1 if any entry was edited, deleted or reordered."""
    from agent.service.stores import open_service

    with open_service(_settings(data_dir)) as svc:
        rep = svc.audit.verify()
    if rep.ok:
        console.print(f"[green]audit log intact: {rep.entries} entries[/green]")
        return
    for p in rep.problems:
        err_console.print(f"[red]{p}[/red]")
    raise typer.Exit(1)


@app.command("export")
def audit_export(
    since: Annotated[str | None, typer.Option(help="ISO date/time, e.g. 2026-11-01 or 2026-11-01T09:00")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Write audit entries as JSON Lines (for a SIEM)."""
    from datetime import UTC, datetime

    from agent.service.stores import open_service

    start = None
    if since:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            _fail(f"--since {since!r} is not an ISO date/time; use e.g. 2026-11-01 or 2026-11-01T09:00")
        assert start is not None
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
    with open_service(_settings(data_dir)) as svc:
        lines = (json.dumps(e.to_json(), default=str) for e in svc.audit.entries(since=start))
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
