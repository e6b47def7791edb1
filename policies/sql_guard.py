"""The SQL guard: decide whether model-written SQL may run, and rewrite it so that it is safe to.

Fail closed, on the sqlglot AST (never on the text):

1. normalize model output (markdown fences, markdown escapes such as ``\\_``);
2. parse in the warehouse's dialect (or the dialect the model used, then transpile);
3. exactly one statement, whose root is a query;
4. walk the whole tree: no write, DDL, ``INTO``, lock, ``Command``, ``PRAGMA``, ``ATTACH``,
   ``COPY``, variables or parameters, and no construct outside a known read-only set;
5. functions only from the per-dialect allow-list (:mod:`policies.sql_functions`);
6. tables only from the asker's :class:`AllowList` (CTE names resolved by scope, system
   catalogs denied unless allowed), columns of column-restricted tables only when granted;
7. a row ``LIMIT`` injected or clamped; comments dropped from the SQL that will run.

The verdict carries every reason found, not just the first, so the model can fix them all.
This is one layer: the SQL also runs on a read-only connection with a timeout.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from policies.sql_cost import cost_reason, pattern_reason, recursive_cte_reason
from policies.sql_functions import DANGEROUS_FUNCTIONS, SAFE_FUNCTION_CLASSES, safe_function_names

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


# --------------------------------------------------------------------------------------------
# Allow-lists


@dataclass(frozen=True)
class TableGrant:
    """Which columns of one table may be read: all (``columns is None``), some, or all but some."""

    columns: frozenset[str] | None = None
    excluded: frozenset[str] = frozenset()

    @property
    def restricted(self) -> bool:
        return self.columns is not None or bool(self.excluded)

    def allows(self, column: str) -> bool:
        c = column.lower()
        return (self.columns is None or c in self.columns) and c not in self.excluded

    def could_hold(self, column: str, known: Collection[str] | None) -> bool:
        """Might an unqualified ``column`` be this table's (given its known columns, if any)?"""
        c = column.lower()
        if known is not None:
            return c in known
        return c in self.excluded or (self.columns is not None and c not in self.columns)

    def union(self, other: TableGrant) -> TableGrant:
        if self.columns is None and other.columns is None:
            return TableGrant(None, self.excluded & other.excluded)
        if self.columns is None or other.columns is None:
            base, listed = (self, other) if self.columns is None else (other, self)
            assert listed.columns is not None
            # all-but-excluded ∪ listed: still all, minus what the list does not re-grant
            return TableGrant(None, base.excluded - listed.columns)
        return TableGrant((self.columns - self.excluded) | (other.columns - other.excluded), frozenset())


@dataclass(frozen=True)
class AllowList:
    """Tables (and their readable columns) one asker may query. Names are lower-case.

    ``tables=None`` means any table that is not a system catalog (used for corpus tests and
    for a warehouse whose every table is public); ``AllowList.nothing()`` permits no table.
    """

    tables: Mapping[str, TableGrant] | None = field(default_factory=dict)
    system_catalogs: bool = False
    schemas: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        tables: Mapping[str, Iterable[str] | None],
        *,
        exclude: Mapping[str, Iterable[str]] | None = None,
        system_catalogs: bool = False,
    ) -> AllowList:
        """``{"orders": None, "employees": ["id", "name"]}``; ``exclude`` removes columns."""
        exclude = {k.lower(): v for k, v in (exclude or {}).items()}
        grants = {
            name.lower(): TableGrant(
                None if cols is None else frozenset(c.lower() for c in cols),
                frozenset(c.lower() for c in exclude.get(name.lower(), ())),
            )
            for name, cols in tables.items()
        }
        return cls(grants, system_catalogs)

    @classmethod
    def any_table(cls) -> AllowList:
        return cls(None)

    @classmethod
    def nothing(cls) -> AllowList:
        return cls({})

    def grant(self, table: str) -> TableGrant | None:
        """The grant for ``table`` as the database resolves the name (lower case unless quoted)."""
        if self.tables is None:
            return TableGrant()
        return self.tables.get(table)

    def union(self, other: AllowList) -> AllowList:
        if self.tables is None or other.tables is None:
            tables: Mapping[str, TableGrant] | None = None
        else:
            merged = dict(self.tables)
            for name, g in other.tables.items():
                merged[name] = merged[name].union(g) if name in merged else g
            tables = merged
        return AllowList(tables, self.system_catalogs or other.system_catalogs, self.schemas | other.schemas)

    def table_names(self) -> list[str]:
        return sorted(self.tables or ())


