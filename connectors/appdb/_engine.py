"""Engines for the app database: SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from connectors.appdb._schema import metadata


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` and make sure the tables exist.

    SQLite runs in WAL mode with a busy timeout so several threads/processes can share it.
    ``postgresql://`` URLs use psycopg 3.
    """
    u = make_url(url)
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    kwargs: dict[str, Any] = {"future": True}
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        kwargs["poolclass"] = NullPool
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(u, **kwargs)
    if u.get_backend_name() == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _rec: Any) -> None:
            # Let SQLAlchemy's "begin" issue BEGIN IMMEDIATE so read-modify-write
            # transactions serialise instead of failing on upgrade.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

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
