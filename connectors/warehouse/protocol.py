"""The warehouse's values, errors, limits and :class:`Warehouse` protocol."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from connectors.errors import InvalidRequest

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