# --------------------------------------------------------------------------------------------
# Verdict


@dataclass(frozen=True)
class SqlVerdict:
    """The guard's decision. ``sql`` is the rewritten SQL to run (None when not allowed)."""

    allowed: bool
    reasons: tuple[str, ...]
    sql: str | None
    tables: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    dialect: str = ""
    source_dialect: str = ""
    limited: bool = False  # a LIMIT was injected or clamped

    def to_json(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "reasons": list(self.reasons), "sql": self.sql}


def _deny(reasons: Iterable[str], dialect: str, source: str = "") -> SqlVerdict:
    unique = tuple(dict.fromkeys(reasons))
    return SqlVerdict(False, unique, None, dialect=dialect, source_dialect=source or dialect)


# --------------------------------------------------------------------------------------------
# Normalization


def normalize_sql(text: str) -> str:
    """Strip what models wrap SQL in: markdown fences, markdown escapes, trailing semicolons."""
    text = text.replace("\u00a0", " ").replace("\ufeff", "").strip()
    if "```" in text:
        parts = text.split("```")
        # Odd parts are inside fences: take the first non-empty block, else what precedes
        # the first fence (a model that only closed its fence).
        blocks = [_FENCE_TAG.sub("", parts[i], count=1).strip() for i in range(1, len(parts), 2)]
        text = next((b for b in blocks if b), parts[0])
    if "\\" in text:
        text = _outside_quotes(text, lambda s: _MD_ESCAPE.sub(r"\1", s))
    return text.strip().rstrip(";").strip()


