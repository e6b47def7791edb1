"""The SQL warehouse: read-only SQLAlchemy connections, schema introspection, bounded queries.

Read-only is enforced by the database, not only by the SQL guard in front of it:

- SQLite: opened ``file:...?mode=ro`` with ``PRAGMA query_only=ON``, extension loading off, an
  authorizer that refuses every write, DDL, ``ATTACH``, setting pragmas and file/extension
  functions, and a progress handler that interrupts a query past its timeout.
- PostgreSQL: every session starts with ``default_transaction_read_only=on`` and a
  ``statement_timeout``; every query runs in a ``READ ONLY`` transaction that is rolled back.
  Connect as a role that can only ``SELECT`` (see :data:`POSTGRES_READONLY_ROLE_SQL`).
- MySQL (best effort, untested here): ``SET SESSION TRANSACTION READ ONLY`` and
  ``max_execution_time`` on connect; use a user with only ``SELECT`` grants.

Driver exceptions are translated into :mod:`connectors.errors` at this boundary.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, NoSuchModuleError, SQLAlchemyError

from connectors.errors import ConnectorAuthError, ConnectorUnavailable, InvalidRequest
from connectors.warehouse_role import guard_warehouse_url

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_ROWS = 1000
COMMENTS_TABLE = "_column_comments"
MAX_VALUE_BYTES = 10_000_000

# The read-only role to create for the assistant in PostgreSQL (run as an administrator).
POSTGRES_READONLY_ROLE_SQL = """\
CREATE ROLE chamberlain_ro LOGIN PASSWORD 'change-me'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION;
ALTER ROLE chamberlain_ro SET default_transaction_read_only = on;
ALTER ROLE chamberlain_ro SET statement_timeout = '10s';
REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM chamberlain_ro;
GRANT CONNECT ON DATABASE warehouse TO chamberlain_ro;
GRANT USAGE ON SCHEMA public TO chamberlain_ro;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO chamberlain_ro;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO chamberlain_ro;
REVOKE TEMPORARY ON DATABASE warehouse FROM PUBLIC;
"""


# --------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    nullable: bool = True
    primary_key: bool = False
    comment: str = ""
    references: str | None = None  # "table.column" for a foreign key


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: tuple[ColumnInfo, ...]
    comment: str = ""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnInfo | None:
        return next((c for c in self.columns if c.name.lower() == name.lower()), None)


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    types: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool
    elapsed_ms: float
    sql: str = ""

    @property
    def row_count(self) -> int:
        return len(self.rows)


class QueryFailed(InvalidRequest):
    """The database rejected or cancelled a query; the message is safe to show the model."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


@runtime_checkable
class Warehouse(Protocol):
    """What the analytics tools need from a warehouse."""

    @property
    def dialect(self) -> str: ...

    def tables(self, *, refresh: bool = False) -> Mapping[str, TableInfo]: ...

    def run(self, sql: str, *, max_rows: int = DEFAULT_MAX_ROWS, timeout_s: float | None = None) -> QueryResult: ...


# --------------------------------------------------------------------------------------------
# SQLite: read-only connection


_SQLITE_READ_PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list",
     "database_list", "collation_list", "table_list"}
)  # fmt: skip
# Settings that may be read (never assigned): SQLAlchemy reads read_uncommitted on connect.
_SQLITE_QUERY_PRAGMAS = frozenset({"read_uncommitted", "query_only", "foreign_keys", "encoding"})
_SQLITE_DENIED_FUNCTIONS = frozenset(
    {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "sqlite_dbpage"}
)


def _sqlite_query_authorizer(
    action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None
) -> int:
    """For model queries: reads of user tables only (no catalog, no pragmas)."""
    if action == sqlite3.SQLITE_READ and (arg1 or "").lower().startswith("sqlite_"):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _SQLITE_READ_PRAGMAS:
        return sqlite3.SQLITE_DENY
    return _sqlite_authorizer(action, arg1, arg2, db, source)


