"""The SQL warehouse: read-only SQLAlchemy connections, schema introspection, bounded queries.

Read-only, the asker's columns and the query's resources are enforced by the database, not
only by the SQL guard in front of it:

- SQLite: each query runs in a worker process (:mod:`connectors.query_workers`) killed at
  its deadline plus a grace period, under ``RLIMIT_AS``, ``PRAGMA hard_heap_limit`` and lowered
  ``SQLITE_LIMIT_*``; the file is opened ``mode=ro`` with ``PRAGMA query_only=ON`` and an
  authorizer that refuses every write, DDL, ``ATTACH``, pragma and risky function, and every
  read of a (table, column) outside the asker's :class:`ReadScope`. The result is capped in
  bytes while it is fetched.
- PostgreSQL: every session starts with ``default_transaction_read_only=on`` and a
  ``statement_timeout``; every query runs in a ``READ ONLY`` transaction that is rolled back,
  with ``SET LOCAL ROLE`` to the asker's data-access role (column-level grants made by
  ``chamberlain sql roles``), a ``work_mem`` bound, a client-side cancel at the deadline and
  the backend terminated if it outlives the grace period; fetched through a server-side
  cursor with the same byte cap.
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
from connectors.query_workers import SqliteWorkerPool, WorkerKilled, default_pool
from connectors.warehouse_role import guard_warehouse_url

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_ROWS = 1000
COMMENTS_TABLE = "_column_comments"
MAX_VALUE_BYTES = 1_000_000  # the longest string/blob a query may build (SQLite)
MAX_RESULT_BYTES = 16 << 20  # a result is cut here while it is fetched
PG_WORK_MEM = "32MB"  # per sort/hash node of one query

# The read-only login role to create for the assistant in PostgreSQL (run as an administrator).
# Then `chamberlain sql roles --apply --url ...` adds one role per data-access profile with
# column grants, strips this role's own table privileges and lets it SET ROLE to each.
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
class ColumnRule:
    """Readable columns of one table: all (``columns is None``), some, or all but ``excluded``."""

    columns: frozenset[str] | None = None
    excluded: frozenset[str] = frozenset()

    def allows(self, column: str) -> bool:
        c = column.lower()
        return (self.columns is None or c in self.columns) and c not in self.excluded


@dataclass(frozen=True)
class ReadScope:
    """What one asker may read, for the database to enforce (as well as the SQL guard).

    ``tables=None`` means every non-system table. ``pg_role`` is the PostgreSQL role holding
    exactly these grants; the query runs under ``SET LOCAL ROLE`` to it.
    """

    tables: Mapping[str, ColumnRule] | None = None
    pg_role: str | None = None

    def to_wire(self) -> dict[str, Any] | None:
        if self.tables is None:
            return None
        return {
            t.lower(): {
                "columns": None if r.columns is None else sorted(r.columns),
                "excluded": sorted(r.excluded),
            }
            for t, r in self.tables.items()
        }

    def refusal(self, table: str, column: str) -> str:
        """One line for a read the database refused."""
        t, c = table.lower(), column.lower()
        if t.startswith("sqlite_"):
            return f"system catalog {t} is not readable"
        if self.tables is not None and t not in self.tables:
            return f"table {t} is not readable by you"
        return f"{t}.{c} is not readable for your role; leave it out, or ask someone whose role may read it"


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    types: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool
    elapsed_ms: float
    sql: str = ""
    truncated_by: str = ""  # "rows" (the row cap) or "bytes" (the result byte cap)

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

    def run(
        self,
        sql: str,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_s: float | None = None,
        scope: ReadScope | None = None,
    ) -> QueryResult: ...


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
        pool: SqliteWorkerPool | None = None,
        grace_s: float | None = None,
        pg_roles: bool = True,
        allow_writable_role: bool = False,
    ) -> None:
        url = guard_warehouse_url(url, allow_writable_role=allow_writable_role)  # read-only is a promise
        self.url = url
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.schema_ttl_s = schema_ttl_s
        self.pg_schema = pg_schema
        self.pg_roles = pg_roles  # run PostgreSQL queries under SET ROLE to the asker's scope role
        self._pool = pool  # None: the process-wide pool (connectors.query_workers.default_pool)
        self._grace_s = grace_s
        self._sqlite_path = ""
        self.last_worker_rss_kb = 0  # peak RSS of the worker that ran the last SQLite query
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
                self._sqlite_path = str(Path(path).resolve())
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

    def run(
        self,
        sql: str,
        *,
        max_rows: int | None = None,
        timeout_s: float | None = None,
        scope: ReadScope | None = None,
    ) -> QueryResult:
        """Run one (already guarded) query as the asker whose reads ``scope`` allows.

        At most ``max_rows`` rows and :data:`MAX_RESULT_BYTES` come back; the query is stopped
        at ``timeout_s`` (killed or terminated shortly after if it does not stop by itself).
        Raises :class:`QueryFailed` with a one-line reason when the database refuses or
        cancels the query, :class:`ConnectorUnavailable` when it cannot be reached.
        """
        cap = self.max_rows if max_rows is None else max_rows
        timeout = self.timeout_s if timeout_s is None else timeout_s
        if self._dialect == "sqlite":
            return self._run_sqlite(sql, cap, timeout, scope or ReadScope())
        return self._run_server(sql, cap, timeout, scope)

    def grace_s(self, timeout_s: float) -> float:
        """How long past its deadline a query may take to stop before it is killed."""
        if self._grace_s is not None:
            return self._grace_s
        return min(2.0, max(0.25, timeout_s / 2))

    def _run_sqlite(self, sql: str, cap: int, timeout: float, scope: ReadScope) -> QueryResult:
        started = time.perf_counter()
        if not Path(self._sqlite_path).exists():
            raise ConnectorUnavailable(f"warehouse file {self._sqlite_path} does not exist; generate it first")
        pool = self._pool or default_pool()
        job = {"path": self._sqlite_path, "sql": sql, "max_rows": cap, "scope": scope.to_wire()}
        try:
            reply = pool.run(job, timeout_s=timeout, grace_s=self.grace_s(timeout))
        except WorkerKilled as exc:
            if exc.timed_out:
                raise _timeout_error(timeout) from None
            raise QueryFailed(
                "the query was stopped: it needed more memory than a warehouse query may use; aggregate or filter more"
            ) from None
        self.last_worker_rss_kb = int(reply.get("rss_kb") or 0)
        if not reply["ok"]:
            kind, message = reply.get("kind"), str(reply.get("error") or "")
            if kind == "denied":
                table, column = reply["denied"]
                raise QueryFailed(scope.refusal(table, column))
            if kind == "timeout":
                raise _timeout_error(timeout)
            if kind == "memory":
                raise QueryFailed(
                    f"the query needed more memory than a warehouse query may use ({message.removeprefix('the ')}); "
                    "aggregate or filter more"
                )
            if kind == "unavailable":
                raise ConnectorUnavailable(message)
            if "no rows" in message:
                raise QueryFailed(message)
            raise QueryFailed(f"the database rejected the query: {message}")
        columns = tuple(reply["columns"])
        fetched = reply["rows"]
        capped = str(reply.get("capped") or "")
        rows = tuple(tuple(row) for row in fetched[:cap])
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        truncated = bool(capped)
        return QueryResult(columns, _infer_types(columns, rows), rows, truncated, elapsed, sql, capped)

    def _run_server(self, sql: str, cap: int, timeout: float, scope: ReadScope | None) -> QueryResult:
        if self._dialect != "postgres":
            return self._run_server_inline(sql, cap, timeout, scope)
        # The query runs on a thread the caller does not wait for past the deadline: a backend
        # busy in one call that checks for no interrupt (array_fill(1, ARRAY[1e8]), ...)
        # ignores both cancel and terminate until the call returns. The caller gets its answer
        # at the deadline plus the grace; the thread hands the connection back (invalidated)
        # when the backend lets go.
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["result"] = self._run_server_inline(sql, cap, timeout, scope)
            except BaseException as exc:  # handed to the caller below
                box["error"] = exc

        thread = threading.Thread(target=work, name="warehouse-query", daemon=True)
        thread.start()
        thread.join(timeout + self.grace_s(timeout) + 1.0)
        if thread.is_alive():
            raise _timeout_error(timeout)
        if "error" in box:
            raise box["error"]
        result: QueryResult = box["result"]
        return result

    def _run_server_inline(self, sql: str, cap: int, timeout: float, scope: ReadScope | None) -> QueryResult:
        started = time.perf_counter()
        try:
            conn = self._engine.connect()
        except DBAPIError as exc:
            raise _translate(exc, timeout) from exc
        stopper: _Stopper | None = None
        with conn:
            raw: Any = conn.connection.dbapi_connection
            if raw is None:
                raise ConnectorUnavailable("the warehouse connection was closed; try again")
            dbapi = self._engine.dialect.loaded_dbapi
            try:
                conn.begin()
                if self._dialect == "postgres":
                    conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(timeout * 1000))}")
                    conn.exec_driver_sql(f"SET LOCAL work_mem = '{PG_WORK_MEM}'")
                    conn.exec_driver_sql("SET LOCAL idle_in_transaction_session_timeout = 60000")
                    if scope is not None and scope.pg_role and self.pg_roles:
                        quoted = self._engine.dialect.identifier_preparer.quote(scope.pg_role)
                        conn.exec_driver_sql(f"SET LOCAL ROLE {quoted}")
                    stopper = _Stopper(self, raw, timeout)
                    # A server-side cursor: rows come in batches, so the byte cap holds while
                    # fetching instead of after libpq has buffered the whole result.
                    cur = raw.cursor(name="chamberlain_query")
                else:
                    cur = raw.cursor()
                # The driver's own cursor, without parameters: a '%' or ':x' in the SQL is text,
                # never a placeholder for the driver to expand.
                try:
                    cur.execute(sql)
                    if cur.description is None:
                        raise QueryFailed("the statement returned no rows; only queries may run")
                    columns = tuple(str(d[0]) for d in cur.description)
                    fetched, capped = _fetch_capped(cur, cap, MAX_RESULT_BYTES)
                finally:
                    with contextlib.suppress(Exception):
                        cur.close()
                if stopper is not None:
                    stopper.done()
                conn.rollback()
            except (DBAPIError, dbapi.Error, dbapi.Warning) as exc:
                # The session may be in any state (e.g. a COPY in progress): never reuse it.
                with contextlib.suppress(Exception):
                    conn.invalidate()
                if stopper is not None and stopper.fired:
                    raise _timeout_error(timeout) from exc
                raise _translate(exc, timeout, scope) from exc
            except QueryFailed:
                with contextlib.suppress(Exception):
                    conn.rollback()
                raise
            finally:
                if stopper is not None:
                    stopper.done()
        rows = tuple(tuple(_plain(v) for v in row) for row in fetched[:cap])
        elapsed = (time.perf_counter() - started) * 1000
        return QueryResult(columns, _infer_types(columns, rows), rows, bool(capped), round(elapsed, 2), sql, capped)


def _fetch_capped(cur: Any, cap: int, max_bytes: int) -> tuple[list[Any], str]:
    """Up to ``cap + 1`` rows and ``max_bytes``, counted while fetching; and what cut it."""
    rows: list[Any] = []
    size = 0
    while True:
        batch = cur.fetchmany(min(256, cap + 1 - len(rows)) or 1)
        if not batch:
            return rows, ""
        for row in batch:
            size += sum(_value_size(v) for v in row)
            if size > max_bytes:
                return rows, "bytes"
            rows.append(row)
            if len(rows) > cap:
                return rows, "rows"


def _value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value) if value.isascii() else 4 * len(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return 2 * len(value)
    return 8


class _Stopper:
    """Cancels a PostgreSQL query at its deadline and terminates its backend after the grace.

    ``statement_timeout`` is the server's own bound; this is the client's, for a backend that
    does not stop (a function that ignores cancels, a cursor fetched batch by batch).
    """

    def __init__(self, wh: SqlWarehouse, raw: Any, timeout: float) -> None:
        self.fired = False
        self._raw = raw
        self._wh = wh
        self._pid = int(raw.info.backend_pid)
        self._cancel = threading.Timer(timeout, self._on_deadline)
        self._kill = threading.Timer(timeout + wh.grace_s(timeout), self._on_grace)
        for t in (self._cancel, self._kill):
            t.daemon = True
            t.start()

    def done(self) -> None:
        self._cancel.cancel()
        self._kill.cancel()

    def _on_deadline(self) -> None:
        self.fired = True
        with contextlib.suppress(Exception):
            cancel = getattr(self._raw, "cancel_safe", None) or self._raw.cancel
            cancel()

    def _on_grace(self) -> None:
        self.fired = True
        with contextlib.suppress(Exception), self._wh._engine.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({self._pid})")
            other.rollback()


def _timeout_error(timeout_s: float) -> QueryFailed:
    return QueryFailed(
        f"the query was cancelled after the {timeout_s:g} s time limit; make it cheaper "
        "(filter dates, aggregate, avoid cross joins)",
        timed_out=True,
    )


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


def _translate(exc: Exception, timeout_s: float, scope: ReadScope | None = None) -> Exception:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    message = str(orig).strip().splitlines()[0] if orig is not None and str(orig).strip() else str(exc)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)
    lowered = message.lower()
    if "interrupted" in lowered or sqlstate == "57014" or "statement timeout" in lowered:
        return _timeout_error(timeout_s)
    if sqlstate == "42501" and scope is not None and scope.pg_role:
        # Column grants per data-access role (chamberlain sql roles): PostgreSQL names the table.
        return QueryFailed(
            f"the database refused a column your role may not read ({message}); "
            "name only the columns you may read, or ask someone whose role may read them"
        )
    if sqlstate == "22023" and "role" in lowered and scope is not None and scope.pg_role:
        return QueryFailed(
            f"the warehouse has no role {scope.pg_role} for your data access; an operator creates the roles "
            "with `chamberlain sql roles --apply --url ...`"
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
    "MAX_RESULT_BYTES",
    "POSTGRES_READONLY_ROLE_SQL",
    "ColumnInfo",
    "ColumnRule",
    "QueryFailed",
    "QueryResult",
    "ReadScope",
    "SqlWarehouse",
    "TableInfo",
    "Warehouse",
    "connect_sqlite_readonly",
]