def _outside_quotes(text: str, fn: Any) -> str:
    out: list[str] = []
    pos = 0
    for m in _QUOTED.finditer(text):
        out.append(fn(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(fn(text[pos:]))
    return "".join(out)


def _before_trailing_prose(text: str) -> str | None:
    """The text before the first top-level ';' if what follows is prose, else None."""
    stripped = _QUOTED.sub(lambda m: "x" * len(m.group(0)), text)
    cut = stripped.find(";")
    if cut < 0:
        return None
    rest = text[cut + 1 :].strip()
    first = re.match(r"[A-Za-z_]+", rest)
    if not rest or (first is not None and first.group(0).lower() in _STATEMENT_WORDS):
        return None
    if first is None:
        return None
    return text[:cut]


def _has_executable_comment(text: str) -> bool:
    stripped = _QUOTED.sub("''", text)
    return "/*!" in stripped or "/*M!" in stripped


# --------------------------------------------------------------------------------------------
# The guard


class SqlGuard:
    """Checks and rewrites SQL for one warehouse dialect.

    ``schema`` (table → its columns, as the warehouse reports them) lets the guard tell which
    table an unqualified column belongs to; without it, unqualified columns that a restricted
    table might hold are rejected and the model is asked to qualify them.
    """

    def __init__(
        self,
        dialect: str,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        schema: Mapping[str, Iterable[str]] | None = None,
        extra_functions: Iterable[str] = (),
    ) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unsupported SQL dialect {dialect!r}; use one of: {', '.join(DIALECTS)}")
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self.dialect = dialect
        self.max_rows = max_rows
        self.schema: dict[str, frozenset[str]] = {
            t.lower(): frozenset(c.lower() for c in cols) for t, cols in (schema or {}).items()
        }
        self._functions = safe_function_names(dialect) | {f.lower() for f in extra_functions}

    # -- public ------------------------------------------------------------------------------

    def check(
        self,
        sql: str,
        allow: AllowList,
        *,
        source_dialect: str | None = None,
        max_rows: int | None = None,
    ) -> SqlVerdict:
        """Decide on ``sql`` for an asker whose tables are ``allow``; never raises on bad SQL."""
        limit = self.max_rows if max_rows is None else max_rows
        source = source_dialect or self.dialect
        if source not in DIALECTS:
            return _deny([f"unknown SQL dialect {source!r}; use one of: {', '.join(DIALECTS)}"], self.dialect)
        if not isinstance(sql, str):
            return _deny(["the query must be a string of SQL"], self.dialect, source)
        if len(sql) > MAX_SQL_CHARS:
            return _deny([f"the query is longer than {MAX_SQL_CHARS} characters"], self.dialect, source)
        text = normalize_sql(sql)
        if not text:
            return _deny(["the query is empty"], self.dialect, source)
        if _has_executable_comment(text):
            return _deny(["MySQL executable comments (/*! ... */) are not allowed"], self.dialect, source)
        trees, error = _parse(text, source)
        if error is not None:
            # Models often explain their SQL after it: drop prose that follows the first ';'.
            head = _before_trailing_prose(text)
            if head is not None:
                alt, alt_error = _parse(head, source)
                if alt_error is None:
                    trees, error, text = alt, None, head
        if error is not None and source_dialect is None:
            # The model may have written another dialect: accept it if it parses there,
            # and transpile (the checks below run on the AST, the output is our dialect).
            for other in DIALECTS:
                if other != source:
                    alt, alt_error = _parse(text, other)
                    if alt_error is None:
                        trees, error, source = alt, None, other
                        break
        if error is not None:
            return _deny([error], self.dialect, source)
        if not trees:
            return _deny(["no SQL statement found in the text"], self.dialect, source)
        if len(trees) != 1:
            return _deny([f"exactly one statement is allowed; found {len(trees)}"], self.dialect, source)
        root = trees[0]
        while isinstance(root, exp.Subquery) and not root.alias and not root.args.get("limit"):
            root = root.this
        try:
            reasons, tables, columns = self._inspect(root, allow, limit, text)
        except RecursionError:
            return _deny(["the query is nested too deeply to check"], self.dialect, source)
        if reasons:
            return _deny(reasons, self.dialect, source)

        root, limited = _apply_limit(root, limit)
        try:
            out = root.sql(dialect=self.dialect, comments=False)
        except SqlglotError as exc:
            return _deny([f"could not write the query in {self.dialect}: {_first_line(exc)}"], self.dialect, source)
        # Round trip: what will run must itself pass, parsed the way the warehouse's dialect reads it.
        again, error = _parse(out, self.dialect)
        if error is not None or len(again) != 1:
            why = error or f"{len(again)} statements"
            return _deny([f"the rewritten query does not parse back in {self.dialect}: {why}"], self.dialect, source)
        try:
            second, _, _ = self._inspect(again[0], allow, limit, out)
        except RecursionError:
            second = ["the query is nested too deeply to check"]
        if second:
            return _deny(second, self.dialect, source)
        return SqlVerdict(True, (), out, tuple(sorted(tables)), tuple(sorted(columns)), self.dialect, source, limited)

    # -- the walk ------------------------------------------------------------------------------

    def _inspect(
        self, root: exp.Expr, allow: AllowList, max_rows: int, text: str = ""
    ) -> tuple[list[str], set[str], set[str]]:
        reasons: list[str] = []
        if not isinstance(root, exp.Query):
            first = re.match(r"\s*(?:/\*.*?\*/\s*)*([A-Za-z_]+)", text, re.S)
            kind = first.group(1).upper() if first else root.key.upper()
            reasons.append(f"only a query (SELECT) may run, not {kind}")
            # keep walking: more reasons help the model, and nested writes are worth naming

        nodes = list(root.walk())
        for node in nodes:
            if isinstance(node, exp.Select) and not node.expressions:
                reasons.append("a SELECT must name what it selects")
        base_tables: list[exp.Table] = []
        for node in nodes:
            forbidden = _forbidden_reason(type(node))
            if forbidden:
                reasons.append(forbidden)
            else:
                if isinstance(node, exp.Command):
                    reasons.append(f"{str(node.this).upper()} is not a query")
                elif isinstance(node, exp.Func):
                    reason = self._check_function(node) or cost_reason(node, self.dialect, max_rows)
                    if reason:
                        reasons.append(reason)
                elif isinstance(node, exp.CTE):
                    if not isinstance(node.this, exp.Query):
                        reasons.append(f"CTE {node.alias!r} must be a SELECT (writable CTEs are not allowed)")
                    elif isinstance(node.parent, exp.With) and node.parent.args.get("recursive"):
                        reason = recursive_cte_reason(node, _cte_key(node, self.dialect).lower(), max_rows)
                        if reason:
                            reasons.append(reason)
                elif isinstance(node, (exp.Like, exp.ILike, exp.Glob, exp.SimilarTo)):
                    reason = pattern_reason(node.expression, _PATTERN_WORDS[type(node)])
                    if reason:
                        reasons.append(reason)
                elif isinstance(node, exp.Table):
                    if isinstance(node.this, _ROW_GENERATORS):
                        pass  # checked as a function (literal bounds) where the walk visits it
                    elif not isinstance(node.this, exp.Identifier):
                        name = node.this.sql() if node.this is not None else "?"
                        reasons.append(f"table functions in FROM are not allowed ({name[:60]})")
                    elif not _is_cte_reference(node, self.dialect):
                        base_tables.append(node)
                elif isinstance(node, exp.Values):
                    pass  # a root VALUES is reported above; VALUES in FROM is a read
                elif isinstance(node, exp.Dot):
                    if isinstance(node.expression, exp.Func):
                        reasons.append(f"schema-qualified function calls are not allowed ({node.sql()[:60]})")
                elif type(node) not in _ALLOWED_NODES:
                    reasons.append(f"{node.key.upper()} is not allowed in a read-only query")

        tables: set[str] = set()
        restricted: dict[str, TableGrant] = {}
        qualifiers: dict[str, set[str]] = {}
        for t in base_tables:
            name = _ident_key(t.this, self.dialect)
            reason = self._check_table(t, allow)
            if reason:
                reasons.append(reason)
                continue
            tables.add(name)
            grant = allow.grant(name)
            if grant is not None and grant.restricted:
                restricted[name] = grant
            for q in {name, t.alias_or_name.lower()}:
                qualifiers.setdefault(q, set()).add(name)
            alias = t.args.get("alias")
            if name in restricted and isinstance(alias, exp.TableAlias) and alias.columns:
                reasons.append(_alias_columns_reason(name, alias))

        # Every name a column may be qualified with: tables, aliases (of tables, derived tables,
        # table functions) and CTEs. A parenthesized table or join under an alias, ``(t) AS x``
        # or ``(a JOIN b) AS j``, exposes its tables' columns through that alias.
        known: set[str] = set(qualifiers)
        for node in nodes:
            if isinstance(node, exp.TableAlias):
                alias_name = node.name.lower()
                known.add(alias_name)
                holder = node.parent
                if isinstance(holder, exp.Subquery):
                    for t in _exposed_tables(holder, self.dialect):
                        name = _ident_key(t.this, self.dialect)
                        if name in tables:
                            qualifiers.setdefault(alias_name, set()).add(name)
                            if name in restricted and node.columns:
                                reasons.append(_alias_columns_reason(name, node))
            elif isinstance(node, exp.Table):
                known.add(node.name.lower())

        columns: set[str] = set()
        niladic = _NILADIC_FUNCTIONS[self.dialect]
        for node in nodes:
            if isinstance(node, exp.Column):
                qualifier = node.table.lower()
                if restricted and qualifier and qualifier not in known:
                    # Scope tracking lost the source: fail closed rather than guess.
                    reasons.append(
                        f"cannot tell which table {qualifier}.{node.name} comes from; "
                        "qualify columns with a table name or an alias defined in the query"
                    )
                    continue
                reasons.extend(self._check_column(node, restricted, qualifiers, columns, niladic))
            elif isinstance(node, exp.Select) and restricted:
                reasons.extend(_check_star(node, restricted, self.schema, self.dialect))
            elif isinstance(node, exp.Join) and restricted:
                reasons.extend(self._check_join(node, restricted))
        return reasons, tables, columns

    def _check_function(self, node: exp.Func) -> str | None:
        if isinstance(node, exp.Anonymous):
            name = node.name.lower()
            if name in self._functions:
                return None
            why = DANGEROUS_FUNCTIONS.get(name)
            if why:
                return f"function {name} is not allowed: {why}"
            return f"function {name} is not allowed in {self.dialect} queries (not on the read-only function list)"
        cls = type(node).__name__
        if cls in SAFE_FUNCTION_CLASSES:
            return None
        name = _CLASS_NAMES.get(cls) or (node.sql_name().lower() if hasattr(node, "sql_name") else cls.lower())
        if name in self._functions:
            return None  # an operator allowed it (extra_functions)
        why = DANGEROUS_FUNCTIONS.get(name)
        if why:
            return f"function {name} is not allowed: {why}"
        return f"function {name} is not allowed in {self.dialect} queries (not on the read-only function list)"

    def _check_table(self, t: exp.Table, allow: AllowList) -> str | None:
        name = _ident_key(t.this, self.dialect)
        catalog = t.catalog.lower()
        db = t.db.lower()
        shown = ".".join(p for p in (catalog, db, name) if p)
        if catalog:
            return f"table {shown}: cross-database references are not allowed"
        system = (
            db in _SYSTEM_SCHEMAS
            or name in _SQLITE_SYSTEM_TABLES
            or name.startswith("pragma_")
            or (self.dialect == "postgres" and name.startswith("pg_"))
            or (not db and name in ("information_schema",))
        )
        if system:
            return None if allow.system_catalogs else f"system catalog {shown} is not readable"
        if db and db not in _DEFAULT_SCHEMAS[self.dialect] and db not in allow.schemas:
            return f"table {shown}: schema {db} is not allowed; use the table name without a schema"
        if allow.grant(name) is None:
            readable = ", ".join(allow.table_names()) or "none"
            return f"table {name} is not readable by you (tables you may query: {readable})"
        return None

    def _check_column(
        self,
        col: exp.Column,
        restricted: Mapping[str, TableGrant],
        qualifiers: Mapping[str, set[str]],
        columns: set[str],
        niladic: frozenset[str],
    ) -> list[str]:
        name = col.name.lower()
        qualifier = col.table.lower()
        is_star = isinstance(col.this, exp.Star)
        if qualifier:
            owners = qualifiers.get(qualifier, set())
            out = []
            for table in sorted(owners):
                grant = restricted.get(table)
                if grant is None:
                    if not is_star:
                        columns.add(f"{table}.{name}")
                    continue
                if is_star:
                    out.append(_star_reason(table, grant, self.schema.get(table)))
                elif not grant.allows(name):
                    out.append(_column_reason(table, name, grant, self.schema.get(table)))
                else:
                    columns.add(f"{table}.{name}")
            return out
        if is_star:
            return []
        out = []
        if name in niladic and name not in self._functions and not any(name in cols for cols in self.schema.values()):
            why = DANGEROUS_FUNCTIONS.get(name, "it is a session function")
            out.append(f"{name} is not allowed: {why}")
        # A bare table alias is a whole-row reference in PostgreSQL: it carries every column.
        for table in sorted(qualifiers.get(name, set())):
            if table in restricted:
                out.append(f"whole-row reference to table {table} is not allowed; name the columns")
        for table, grant in restricted.items():
            known = self.schema.get(table)
            if not grant.allows(name) and grant.could_hold(name, known):
                hint = "" if known is not None else " (if you meant a column of another table, qualify it)"
                out.append(_column_reason(table, name, grant, known) + hint)
        holders = [t for t, cols in self.schema.items() if name in cols and t in qualifiers]
        columns.add(f"{holders[0]}.{name}" if len(holders) == 1 else name)
        return out

    def _check_join(self, join: exp.Join, restricted: Mapping[str, TableGrant]) -> list[str]:
        out = []
        if str(join.args.get("method") or "").upper() == "NATURAL":
            out.append("NATURAL JOIN is not allowed when a column-restricted table is queried; use ON")
        for ident in join.args.get("using") or ():
            name = ident.name.lower()
            for table, grant in restricted.items():
                if not grant.allows(name) and grant.could_hold(name, self.schema.get(table)):
                    out.append(_column_reason(table, name, grant, self.schema.get(table)))
        return out


_FORBIDDEN_CACHE: dict[type[exp.Expr], str | None] = {}


def _forbidden_reason(cls: type[exp.Expr]) -> str | None:
    """The reason a node type is forbidden (None if it is not), by class hierarchy; memoized."""
    try:
        return _FORBIDDEN_CACHE[cls]
    except KeyError:
        why = next((w for forbidden, w in _FORBIDDEN if issubclass(cls, forbidden)), None)
        _FORBIDDEN_CACHE[cls] = why
        return why


def _column_reason(table: str, column: str, grant: TableGrant, known: Collection[str] | None) -> str:
    readable = sorted(c for c in known if grant.allows(c)) if known is not None else []
    what = f" (readable columns of {table}: {', '.join(readable)})" if readable else ""
    return (
        f"table {table} column {column} is not readable by you; leave it out, or ask someone whose "
        f"role may read {table}.{column}{what}"
    )


def _star_reason(table: str, grant: TableGrant, known: Collection[str] | None) -> str:
    if known is not None:
        readable = sorted(c for c in known if grant.allows(c))
        return (
            f"SELECT * on table {table} would include columns you may not read; "
            f"list the columns you need (readable: {', '.join(readable)})"
        )
    return f"SELECT * on table {table} would include columns you may not read; list the columns you need"


def _check_star(
    select: exp.Select,
    restricted: Mapping[str, TableGrant],
    schema: Mapping[str, frozenset[str]],
    dialect: str,
) -> list[str]:
    if not any(isinstance(e, exp.Star) for e in select.expressions):
        return []
    direct: list[exp.Expr] = []
    if select.args.get("from_") is not None:
        direct.append(select.args["from_"].this)
    direct.extend(j.this for j in select.args.get("joins") or ())
    out = []
    for src in direct:
        for table in _exposed_tables(src, dialect):
            name = _ident_key(table.this, dialect)
            grant = restricted.get(name)
            if grant is not None:
                out.append(_star_reason(name, grant, schema.get(name)))
    return out


def _exposed_tables(src: exp.Expr, dialect: str) -> list[exp.Table]:
    """The base tables whose columns ``src`` exposes as its own: a table, or tables and joins in
    parentheses (``(t)``, ``((a) JOIN (b))``); not the tables of a derived SELECT, whose
    columns are its select list (checked where they are named)."""
    if isinstance(src, exp.Table):
        if isinstance(src.this, exp.Identifier) and not _is_cte_reference(src, dialect):
            return [src]
        return []
    if isinstance(src, (exp.Subquery, exp.Paren)):
        out: list[exp.Table] = []
        inner = src.this
        if isinstance(inner, (exp.Table, exp.Subquery, exp.Paren)):
            out.extend(_exposed_tables(inner, dialect))
        for join in src.args.get("joins") or ():
            out.extend(_exposed_tables(join.this, dialect))
        return out
    return []


def _alias_columns_reason(table: str, alias: exp.TableAlias) -> str:
    return (
        f"column aliases on table {table} ({alias.sql()[:60]}) are not allowed because some of its columns "
        "are not readable by you; name the columns in the SELECT list and alias them there"
    )


def _ident_key(node: exp.Expr | None, dialect: str) -> str:
    """An identifier as the database resolves it: SQLite ignores case; elsewhere unquoted names
    fold to lower case and quoted ones are exact (so ``"Employees"`` is not ``employees``)."""
    if not isinstance(node, exp.Identifier):
        return node.name.lower() if node is not None else ""
    if dialect == "sqlite" or not node.quoted:
        return node.name.lower()
    return node.name


def _is_cte_reference(table: exp.Table, dialect: str) -> bool:
    """True if ``table`` names a CTE visible where it stands (SQL scoping, not just the name)."""
    if table.db or table.catalog:
        return False
    name = _ident_key(table.this, dialect)
    child: exp.Expr = table
    parent = table.parent
    while parent is not None:
        with_ = parent.args.get("with_") if isinstance(parent, exp.Query) else None
        if isinstance(with_, exp.With):
            ctes = list(with_.expressions)
            recursive = bool(with_.args.get("recursive"))
            if child is with_:
                # Inside one of this WITH's CTEs: earlier ones are visible (itself if recursive).
                idx = next((i for i, c in enumerate(ctes) if _contains(c, table)), -1)
                visible = ctes[: idx + 1] if recursive else ctes[:idx]
            else:
                visible = ctes
            if any(_cte_key(c, dialect) == name for c in visible):
                return True
        child, parent = parent, parent.parent
    return False


def _cte_key(cte: exp.Expr, dialect: str) -> str:
    alias = cte.args.get("alias")
    ident = alias.this if isinstance(alias, exp.TableAlias) else None
    key = _ident_key(ident, dialect)
    # MySQL's case rules for CTE names depend on server settings: only an exact match counts.
    return key if dialect != "mysql" or not isinstance(ident, exp.Identifier) else ident.name


def _contains(ancestor: exp.Expr, node: exp.Expr) -> bool:
    cur: exp.Expr | None = node
    while cur is not None:
        if cur is ancestor:
            return True
        cur = cur.parent
    return False


def _parse(text: str, dialect: str) -> tuple[list[exp.Expr], str | None]:
    try:
        trees = [t for t in sqlglot.parse(text, read=dialect) if t is not None]
    except SqlglotError as exc:
        return [], f"could not parse the query as {dialect} SQL: {_syntax_message(exc)}"
    except RecursionError:
        return [], "the query is nested too deeply to parse"
    trees = [t for t in trees if not isinstance(t, exp.Semicolon)]
    return trees, None


def _syntax_message(exc: BaseException) -> str:
    """A parse error as a person reads it: where, what is near, and a plain sentence, without
    sqlglot's internals (class names, required-argument names)."""
    errors = getattr(exc, "errors", None) or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    description = str(first.get("description") or _first_line(exc))
    missing = re.search(r"Required keyword: '\w+' missing for <class '[\w.]*?(\w+)'>", description)
    clauses = {"Where", "Select", "From", "Join", "Group", "Having", "Order", "Limit", "With", "Union", "Case"}
    if missing and missing.group(1) in clauses:
        sentence = f"the {missing.group(1).upper()} clause is incomplete"
    elif missing:
        sentence = "an expression is incomplete"
    elif description.startswith("Invalid expression / Unexpected token"):
        sentence = "unexpected text"
    elif description.startswith("Expecting "):
        sentence = f"expected {description.removeprefix('Expecting ').split('.')[0].strip()}"
    else:
        sentence = re.sub(r"<class '[\w.]*?(\w+)'>", r"\1", description).split(". Line")[0].strip().rstrip(".")
    where = ""
    if first.get("line") and first.get("col"):
        where = f" at line {first['line']}, column {first['col']}"
        near = re.sub(r"\x1b\[[0-9;]*m", "", str(first.get("highlight") or "")).strip()
        if near:
            where += f" (near {near[:40]!r})"
    return f"{sentence}{where}"[:300]


def _first_line(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    text = msg[0] if msg else type(exc).__name__
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return text[:300]


def _apply_limit(root: exp.Expr, max_rows: int) -> tuple[exp.Expr, bool]:
    """Inject ``LIMIT max_rows`` or clamp a larger literal one; wrap when it is not a literal."""
    current = root.args.get("limit")
    if current is None:
        root.set("limit", exp.Limit(expression=exp.Literal.number(max_rows)))
        return root, True
    count = current.args.get("count") if isinstance(current, exp.Fetch) else current.expression
    if isinstance(count, exp.Literal) and not count.is_string:
        try:
            n = int(count.this)
        except ValueError:
            n = -1
        if 0 <= n <= max_rows:
            return root, False
        if isinstance(current, exp.Fetch):
            current.set("count", exp.Literal.number(max_rows))
        else:
            current.set("expression", exp.Literal.number(max_rows))
        return root, True
    wrapped = exp.select("*").from_(exp.Subquery(this=root, alias=exp.TableAlias(this=exp.to_identifier("_q"))))
    wrapped.set("limit", exp.Limit(expression=exp.Literal.number(max_rows)))
    return wrapped, True


def check_sql(
    sql: str,
    *,
    dialect: str,
    allow: AllowList,
    source_dialect: str | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    schema: Mapping[str, Iterable[str]] | None = None,
) -> SqlVerdict:
    """One-shot convenience around :class:`SqlGuard`."""
    return SqlGuard(dialect, max_rows=max_rows, schema=schema).check(sql, allow, source_dialect=source_dialect)


__all__ = [
    "DEFAULT_MAX_ROWS",
    "DIALECTS",
    "AllowList",
    "SqlGuard",
    "SqlVerdict",
    "TableGrant",
    "check_sql",
    "normalize_sql",
]
