"""Demo-warehouse fixtures shared by the analytics tests (import the fixtures you use).

The SQLite warehouse is generated once per test session (full size, ~2 s) and opened read-only
by the tests; the PostgreSQL one is a small-scale load into its own database on the session's
private server, read through a role that may only SELECT.
"""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from connectors.demo.warehouse_gen import WarehouseStats, generate_warehouse, load_postgres
from policies.directory import Directory

SEED = 7
PG_SCALE = 0.05
PG_DB = "warehouse_test"
PG_ROLE = "chamberlain_ro"

_lock = threading.Lock()
_sqlite: dict[Path, WarehouseStats] = {}
_pg: dict[str, tuple[str, str]] = {}


@pytest.fixture(scope="session")
def demo_warehouse_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full demo warehouse (SQLite), generated once per session."""
    path = tmp_path_factory.getbasetemp() / "warehouse" / "demo.sqlite"
    with _lock:
        if path not in _sqlite:
            _sqlite[path] = generate_warehouse(path, people=Directory.load(), seed=SEED)
    return path


@pytest.fixture(scope="session")
def demo_warehouse_url(demo_warehouse_path: Path) -> str:
    return f"sqlite:///{demo_warehouse_path}"


@pytest.fixture(scope="session")
def pg_warehouse(postgres_url: str) -> tuple[str, str]:
    """(admin URL, read-only URL) of a small demo warehouse in PostgreSQL."""
    with _lock:
        if postgres_url not in _pg:
            _pg[postgres_url] = _setup_pg(postgres_url)
    return _pg[postgres_url]


def _setup_pg(admin_url: str) -> tuple[str, str]:
    base, _, _ = admin_url.rpartition("/")
    with psycopg.connect(admin_url, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {PG_DB}")  # type: ignore[arg-type]
        con.execute(f"CREATE DATABASE {PG_DB}")  # type: ignore[arg-type]
        exists = con.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PG_ROLE,)).fetchone()
        if not exists:
            con.execute(f"CREATE ROLE {PG_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT")  # type: ignore[arg-type]
    db_admin = f"{base}/{PG_DB}"
    load_postgres(db_admin, people=Directory.load(), seed=SEED, scale=PG_SCALE)
    with psycopg.connect(db_admin, autocommit=True) as con:
        # The documented read-only role (connectors.warehouse.POSTGRES_READONLY_ROLE_SQL).
        for stmt in (
            f"ALTER ROLE {PG_ROLE} SET default_transaction_read_only = on",
            "REVOKE ALL ON SCHEMA public FROM PUBLIC",
            f"REVOKE TEMPORARY ON DATABASE {PG_DB} FROM PUBLIC",
            f"GRANT CONNECT ON DATABASE {PG_DB} TO {PG_ROLE}",
            f"GRANT USAGE ON SCHEMA public TO {PG_ROLE}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {PG_ROLE}",
        ):
            con.execute(stmt)  # type: ignore[arg-type]
    ro = db_admin.replace("postgres@", f"{PG_ROLE}@", 1)
    return db_admin, ro
