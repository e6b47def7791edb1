"""Fetching and translating results: byte caps, the deadline stopper, plain values, inferred types, driver errors."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from connectors.errors import ConnectorAuthError, ConnectorUnavailable
from connectors.warehouse.protocol import QueryFailed, ReadScope

if TYPE_CHECKING:  # engine.py imports this module
    from connectors.warehouse.engine import SqlWarehouse


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
