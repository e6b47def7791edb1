"""What every CLI module shares, import-light: settings for a checked data dir, one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    # Typing only: the settings and the directory load inside the functions, so `--help` stays light.
    from agent.settings import Settings
    from policies.directory import Directory


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def load_settings(data_dir: Path | None, *, create: bool = False) -> Settings:
    """Settings for ``data_dir`` (or CHAMBERLAIN_DATA_DIR / ./.chamberlain), after checking that the
    directory exists and is ours; only commands that create state pass ``create=True``."""
    from agent.interfaces.cli.datadir import DataDirError, check_data_dir

    settings = _settings(data_dir)
    try:
        check_data_dir(settings.data_dir, create=create)
    except DataDirError as exc:
        fail(str(exc))
    return settings


def configured_directory(data_dir: Path | None = None) -> Directory:
    """The people directory the settings name (CHAMBERLAIN_DIRECTORY_PATH, default the shipped
    one), for commands that read only the directory and so need no data dir."""
    from policies.directory import Directory

    return Directory.load(_settings(data_dir).directory_path)


def _settings(data_dir: Path | None) -> Settings:
    from pydantic import ValidationError

    from agent.settings import Settings

    try:
        return Settings(data_dir=data_dir) if data_dir else Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = "CHAMBERLAIN_" + "_".join(str(p) for p in err["loc"]).upper()
        fail(f"setting {name} is invalid: {err['msg']}")


__all__ = ["configured_directory", "fail", "load_settings"]
