"""``chamberlain web``: personal API keys for signing in to the web page served by ``serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="The web page: personal API keys for signing in.", no_args_is_help=True)
key_app = typer.Typer(help="Create, list and revoke personal API keys.", no_args_is_help=True)
app.add_typer(key_app, name="key")
console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="CHAMBERLAIN_DATA_DIR", help="Where all state lives (default ./.chamberlain)."),
]


def _open(data_dir: Path | None) -> tuple[Any, Any, Any]:
    from agent.service.stores import connect_service
    from agent.settings import Settings

    settings = Settings(data_dir=data_dir) if data_dir else Settings()
    svc = connect_service(settings)
    return svc, svc.api_keys, svc.directory


@key_app.command("create")
def key_create(
    user: Annotated[str, typer.Option("--user", "-u", help="Directory id of the person, e.g. u_raj.")],
    label: Annotated[str, typer.Option(help="What the key is for (shown in `key list`).")] = "",
    data_dir: DataDir = None,
) -> None:
    """Create a key for USER and print it once (only its hash is stored)."""
    svc, keys, directory = _open(data_dir)
    try:
        if directory.find(user) is None:
            err_console.print(f"[red]error:[/red] no user {user!r} in the directory (ids look like u_raj)")
            raise typer.Exit(2)
        secret, rec = keys.create(user, label)
        console.print(f"API key for {directory.get(user).label} (id {rec.key_id}) — shown once, store it now:")
        console.print(secret, soft_wrap=True, highlight=False)
    finally:
        svc.close()


@key_app.command("list")
def key_list(data_dir: DataDir = None) -> None:
    """Keys and whether they are live (never the secrets)."""
    svc, keys, _directory = _open(data_dir)
    try:
        table = Table("id", "user", "label", "created", "state")
        for k in keys.list():
            state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "live"
            table.add_row(k.key_id, k.user_id, k.label, f"{k.created_at:%Y-%m-%d %H:%M}", state)
        console.print(table)
    finally:
        svc.close()


@key_app.command("revoke")
def key_revoke(key_id: str, data_dir: DataDir = None) -> None:
    """Revoke a key; sessions signed in with it end on their next request."""
    svc, keys, _directory = _open(data_dir)
    try:
        if not keys.revoke(key_id):
            err_console.print(f"[red]error:[/red] no live key {key_id!r} (see `chamberlain web key list`)")
            raise typer.Exit(2)
        console.print(f"revoked {key_id}")
    finally:
        svc.close()
