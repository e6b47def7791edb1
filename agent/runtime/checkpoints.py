"""LangGraph checkpointers: SQLite by default, PostgreSQL for scale-out, memory for tests."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from sqlalchemy.engine import make_url


class Checkpointer(AbstractContextManager["Checkpointer"]):
    """Owns a saver and whatever connection (pool) it needs; ``close()`` releases it."""

    def __init__(self, saver: BaseCheckpointSaver[Any], closer: Callable[[], None] | None = None) -> None:
        self.saver = saver
        self._closer = closer

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None

    def __exit__(self, *exc: object) -> None:
        self.close()


# Any constant: the advisory lock held while the PostgreSQL checkpointer creates its tables.
_SETUP_LOCK = 0x63686B70


def _try_lock(conn: Any) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (_SETUP_LOCK,)).fetchone()
    return bool(row and row["ok"])


def open_checkpointer(url: str) -> Checkpointer:
    """``memory://``, ``sqlite:///path`` or ``postgresql://...``."""
    if url.startswith("memory:"):
        return Checkpointer(InMemorySaver())
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver

        path = u.database or ":memory:"
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        # A graph step commits several times; with WAL, NORMAL syncs at checkpoints instead of
        # every commit, and a commit still survives kill -9 (see connectors/appdb/_engine.py).
        conn.execute("PRAGMA synchronous=NORMAL")
        saver = SqliteSaver(conn)
        saver.setup()
        return Checkpointer(saver, conn.close)
    if backend == "postgresql":
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        conninfo = u.set(drivername="postgresql").render_as_string(hide_password=False)
        pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=8,
            kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": 0},
            open=True,
        )
        pg_saver = PostgresSaver(pool)  # type: ignore[arg-type]
        # N processes starting at once on a fresh database would race in the saver's migrations
        # (a unique violation on checkpoint_migrations): run them one process at a time.
        # Poll with try-lock: a session blocked in pg_advisory_lock would hold a snapshot, and the
        # migrations' CREATE INDEX CONCURRENTLY waits for every snapshot (a deadlock).
        with pool.connection() as lock_conn:
            while not _try_lock(lock_conn):
                time.sleep(0.05)
            try:
                pg_saver.setup()
            finally:
                lock_conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
        return Checkpointer(pg_saver, pool.close)
    raise ValueError(f"unsupported checkpoint URL {url!r}: use sqlite:///PATH, postgresql://... or memory://")


__all__ = ["Checkpointer", "open_checkpointer"]