def _sqlite_authorizer(action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None) -> int:
    """For introspection: reads, including the catalog and introspection pragmas."""
    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        return sqlite3.SQLITE_DENY if (arg2 or "").lower() in _SQLITE_DENIED_FUNCTIONS else sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_TRANSACTION:
        return sqlite3.SQLITE_OK  # BEGIN/ROLLBACK change nothing on a read-only file
    if action == sqlite3.SQLITE_PRAGMA:
        # Introspection pragmas read; anything else (or a pragma assignment) is refused.
        name = (arg1 or "").lower()
        if name in _SQLITE_READ_PRAGMAS or (arg2 is None and name in _SQLITE_QUERY_PRAGMAS):
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_DENY  # writes, DDL, ATTACH/DETACH, ANALYZE, REINDEX, savepoints, ...


def connect_sqlite_readonly(path: str | Path) -> sqlite3.Connection:
    """A sqlite3 connection that cannot change anything (file opened ``mode=ro``)."""
    p = Path(path).resolve()
    if not p.exists():
        raise ConnectorUnavailable(f"warehouse file {p} does not exist; generate it first")
    con = sqlite3.connect(f"{p.as_uri()}?mode=ro", uri=True, check_same_thread=False)
    con.execute("PRAGMA query_only = ON")
    # No single value may exceed 10 MB (randomblob(1e9), huge group_concat, ...).
    con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    con.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    if hasattr(con, "enable_load_extension"):  # absent when Python was built without it
        con.enable_load_extension(False)
    con.set_authorizer(_sqlite_query_authorizer)
    return con


# --------------------------------------------------------------------------------------------
# The real warehouse


@dataclass
class _SchemaCache:
    tables: dict[str, TableInfo] = field(default_factory=dict)
    loaded_at: float = -math.inf


