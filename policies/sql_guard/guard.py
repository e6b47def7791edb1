"""The guard itself: :class:`SqlGuard` walks the parsed query and injects the row limit."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from sqlglot import exp
from sqlglot.errors import SqlglotError

from policies.sql_cost import cost_reason, pattern_reason, recursive_cte_reason
from policies.sql_functions import DANGEROUS_FUNCTIONS, SAFE_FUNCTION_CLASSES, safe_function_names
from policies.sql_guard.grants import AllowList, SqlVerdict, TableGrant, _deny
from policies.sql_guard.rules import (
    _ALLOWED_NODES,
    _CLASS_NAMES,
    _DEFAULT_SCHEMAS,
    _NILADIC_FUNCTIONS,
    _PATTERN_WORDS,
    _ROW_GENERATORS,
    _SQLITE_SYSTEM_TABLES,
    _SYSTEM_SCHEMAS,
    DEFAULT_MAX_ROWS,
    DIALECTS,
    MAX_SQL_CHARS,
    _forbidden_reason,
)
from policies.sql_guard.scope import (
    _alias_columns_reason,
    _check_star,
    _column_reason,
    _cte_key,
    _exposed_tables,
    _ident_key,
    _is_cte_reference,
    _star_reason,
)
from policies.sql_guard.text import _before_trailing_prose, _first_line, _has_executable_comment, _parse, normalize_sql

# --------------------------------------------------------------------------------------------
# The guard


# What the walk does with a node, by its type (computed once per type, see ``_kind_of``): its
# check, and the later passes that visit it.
(_K_OK, _K_FORBIDDEN, _K_COMMAND, _K_FUNC, _K_CTE, _K_PATTERN, _K_TABLE, _K_DOT, _K_DISALLOWED) = range(9)
_R_NONE, _R_SELECT, _R_COLUMN, _R_JOIN, _R_ALIAS, _R_TABLE = range(6)
_KINDS: dict[type[exp.Expr], tuple[int, int]] = {}
_PATTERN_TYPES = (exp.Like, exp.ILike, exp.Glob, exp.SimilarTo)
_CHECKS: tuple[tuple[type[exp.Expr] | tuple[type[exp.Expr], ...], int], ...] = (
    (exp.Command, _K_COMMAND),
    (exp.Func, _K_FUNC),
    (exp.CTE, _K_CTE),
    (_PATTERN_TYPES, _K_PATTERN),
    (exp.Table, _K_TABLE),
    (exp.Values, _K_OK),  # a root VALUES is reported as not a query; VALUES in FROM is a read
    (exp.Dot, _K_DOT),
)
_ROLES: tuple[tuple[type[exp.Expr], int], ...] = (
    (exp.Select, _R_SELECT),
    (exp.Column, _R_COLUMN),
    (exp.Join, _R_JOIN),
    (exp.TableAlias, _R_ALIAS),
    (exp.Table, _R_TABLE),
)


def _kind_of(cls: type[exp.Expr]) -> tuple[int, int]:
    """The walk's check for a node type (the first that applies, in the order of the checks) and
    the later pass that visits nodes of the type, whatever the check found."""
    kind = _K_OK
    if _forbidden_reason(cls):
        kind = _K_FORBIDDEN
    else:
        for bases, k in _CHECKS:
            if issubclass(cls, bases):
                kind = k
                break
        else:
            if cls not in _ALLOWED_NODES:
                kind = _K_DISALLOWED
    role = _R_NONE
    for base, r in _ROLES:
        if issubclass(cls, base):
            role = r
            break
    return kind, role


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
            # The tree is not used again: no defensive deep copy (it was ~20 % of a check).
            out = root.sql(dialect=self.dialect, comments=False, copy=False)
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
        # One pass sorts the nodes by what they need (a kind per node type, computed once per
        # type); the passes below visit only their own kinds, in walk order as before.
        selects: list[exp.Select] = []
        base_tables: list[exp.Table] = []
        all_tables: list[exp.Table] = []
        table_aliases: list[exp.TableAlias] = []
        scoped: list[exp.Expr] = []  # columns, selects and joins: the column pass
        found: list[str] = []
        for node in nodes:
            cls = type(node)
            both = _KINDS.get(cls)
            if both is None:
                both = _KINDS[cls] = _kind_of(cls)
            check, role = both
            if role == _R_SELECT:
                selects.append(node)  # type: ignore[arg-type]
                scoped.append(node)
            elif role in (_R_COLUMN, _R_JOIN):
                scoped.append(node)
            elif role == _R_ALIAS:
                table_aliases.append(node)  # type: ignore[arg-type]
            elif role == _R_TABLE:
                all_tables.append(node)  # type: ignore[arg-type]
            if check == _K_OK:
                pass
            elif check == _K_FORBIDDEN:
                found.append(_forbidden_reason(cls) or "")
            elif check == _K_COMMAND:
                found.append(f"{str(node.this).upper()} is not a query")
            elif check == _K_FUNC:
                reason = self._check_function(node) or cost_reason(node, self.dialect, max_rows)  # type: ignore[arg-type]
                if reason:
                    found.append(reason)
            elif check == _K_CTE:
                if not isinstance(node.this, exp.Query):
                    found.append(f"CTE {node.alias!r} must be a SELECT (writable CTEs are not allowed)")
                elif isinstance(node.parent, exp.With) and node.parent.args.get("recursive"):
                    reason = recursive_cte_reason(node, _cte_key(node, self.dialect).lower(), max_rows)  # type: ignore[arg-type]
                    if reason:
                        found.append(reason)
            elif check == _K_PATTERN:
                reason = pattern_reason(node.expression, _PATTERN_WORDS[cls])
                if reason:
                    found.append(reason)
            elif check == _K_TABLE:
                if isinstance(node.this, _ROW_GENERATORS):
                    pass  # checked as a function (literal bounds) where the walk visits it
                elif not isinstance(node.this, exp.Identifier):
                    name = node.this.sql() if node.this is not None else "?"
                    found.append(f"table functions in FROM are not allowed ({name[:60]})")
                elif not _is_cte_reference(node, self.dialect):  # type: ignore[arg-type]
                    base_tables.append(node)  # type: ignore[arg-type]
            elif check == _K_DOT:
                if isinstance(node.expression, exp.Func):
                    found.append(f"schema-qualified function calls are not allowed ({node.sql()[:60]})")
            elif check == _K_DISALLOWED:
                found.append(f"{node.key.upper()} is not allowed in a read-only query")
        reasons.extend("a SELECT must name what it selects" for sel in selects if not sel.expressions)
        reasons.extend(found)

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
        for alias in table_aliases:
            alias_name = alias.name.lower()
            known.add(alias_name)
            holder = alias.parent
            if isinstance(holder, exp.Subquery):
                for t in _exposed_tables(holder, self.dialect):
                    name = _ident_key(t.this, self.dialect)
                    if name in tables:
                        qualifiers.setdefault(alias_name, set()).add(name)
                        if name in restricted and alias.columns:
                            reasons.append(_alias_columns_reason(name, alias))
        known.update(t.name.lower() for t in all_tables)

        columns: set[str] = set()
        niladic = _NILADIC_FUNCTIONS[self.dialect]
        for node in scoped:
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
