"""Tree helpers for table and column checks: stars, exposed tables, CTE references, identifier keys."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlglot import exp

from policies.sql_guard.grants import TableGrant


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