class SqlWarehouse:
    """A read-only SQL warehouse reached through a SQLAlchemy URL.

    ``sqlite:///path/to/demo.sqlite``, ``postgresql://user@host/db`` (psycopg 3) or
    ``mysql+pymysql://...``. Schema introspection is cached for ``schema_ttl_s`` seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_rows: int = DEFAULT_MAX_ROWS,
        schema_ttl_s: float = 300.0,
        pg_schema: str = "public",
        allow_writable_role: bool = False,
    ) -> None:
        url = guard_warehouse_url(url, allow_writable_role=allow_writable_role)  # read-only is a promise
        self.url = url
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.schema_ttl_s = schema_ttl_s
        self.pg_schema = pg_schema
        self._lock = threading.Lock()
        self._cache = _SchemaCache()
        self._engine = self._make_engine(url)

    # -- construction ---------------------------------------------------------------------

    def _make_engine(self, url: str) -> sa.Engine:
        try:
            u = make_url(url)
        except SQLAlchemyError as exc:
            raise InvalidRequest(f"not a database URL: {url!r}") from exc
        backend = u.get_backend_name()
        try:
            if backend == "sqlite":
                if not u.database or u.database == ":memory:":
                    raise InvalidRequest("a SQLite warehouse needs a file: sqlite:///path/to/warehouse.sqlite")
                path = u.database
                self._dialect = "sqlite"
                return sa.create_engine(
                    "sqlite://", creator=lambda: connect_sqlite_readonly(path), poolclass=sa.pool.QueuePool
                )
            if backend == "postgresql":
                if u.drivername in ("postgresql", "postgres"):
                    u = u.set(drivername="postgresql+psycopg")
                self._dialect = "postgres"
                ms = int(self.timeout_s * 1000)
                options = f"-c default_transaction_read_only=on -c statement_timeout={ms} -c lock_timeout=2000"
                engine = sa.create_engine(
                    u, connect_args={"options": options, "connect_timeout": 10}, pool_pre_ping=True
                )

                @event.listens_for(engine, "checkin")
                def _discard(dbapi_con: Any, record: Any) -> None:
                    # Drop whatever session state a query left (advisory locks, settings, ...).
                    if dbapi_con is None:
                        return
                    try:
                        dbapi_con.autocommit = True
                        dbapi_con.execute("DISCARD ALL")
                        dbapi_con.autocommit = False
                    except Exception:
                        record.invalidate()

                return engine
            if backend == "mysql":
                self._dialect = "mysql"
                engine = sa.create_engine(u, pool_pre_ping=True)
                ms = int(self.timeout_s * 1000)

                @event.listens_for(engine, "connect")
                def _readonly(dbapi_con: Any, _record: Any) -> None:
                    cur = dbapi_con.cursor()
                    cur.execute("SET SESSION TRANSACTION READ ONLY")
                    cur.execute(f"SET SESSION max_execution_time = {ms}")
                    cur.close()

                return engine
        except NoSuchModuleError as exc:
            raise InvalidRequest(f"no database driver for {u.drivername!r}; install it or use another URL") from exc
        raise InvalidRequest(f"unsupported warehouse database {backend!r}; use sqlite, postgresql or mysql")

    @property
    def dialect(self) -> str:
        return self._dialect

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> SqlWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------------------

    def tables(self, *, refresh: bool = False) -> Mapping[str, TableInfo]:
        """Tables (name → info), cached; ``refresh=True`` or an expired cache re-reads them."""
        with self._lock:
            fresh = time.monotonic() - self._cache.loaded_at < self.schema_ttl_s
            if refresh or not fresh:
                self._cache = _SchemaCache(self._introspect(), time.monotonic())
            return dict(self._cache.tables)

    def refresh(self) -> None:
        self.tables(refresh=True)

    def _introspect(self) -> dict[str, TableInfo]:
        schema = self.pg_schema if self._dialect == "postgres" else None
        try:
            with self._engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                if self._dialect == "sqlite":
                    raw.set_authorizer(_sqlite_authorizer)  # type: ignore[union-attr]
                try:
                    return self._read_schema(conn, schema)
                finally:
                    if self._dialect == "sqlite":
                        raw.set_authorizer(_sqlite_query_authorizer)  # type: ignore[union-attr]
        except DBAPIError as exc:
            raise _translate(exc, self.timeout_s) from exc

    def _read_schema(self, conn: sa.Connection, schema: str | None) -> dict[str, TableInfo]:
        insp = sa.inspect(conn)
        names = [n for n in insp.get_table_names(schema=schema) if not n.startswith("_")]
        comments = self._sqlite_comments(conn) if self._dialect == "sqlite" else {}
        out: dict[str, TableInfo] = {}
        for name in sorted(names):
            pk = set(insp.get_pk_constraint(name, schema=schema).get("constrained_columns") or ())
            refs: dict[str, str] = {}
            for fk in insp.get_foreign_keys(name, schema=schema):
                for c, rc in zip(fk["constrained_columns"], fk["referred_columns"], strict=False):
                    refs[c] = f"{fk['referred_table']}.{rc}"
            cols = tuple(
                ColumnInfo(
                    name=c["name"],
                    type=str(c["type"]).lower(),
                    nullable=bool(c.get("nullable", True)) and c["name"] not in pk,
                    primary_key=c["name"] in pk,
                    comment=c.get("comment") or comments.get((name, c["name"]), ""),
                    references=refs.get(c["name"]),
                )
                for c in insp.get_columns(name, schema=schema)
            )
            if self._dialect == "sqlite":
                table_comment = comments.get((name, ""), "")
            else:
                table_comment = (insp.get_table_comment(name, schema=schema) or {}).get("text") or ""
            out[name] = TableInfo(name, cols, table_comment)
        return out

    @staticmethod
    def _sqlite_comments(conn: sa.Connection) -> dict[tuple[str, str], str]:
        exists = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (COMMENTS_TABLE,)
        ).first()
        if not exists:
            return {}
        rows = conn.exec_driver_sql(f"SELECT table_name, column_name, comment FROM {COMMENTS_TABLE}")
        return {(t, c): text for t, c, text in rows}

    # -- queries --------------------------------------------------------------------------

    def run(self, sql: str, *, max_rows: int | None = None, timeout_s: float | None = None) -> QueryResult:
        """Run one (already guarded) query; at most ``max_rows`` rows come back.

        Raises :class:`QueryFailed` with the database's message when the database refuses or
        cancels the query, :class:`ConnectorUnavailable` when it cannot be reached.
        """
        cap = self.max_rows if max_rows is None else max_rows
        timeout = self.timeout_s if timeout_s is None else timeout_s
        started = time.perf_counter()
        try:
            conn = self._engine.connect()
        except DBAPIError as exc:
            raise _translate(exc, timeout) from exc
        with conn:
            raw: Any = conn.connection.dbapi_connection
            if raw is None:
                raise ConnectorUnavailable("the warehouse connection was closed; try again")
            if self._dialect == "sqlite":
                deadline = time.monotonic() + timeout
                raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 2000)
            dbapi = self._engine.dialect.loaded_dbapi
            try:
                conn.begin()
                if self._dialect == "postgres":
                    conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(timeout * 1000))}")
                # The driver's own cursor, without parameters: a '%' or ':x' in the SQL is text,
                # never a placeholder for the driver to expand.
                cur = raw.cursor()
                try:
                    cur.execute(sql)
                    if cur.description is None:
                        raise QueryFailed("the statement returned no rows; only queries may run")
                    columns = tuple(str(d[0]) for d in cur.description)
                    fetched = list(cur.fetchmany(cap + 1))
                finally:
                    cur.close()
                conn.rollback()
            except (DBAPIError, dbapi.Error, dbapi.Warning) as exc:
                # The session may be in any state (e.g. a COPY in progress): never reuse it.
                with contextlib.suppress(Exception):
                    conn.invalidate()
                raise _translate(exc, timeout) from exc
            except QueryFailed:
                conn.rollback()
                raise
            finally:
                if self._dialect == "sqlite" and not conn.invalidated:
                    raw.set_progress_handler(None, 0)
        truncated = len(fetched) > cap
        rows = tuple(tuple(_plain(v) for v in row) for row in fetched[:cap])
        elapsed = (time.perf_counter() - started) * 1000
        return QueryResult(columns, _infer_types(columns, rows), rows, truncated, round(elapsed, 2), sql)


def _plain(value: Any) -> Any:
    """Database values as JSON-friendly Python values."""
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    if isinstance(value, (datetime, date, dtime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return value


def _infer_types(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> tuple[str, ...]:
    out = []
    for i in range(len(columns)):
        kinds = {_kind(r[i]) for r in rows if r[i] is not None}
        if not kinds:
            out.append("null")
        elif kinds <= {"integer"}:
            out.append("integer")
        elif kinds <= {"integer", "number"}:
            out.append("number")
        elif len(kinds) == 1:
            out.append(kinds.pop())
        else:
            out.append("text")
    return tuple(out)


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str) and len(v) == 10 and v[4:5] == "-" and v[7:8] == "-" and v[:4].isdigit():
        return "date"
    return "text"


def _translate(exc: Exception, timeout_s: float) -> Exception:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    message = str(orig).strip().splitlines()[0] if orig is not None and str(orig).strip() else str(exc)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)
    lowered = message.lower()
    if "interrupted" in lowered or sqlstate == "57014" or "statement timeout" in lowered:
        return QueryFailed(
            f"the query was cancelled after the {timeout_s:g} s time limit; make it cheaper "
            "(filter dates, aggregate, avoid cross joins)",
            timed_out=True,
        )
    if sqlstate in ("28P01", "28000") or "password authentication failed" in lowered:
        return ConnectorAuthError(f"the warehouse rejected our credentials: {message}")
    invalidated = isinstance(exc, DBAPIError) and exc.connection_invalidated
    interface = isinstance(exc, sa.exc.InterfaceError) or type(orig).__name__ == "InterfaceError"
    if invalidated or interface or (sqlstate and str(sqlstate).startswith(("08", "57P"))):
        return ConnectorUnavailable(f"the warehouse is unreachable: {message}")
    if type(orig).__name__ == "OperationalError" and (
        "could not connect" in lowered or "connection refused" in lowered or "unable to open" in lowered
    ):
        return ConnectorUnavailable(f"the warehouse is unreachable: {message}")
    return QueryFailed(f"the database rejected the query: {message}")


__all__ = [
    "COMMENTS_TABLE",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_TIMEOUT_S",
    "POSTGRES_READONLY_ROLE_SQL",
    "ColumnInfo",
    "QueryFailed",
    "QueryResult",
    "SqlWarehouse",
    "TableInfo",
    "Warehouse",
    "connect_sqlite_readonly",
]
