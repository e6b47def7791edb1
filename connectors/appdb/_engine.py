"""Engines for the app database: SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from connectors.appdb._schema import metadata

# Enough pooled connections for the HTTP API's worker threads plus background workers; beyond
# that a caller waits for a free connection rather than opening ever more file handles.
_SQLITE_POOL_SIZE = 8
_SQLITE_MAX_OVERFLOW = 24


class _SQLiteConnection(Connection):
    """Marks transactions begun implicitly (``engine.connect()`` then a read) as read-only.

    The house convention: ``engine.begin()`` for anything that writes, ``engine.connect()`` for
    reads. Writers start with ``BEGIN IMMEDIATE`` (read-modify-write transactions serialise
    instead of failing on lock upgrade); readers start a deferred ``BEGIN``, which in WAL mode
    reads a snapshot and never waits for, or blocks, a writer.
    """

    _implicit_begin = False

    def _autobegin(self) -> None:
        self._implicit_begin = True
        try:
            super()._autobegin()
        finally:
            self._implicit_begin = False


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` and make sure the tables exist.

    SQLite runs in WAL mode with ``synchronous=NORMAL`` (a commit survives a killed process; only
    an OS crash or power cut can lose the last commits, never corrupt the file), a busy timeout,
    and a connection pool. ``postgresql://`` URLs use psycopg 3.
    """
    u = make_url(url)
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    kwargs: dict[str, Any] = {}
    sqlite = u.get_backend_name() == "sqlite"
    if sqlite:
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
            # Opening a connection costs ~1 ms plus the pragmas; closing one checkpoints the WAL.
            # A pool pays both once per connection instead of once per transaction.
            kwargs["pool_size"] = _SQLITE_POOL_SIZE
            kwargs["max_overflow"] = _SQLITE_MAX_OVERFLOW
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(u, **kwargs)
    if sqlite:
        engine._connection_cls = _SQLiteConnection

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _rec: Any) -> None:
            # isolation_level=None: pysqlite issues no BEGIN of its own; the "begin" hook does.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL syncs at checkpoints, not at every commit: a commit is still
            # atomic and survives kill -9 (the exactly-once tests prove it), at a fraction of
            # the cost of FULL.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # On the driver connection: a BEGIN needs no statement machinery (see _prepared.py).
            sql = "BEGIN" if getattr(conn, "_implicit_begin", False) else "BEGIN IMMEDIATE"
            try:
                conn.connection.dbapi_connection.execute(sql)
            except sqlite3.Error as e:  # e.g. "database is locked" past the busy timeout
                raise DBAPIError.instance(sql, (), e, sqlite3.Error, dialect=conn.dialect) from e

    create_tables(engine, metadata)
    return engine


# Any constant: the advisory lock every process takes while it creates tables.
_DDL_LOCK = 0x6368616D626C6E


def create_tables(engine: Engine, md: MetaData) -> None:
    """``md.create_all`` that N processes starting at once on one PostgreSQL cannot race:
    concurrent CREATE TABLEs would otherwise collide in the catalog (``pg_type`` unique
    violation). On PostgreSQL the DDL runs under a transaction-scoped advisory lock."""
    if engine.dialect.name != "postgresql":
        md.create_all(engine)
        return
    with engine.begin() as c:
        c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _DDL_LOCK})
        md.create_all(c)
