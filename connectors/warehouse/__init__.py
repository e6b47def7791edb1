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

from connectors.warehouse.engine import SqlWarehouse
from connectors.warehouse.protocol import (
    COMMENTS_TABLE,
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    MAX_RESULT_BYTES,
    POSTGRES_READONLY_ROLE_SQL,
    ColumnInfo,
    ColumnRule,
    QueryFailed,
    QueryResult,
    ReadScope,
    TableInfo,
    Warehouse,
)
from connectors.warehouse.sqlite import connect_sqlite_readonly

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
