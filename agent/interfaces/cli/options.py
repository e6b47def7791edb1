"""What the core command groups share: the ``--data-dir``/``--user`` options, settings and a one-line error."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from agent.interfaces.cli.support import load_settings

if TYPE_CHECKING:
    from agent.settings import Settings

err_console = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="CHAMBERLAIN_DATA_DIR", help="Where all state lives (default ./.chamberlain)."),
]
UserOpt = Annotated[str, typer.Option("--user", "-u", help="Directory id of the person asking, e.g. u_alice.")]


def settings_for(data_dir: Path | None, *, create: bool = False) -> Settings:
    return load_settings(data_dir, create=create)


def fail(message: str, code: int = 1) -> None:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)
