"""What read-only SQL may contain: dialects, limits, forbidden statements and the allowed node set."""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlglot import exp

DIALECTS: tuple[str, ...] = ("sqlite", "postgres", "mysql")
DEFAULT_MAX_ROWS = 1000
MAX_SQL_CHARS = 20_000

# Schema qualifiers that name the warehouse's own tables, per dialect.
_DEFAULT_SCHEMAS: Mapping[str, frozenset[str]] = {
    "sqlite": frozenset({"main"}),
    "postgres": frozenset({"public"}),
    "mysql": frozenset(),
}
_SYSTEM_SCHEMAS = frozenset(
    {"information_schema", "pg_catalog", "pg_toast", "mysql", "performance_schema", "sys", "temp"}
)
_SQLITE_SYSTEM_TABLES = frozenset(
    {"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema", "sqlite_sequence",
     "sqlite_stat1", "sqlite_stat2", "sqlite_stat3", "sqlite_stat4", "sqlite_dbpage", "sqlite_stmt",
     "dbstat"}
)  # fmt: skip

# Identifiers that PostgreSQL/MySQL evaluate as session functions even without parentheses.
_NILADIC_FUNCTIONS: Mapping[str, frozenset[str]] = {
    "postgres": frozenset(
        {"user", "current_user", "session_user", "current_role", "current_catalog", "current_schema", "system_user"}
    ),
    "mysql": frozenset({"current_user"}),
    "sqlite": frozenset(),
}

# Statement and clause types that change data, schema, session or files: each has its reason.
_FORBIDDEN: tuple[tuple[type[exp.Expr], str], ...] = (
    (exp.Insert, "INSERT writes data"),
    (exp.Update, "UPDATE writes data"),
    (exp.Delete, "DELETE writes data"),
    (exp.Merge, "MERGE writes data"),
    (exp.TruncateTable, "TRUNCATE deletes data"),
    (exp.Create, "CREATE changes the schema (DDL)"),
    (exp.Drop, "DROP changes the schema (DDL)"),
    (exp.Alter, "ALTER changes the schema (DDL)"),
    (exp.Comment, "COMMENT ON changes the schema (DDL)"),
    (exp.Into, "SELECT ... INTO creates a table"),
    (exp.Lock, "row locks (FOR UPDATE / FOR SHARE) are not allowed in a read-only query"),
    (exp.Pragma, "PRAGMA reads or changes database settings"),
    (exp.Attach, "ATTACH opens another database file"),
    (exp.Detach, "DETACH changes the open databases"),
    (exp.Copy, "COPY reads or writes files"),
    (exp.LoadData, "LOAD DATA reads files"),
    (exp.Set, "SET changes session settings"),
    (exp.SetItem, "SET changes session settings"),
    (exp.Use, "USE changes the current database"),
    (exp.Transaction, "transaction control is not allowed"),
    (exp.Commit, "transaction control is not allowed"),
    (exp.Rollback, "transaction control is not allowed"),
    (exp.Grant, "GRANT changes privileges"),
    (exp.Revoke, "REVOKE changes privileges"),
    (exp.Analyze, "ANALYZE writes statistics"),
    (exp.Kill, "KILL stops other sessions"),
    (exp.Returning, "RETURNING belongs to a write"),
    (exp.OnConflict, "ON CONFLICT belongs to a write"),
    (exp.Describe, "DESCRIBE/EXPLAIN is not a query"),
    (exp.Show, "SHOW is not a query"),
    (exp.Execute, "EXECUTE runs other statements"),
    (exp.ExecuteSql, "EXECUTE runs other statements"),
    (exp.Declare, "DECLARE is not a query"),
    (exp.Cache, "CACHE is not a query"),
    (exp.Uncache, "UNCACHE is not a query"),
    (exp.Refresh, "REFRESH is not a query"),
    (exp.Export, "EXPORT writes files"),
    (exp.Install, "INSTALL loads extensions"),
    (exp.Put, "PUT writes files"),
    (exp.Get, "GET reads files"),
    (exp.SessionParameter, "session variables (@@name) are not allowed"),
    (exp.Parameter, "parameters and variables are not allowed; write values inline"),
    (exp.Placeholder, "placeholders (?, :name, %s) are not allowed; write values inline"),
    (exp.Hint, "optimizer hints are not allowed"),
)

