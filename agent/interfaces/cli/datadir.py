"""The data directory: refuse to open one that does not exist or is not ours.

A mistyped ``--data-dir`` used to create empty state silently (``audit verify`` then reported
"intact: 0 entries"). Only the commands that create state (``seed``, ``demo``, ``sql generate``)
may create the directory; every other command needs an existing one that is empty (made for
us) or already holds Chamberlain state.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

MARKER = ".chamberlain-data"
# What a data dir written by any version holds (older ones have no marker yet).
_OURS = frozenset({MARKER, "app.db", "checkpoints.db", "crm.db", "warehouse.db", "knowledge", "artifacts", "handbook"})


class DataDirError(Exception):
    """The data directory cannot be used; the message says what to do."""


def _mark(path: Path) -> None:
    with contextlib.suppress(OSError):  # read-only is fine for commands that only read
        (path / MARKER).write_text("Chamberlain data directory\n", encoding="utf-8")


def check_data_dir(path: Path, *, create: bool = False) -> Path:
    """``path`` if it is usable (creating it when ``create``); else :class:`DataDirError`."""
    shown = str(path)
    if path.exists() and not path.is_dir():
        raise DataDirError(
            f"data directory {shown} is a file, not a directory; "
            "pass a directory with --data-dir (or CHAMBERLAIN_DATA_DIR)"
        )
    if not path.exists():
        if create:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DataDirError(f"cannot create data directory {shown}: {exc.strerror or exc}") from None
            _mark(path)
            return path
        raise DataDirError(
            f"data directory {shown} does not exist; create it with `chamberlain seed --data-dir {shown}` "
            "(demo data) or `mkdir`, or fix --data-dir / CHAMBERLAIN_DATA_DIR"
        )
    try:
        names = {p.name for p in path.iterdir()}
    except OSError as exc:
        raise DataDirError(f"cannot read data directory {shown}: {exc.strerror or exc}") from None
    if not names or names & _OURS:
        if MARKER not in names:
            _mark(path)
        return path
    raise DataDirError(
        f"{shown} is not a Chamberlain data directory (it holds other files); "
        "point --data-dir at the directory `chamberlain seed` created, or at a new or empty one"
    )


__all__ = ["MARKER", "DataDirError", "check_data_dir"]
