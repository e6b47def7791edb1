"""SQLite opened read-only: ``mode=ro``, ``query_only`` and an authorizer that refuses writes and out-of-scope reads."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from connectors.errors import ConnectorUnavailable
from connectors.warehouse.protocol import MAX_VALUE_BYTES

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
