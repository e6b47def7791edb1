"""Statements every turn runs, compiled once per dialect and run on the DB-API cursor.

A turn appends to the audit chain, records usage and reads the budget windows: about a dozen
small statements in two transactions. Through ``Connection.execute`` each one pays SQLAlchemy's
execution machinery (cache key, parameter processing, execution context, events, result
wrapping): ~30 µs against ~3 µs for the SQLite call itself, and several times that inside a
turn, where the code is no longer hot in the CPU's caches. :class:`Prepared` does that work once:
it compiles the Core statement for the connection's dialect, keeps the bind names in the order
the driver wants them and each bind's type processor (so a ``DateTime`` is stored exactly as
SQLAlchemy stores it, and rows written either way compare equal), and runs it on the cursor of
the connection's current transaction.

Only inside a transaction the caller began (``engine.begin()``, or a connection already in one):
a statement outside one goes through ``Connection.execute`` as usual, so SQLAlchemy's autobegin
and reset-on-return still see every transaction. Driver errors are raised as SQLAlchemy's
(``IntegrityError`` and the rest), as ``Connection.execute`` would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

_POSITIONAL = ("qmark", "numeric", "format", "numeric_dollar")


@dataclass(frozen=True)
class _Bind:
    name: str
    default: Any  # the statement's own value (a literal such as ``id == 1``), or _REQUIRED
    process: Callable[[Any], Any] | None  # the type's bind processor for this dialect


_REQUIRED = object()


@dataclass(frozen=True)
class _Compiled:
    sql: str
    binds: tuple[_Bind, ...]  # in the driver's order (positional paramstyles)
    positional: bool


class Prepared:
    """A Core statement run straight on the driver (see the module docstring).

    ``columns``: for an INSERT, the columns every row gives (the rows are plain dicts with exactly
    these keys, as ``Connection.execute(insert(t), rows)`` would take them).
    """

    def __init__(self, stmt: Executable, *, columns: Sequence[str] | None = None) -> None:
        self.stmt = stmt
        self.columns = list(columns) if columns is not None else None
        self._by_dialect: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        key = f"{dialect.name}+{dialect.driver}"
        got = self._by_dialect.get(key)
        if got is not None:
            return got
        compiled = cast(ClauseElement, self.stmt).compile(dialect=dialect, column_keys=self.columns)
        if not isinstance(compiled, SQLCompiler):  # pragma: no cover - DDL is not run this way
            raise TypeError(f"Prepared takes a SELECT, INSERT, UPDATE or DELETE, not {type(self.stmt).__name__}")
        if compiled.escaped_bind_names:  # pragma: no cover - our statements use plain names
            raise ValueError(f"bind names that need escaping: {sorted(compiled.escaped_bind_names)}")
        positional = dialect.paramstyle in _POSITIONAL
        names = list(compiled.positiontup or ()) if positional else list(compiled.binds)
        binds = []
        for name in names:
            bind = compiled.binds[name]
            default = _REQUIRED if bind.required or bind.callable else bind.effective_value
            binds.append(_Bind(name, default, bind.type.dialect_impl(dialect).bind_processor(dialect)))
        got = _Compiled(compiled.string, tuple(binds), positional)
        self._by_dialect[key] = got
        return got

    def _params(self, c: _Compiled, values: Mapping[str, Any] | None) -> Any:
        values = values or {}
        out = []
        for b in c.binds:
            v = values.get(b.name, b.default)
            if v is _REQUIRED:
                raise ValueError(f"no value for {b.name!r} in {self.stmt}: pass it (as Connection.execute would need)")
            out.append(b.process(v) if b.process is not None else v)
        return tuple(out) if c.positional else {b.name: v for b, v in zip(c.binds, out, strict=True)}

    def execute(self, conn: Connection, values: Mapping[str, Any] | None = None) -> _Rows:
        """Run once with ``values``: the rows it returns (if any) and how many rows it changed."""
        if not conn.in_transaction():
            res = conn.execute(self.stmt, dict(values or {}))
            return _Rows(list(res.fetchall()) if res.returns_rows else [], res.rowcount)
        c = self._for(conn.dialect)
        params = self._params(c, values)
        with _cursor(conn, c.sql, params) as cursor:
            cursor.execute(c.sql, params)
            rows = cursor.fetchall() if cursor.description is not None else []
            return _Rows([tuple(r) for r in rows], cursor.rowcount)

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once per row, in one driver call."""
        if not rows:
            return
        if not conn.in_transaction():
            conn.execute(self.stmt, [dict(r) for r in rows])
            return
        c = self._for(conn.dialect)
        params = [self._params(c, r) for r in rows]
        with _cursor(conn, c.sql, params, many=True) as cursor:
            cursor.executemany(c.sql, params)


@dataclass(frozen=True)
class _Rows:
    rows: list[tuple[Any, ...]]
    rowcount: int

    def first(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


@contextmanager
def _cursor(conn: Connection, sql: str, params: Any, *, many: bool = False) -> Iterator[Any]:
    """A cursor of ``conn``'s transaction, closed after; driver errors raised as SQLAlchemy's."""
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    except dbapi.Error as e:
        raise DBAPIError.instance(sql, params, e, dbapi.Error, dialect=conn.dialect, ismulti=many) from e
    finally:
        cursor.close()


__all__ = ["Prepared"]
