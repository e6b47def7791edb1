"""The real warehouse: :class:`SqlWarehouse` over SQLAlchemy (SQLite, PostgreSQL, MySQL)."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, NoSuchModuleError, SQLAlchemyError

from connectors.errors import ConnectorUnavailable, InvalidRequest
from connectors.query_workers import SqliteWorkerPool, WorkerKilled, default_pool
from connectors.warehouse.protocol import (
    COMMENTS_TABLE,
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    MAX_RESULT_BYTES,
    PG_WORK_MEM,
    ColumnInfo,
    QueryFailed,
    QueryResult,
    ReadScope,
    TableInfo,
)
from connectors.warehouse.results import _fetch_capped, _infer_types, _plain, _Stopper, _timeout_error, _translate
from connectors.warehouse.sqlite import _sqlite_authorizer, _sqlite_query_authorizer, connect_sqlite_readonly
from connectors.warehouse_role import guard_warehouse_url

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