# Non-function node types a read-only query may contain. Anything else is rejected.
_ALLOWED_NODES: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery, exp.With, exp.CTE,
        exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Limit,
        exp.Offset, exp.Fetch, exp.LimitOptions, exp.Distinct, exp.Qualify, exp.Window,
        exp.WindowSpec, exp.Filter, exp.WithinGroup, exp.IgnoreNulls, exp.RespectNulls,
        exp.Cube, exp.Rollup, exp.GroupingSets, exp.Lateral, exp.Values,
        exp.Table, exp.TableAlias, exp.Column, exp.Identifier, exp.Star, exp.Alias, exp.Aliases,
        exp.Dot, exp.Literal, exp.Null, exp.Boolean, exp.Var, exp.DataType, exp.DataTypeParam,
        exp.Interval, exp.Tuple, exp.Paren, exp.Bracket, exp.Slice, exp.Neg, exp.Not,
        exp.DPipe, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.EQ, exp.NEQ, exp.GT, exp.GTE,
        exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ, exp.Is, exp.In, exp.Between, exp.Like,
        exp.ILike, exp.Glob, exp.SimilarTo, exp.Escape, exp.Any, exp.All, exp.Overlaps,
        exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot, exp.BitwiseLeftShift,
        exp.BitwiseRightShift, exp.AtTimeZone, exp.Collate, exp.JSONPath, exp.JSONPathRoot,
        exp.JSONPathKey, exp.JSONPathSubscript, exp.JSONPathWildcard, exp.JSONPathSlice,
        exp.Kwarg, exp.HexString, exp.BitString, exp.ByteString, exp.National, exp.RawString,
        exp.UnicodeString, exp.Introducer, exp.CharacterSet,
    }
)  # fmt: skip

# sqlglot classes for session/server functions, by the name people call them.
_CLASS_NAMES: Mapping[str, str] = {
    "CurrentVersion": "version",
    "CurrentUser": "current_user",
    "SessionUser": "session_user",
    "CurrentSchema": "current_schema",
    "CurrentDatabase": "current_database",
    "CurrentRole": "current_role",
    "CurrentCatalog": "current_catalog",
    "Explode": "unnest",
}

# Table functions a FROM may use: each is bounded by the cost rules (policies/sql_cost.py).
_ROW_GENERATORS = (exp.GenerateSeries, exp.ExplodingGenerateSeries, exp.Unnest)
_PATTERN_WORDS: Mapping[type[exp.Expr], str] = {
    exp.Like: "a LIKE",
    exp.ILike: "an ILIKE",
    exp.Glob: "a GLOB",
    exp.SimilarTo: "a SIMILAR TO",
}

_FENCE_TAG = re.compile(
    r"^[ \t]*(?:(?:sql|sqlite3?|postgres(?:ql)?|psql|pgsql|mysql|plsql|text)?[ \t]*\r?\n"
    r"|(?:sql|sqlite3?|postgres(?:ql)?|psql|pgsql|mysql)\b)",
    re.I,
)
_QUOTED = re.compile(r"'(?:[^'\\]|''|\\.)*'|\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`", re.S)
# Words that start a statement: text after a ';' that starts otherwise is model prose.
_STATEMENT_WORDS = frozenset(
    {"select", "with", "insert", "update", "delete", "merge", "replace", "upsert", "create", "drop", "alter",
     "truncate", "grant", "revoke", "pragma", "attach", "detach", "copy", "load", "set", "use", "begin", "start",
     "commit", "rollback", "savepoint", "release", "vacuum", "analyze", "explain", "describe", "show", "call",
     "do", "exec", "execute", "prepare", "deallocate", "lock", "unlock", "listen", "notify", "reindex",
     "cluster", "comment", "declare", "fetch", "move", "close", "handler", "values", "table"}
)  # fmt: skip
_MD_ESCAPE = re.compile(r"\\([_*\[\]#<>])")


_FORBIDDEN_CACHE: dict[type[exp.Expr], str | None] = {}


def _forbidden_reason(cls: type[exp.Expr]) -> str | None:
    """The reason a node type is forbidden (None if it is not), by class hierarchy; memoized."""
    try:
        return _FORBIDDEN_CACHE[cls]
    except KeyError:
        why = next((w for forbidden, w in _FORBIDDEN if issubclass(cls, forbidden)), None)
        _FORBIDDEN_CACHE[cls] = why
        return why
