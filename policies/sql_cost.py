"""Cost rules of the SQL guard: what one function call or pattern may make the database do.

A CPU or memory bomb is usually a single call (``repeat('x', 1e9)``, ``printf('%.*c', n, 'x')``,
a LIKE whose pattern was itself generated, ``replace`` chains that double a string each step)
or a row generator without a bound (``generate_series(1, 1e12)``, a recursive CTE without a
stop). These rules refuse them on the AST, before execution, with a message that says what to
write instead. They are the first line: the database enforces length, heap, pattern and time
limits again where the query runs (:mod:`connectors.warehouse`).

Pure functions over sqlglot nodes; no I/O.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlglot import exp

from policies.sql_functions import MAX_GENERATED_CHARS, MAX_PATTERN_CHARS

# Functions whose output can be much longer than their input.
_GROWING = frozenset({"repeat", "lpad", "rpad", "space", "printf", "format", "replace"})
# Functions that turn one value into many rows or elements.
_SPLITTING = frozenset({"unnest", "string_to_array", "regexp_split_to_array", "split", "regexp_split"})
_REGEX_CLASSES: tuple[type[exp.Expr], ...] = (
    exp.RegexpLike, exp.RegexpILike, exp.RegexpReplace, exp.RegexpExtract, exp.RegexpSplit,
    exp.RegexpCount, exp.RegexpInstr, exp.RegexpSubstr,
)  # fmt: skip
_REGEX_NAMES = frozenset(
    {"regexp_match", "regexp_matches", "regexp_split_to_array", "regexp_like", "regexp_count", "regexp_replace",
     "regexp_substr", "regexp_instr", "regexp"}
)  # fmt: skip
# Inside a LIKE pattern: string building that cannot blow up (a column, a literal, glue).
_PATTERN_SAFE_FUNCS: tuple[type[exp.Expr], ...] = (
    exp.Concat, exp.DPipe, exp.Lower, exp.Upper, exp.Trim, exp.Coalesce, exp.Cast, exp.Substring, exp.Left,
    exp.Right,
)  # fmt: skip
_PRINTF_SPEC = re.compile(r"%(?:\d+\$)?[-+ #0,!']*(\*|\d+)?(?:\.(\*|\d+))?")
# Days per interval unit, rounded DOWN so that the row estimate errs high.
_UNIT_DAYS = {
    "year": 365.0, "years": 365.0, "month": 28.0, "months": 28.0, "mon": 28.0, "mons": 28.0,
    "week": 7.0, "weeks": 7.0, "day": 1.0, "days": 1.0, "hour": 1 / 24, "hours": 1 / 24,
    "minute": 1 / 1440, "minutes": 1 / 1440, "min": 1 / 1440, "mins": 1 / 1440,
    "second": 1 / 86400, "seconds": 1 / 86400, "sec": 1 / 86400, "secs": 1 / 86400,
}  # fmt: skip
_SERIES_HINT_SQLITE = (
    "SQLite has no generate_series; for a short series write "
    "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 12) SELECT n FROM s"
)


def function_name(node: exp.Func) -> str:
    """The name a person would use for ``node`` (``lpad`` for a left ``Pad``, ...)."""
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    if isinstance(node, exp.Pad):
        return "lpad" if node.args.get("is_left") else "rpad"
    if isinstance(node, (exp.GenerateSeries, exp.ExplodingGenerateSeries)):
        return "generate_series"
    if isinstance(node, _REGEX_CLASSES):
        return "regexp"
    return node.sql_name().lower() if hasattr(node, "sql_name") else type(node).__name__.lower()


def _arg(node: exp.Func, key: str, index: int) -> exp.Expr | None:
    """Argument ``key`` of a modelled function, or positional ``index`` of an anonymous one."""
    if isinstance(node, exp.Anonymous):
        args = node.expressions
        return args[index] if index < len(args) else None
    value = node.args.get(key)
    return value if isinstance(value, exp.Expr) else None


def _int_literal(node: exp.Expr | None) -> int | None:
    if isinstance(node, exp.Paren):
        return _int_literal(node.this)
    if isinstance(node, exp.Neg):
        inner = _int_literal(node.this)
        return None if inner is None else -inner
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return int(node.this)
        except ValueError:
            try:
                return int(float(node.this))
            except ValueError:
                return None
    return None


def _string_literal(node: exp.Expr | None) -> str | None:
    return node.this if isinstance(node, exp.Literal) and node.is_string else None


def _contains_call(node: exp.Expr | None, names: frozenset[str]) -> bool:
    if node is None:
        return False
    return any(isinstance(n, exp.Func) and function_name(n) in names for n in node.walk())


_COST_CLASSES: tuple[type[exp.Expr], ...] = (
    exp.Repeat, exp.Pad, exp.Space, exp.Format, exp.Replace, exp.GenerateSeries, exp.ExplodingGenerateSeries,
    exp.Unnest, exp.StringToArray, exp.Split, *_REGEX_CLASSES,
)  # fmt: skip
_COST_NAMES = _GROWING | _SPLITTING | _REGEX_NAMES | {"generate_series"}


def cost_reason(node: exp.Func, dialect: str, max_rows: int) -> str | None:
    """Why calling ``node`` could cost unbounded CPU, memory or rows (None when it cannot)."""
    # Fast path: most calls (COUNT, SUM, CAST, ...) have no cost rule.
    if isinstance(node, exp.Anonymous):
        if node.name.lower() not in _COST_NAMES:
            return None
    elif not isinstance(node, _COST_CLASSES):
        return None
    name = function_name(node)
    if name == "repeat":
        return _size_reason(name, _arg(node, "times", 1))
    if name in ("lpad", "rpad"):
        return _size_reason(name, _arg(node, "expression", 1))
    if name == "space":
        return _size_reason(name, _arg(node, "this", 0))
    if name in ("printf", "format") and dialect in ("sqlite", "postgres"):
        return _format_reason(name, _arg(node, "this", 0))
    if name == "replace":
        return _replace_reason(node)
    if name == "regexp" or (isinstance(node, exp.Anonymous) and name in _REGEX_NAMES):
        return pattern_reason(_arg(node, "expression", 1), "a regular expression")
    if name == "generate_series":
        return series_reason(node, dialect, max_rows)
    if name in _SPLITTING:
        inner = list(node.expressions) if isinstance(node, (exp.Anonymous, exp.Unnest)) else [node.this]
        if any(_contains_call(a, _GROWING | {"generate_series"}) for a in inner):
            return f"{name} may not split a string or array that the query itself generated; split a column"
    return None


def _size_reason(name: str, size: exp.Expr | None) -> str | None:
    n = _int_literal(size)
    if n is None or n > MAX_GENERATED_CHARS:
        return f"{name}() needs a literal count of at most {MAX_GENERATED_CHARS:,} (it can build huge strings)"
    return None


def _format_reason(name: str, fmt: exp.Expr | None) -> str | None:
    text = _string_literal(fmt)
    if text is None:
        return f"{name}() needs a literal format string"
    for m in _PRINTF_SPEC.finditer(text):
        for part in m.groups():
            if part == "*" or (part is not None and int(part) > MAX_GENERATED_CHARS):
                return (
                    f"{name}() widths and precisions must be literal numbers of at most "
                    f"{MAX_GENERATED_CHARS:,} (no '*'): they can build huge strings"
                )
    return None


def _replace_reason(node: exp.Func) -> str | None:
    subject = _arg(node, "this", 0)
    needle = _string_literal(_arg(node, "expression", 1))
    replacement_node = _arg(node, "replacement", 2)
    replacement = _string_literal(replacement_node)
    if replacement is not None and len(replacement) > MAX_GENERATED_CHARS:
        return f"replace() replacement text may be at most {MAX_GENERATED_CHARS:,} characters"
    grows = replacement is None or needle is None or len(replacement) > len(needle)
    if grows and _contains_call(subject, _GROWING):
        # replace('aa', 'a', 'aa') nested k times grows the string 2^k times in one VM step.
        return (
            "replace() may not lengthen a string that another repeat/pad/printf/replace built "
            "(nested growth is a memory bomb); replace within a column's value instead"
        )
    return None


def pattern_reason(pattern: exp.Expr | None, what: str) -> str | None:
    """A LIKE/GLOB/regex pattern must be short and written in the query, or come from data."""
    if pattern is None:
        return None
    if isinstance(pattern, exp.Any | exp.All):
        pattern = pattern.this
    for n in pattern.walk():
        if isinstance(n, exp.Literal) and n.is_string and len(n.this) > MAX_PATTERN_CHARS:
            return f"{what} pattern may be at most {MAX_PATTERN_CHARS} characters"
        if isinstance(n, exp.Query):
            return f"{what} pattern may not come from a subquery; write it in the query"
        if isinstance(n, exp.Func) and not isinstance(n, _PATTERN_SAFE_FUNCS):
            return (
                f"{what} pattern must be a literal or a column (a generated pattern can make one "
                "comparison run for minutes)"
            )
    return None


# -- row generators ------------------------------------------------------------------------------


def series_reason(node: exp.Func, dialect: str, max_rows: int) -> str | None:
    """``generate_series`` passes only with literal bounds that give at most ``max_rows`` rows."""
    if dialect != "postgres":
        return _SERIES_HINT_SQLITE if dialect == "sqlite" else f"generate_series does not exist in {dialect}"
    if isinstance(node, exp.Anonymous):
        args = [*node.expressions, None, None, None]
        start, end, step = args[0], args[1], args[2]
    else:
        start, end, step = node.args.get("start"), node.args.get("end"), node.args.get("step")
    rows = _series_rows(start, end, step)
    if rows is None:
        return (
            "function generate_series needs literal bounds (numbers, or dates with a literal interval step), "
            "e.g. generate_series(1, 12) or generate_series(DATE '2025-01-01', DATE '2025-12-01', INTERVAL '1 month')"
        )
    if rows > max_rows:
        return (
            f"function generate_series would produce {rows:,} rows, more than the {max_rows:,}-row cap; "
            "narrow the bounds"
        )
    return None


def _series_rows(start: exp.Expr | None, end: exp.Expr | None, step: exp.Expr | None) -> int | None:
    a, b = _int_literal(start), _int_literal(end)
    if a is not None and b is not None:
        s = 1 if step is None else _int_literal(step)
        if not s:
            return None
        return max(0, (b - a) // s + 1)
    da, db = _date_literal(start), _date_literal(end)
    days = _interval_days(step)
    if da is None or db is None or not days:
        return None
    span = (db - da).total_seconds() / 86400
    if span < 0:
        return 0
    return int(span / days) + 1


def _date_literal(node: exp.Expr | None) -> datetime | None:
    if isinstance(node, exp.Cast) and node.to.is_type(*exp.DataType.TEMPORAL_TYPES):
        node = node.this
    text = _string_literal(node)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            value = datetime.combine(date.fromisoformat(text.strip()), datetime.min.time())
        except ValueError:
            return None
    return value.replace(tzinfo=None)


def _interval_days(node: exp.Expr | None) -> float | None:
    text: str | None = None
    if isinstance(node, exp.Interval):
        unit = node.args.get("unit")
        amount = node.this.name if node.this is not None else ""
        text = f"{amount} {unit.name if unit is not None else ''}".strip()
    elif isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.INTERVAL):
        text = _string_literal(node.this)
    else:
        text = _string_literal(node)
    if not text:
        return None
    total = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", text.lower()):
        per = _UNIT_DAYS.get(unit)
        if per is None:
            return None
        total += float(amount) * per
    return total or None


def recursive_cte_reason(cte: exp.CTE, name: str, max_rows: int) -> str | None:
    """A recursive CTE must stop by itself within ``max_rows`` rows.

    Two shapes are accepted: a literal ``LIMIT n`` on the CTE's UNION, or a counter
    (``SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 12``) whose recursive member reads only
    the CTE itself. Anything else could generate rows without end.
    """
    body = cte.this
    hint = (
        f"recursive CTE {name} has no bound the guard can prove; stop it with a counter "
        f"(SELECT 1 UNION ALL SELECT n + 1 FROM {name} WHERE n < 12) or LIMIT n inside the CTE (n ≤ {max_rows:,})"
    )
    if not isinstance(body, exp.Union):
        return None if not _references(body, name) else hint
    limit = body.args.get("limit")
    if isinstance(limit, exp.Limit):
        n = _int_literal(limit.expression)
        if n is not None and 0 <= n <= max_rows:
            return None
        return hint
    anchor, member = body.this, body.expression
    if not isinstance(anchor, exp.Select) or not isinstance(member, exp.Select):
        return hint
    if not _references(member, name):
        return None  # not actually recursive
    source = member.args.get("from_")
    if (
        member.args.get("joins")
        or not isinstance(source, exp.From)
        or not isinstance(source.this, exp.Table)
        or source.this.name.lower() != name
        or sum(1 for t in member.find_all(exp.Table) if t.name.lower() == name) != 1
    ):
        return hint
    alias = cte.args.get("alias")
    names = [c.name.lower() for c in alias.columns] if isinstance(alias, exp.TableAlias) and alias.columns else []
    if not names:
        names = [e.alias_or_name.lower() for e in anchor.expressions]
    where = member.args.get("where")
    if not isinstance(where, exp.Where):
        return hint
    for cond in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
        rows = _counter_rows(cond, names, anchor, member)
        if rows is not None:
            return None if rows <= max_rows else hint
    return hint


def _references(node: exp.Expr, name: str) -> bool:
    return any(t.name.lower() == name and not t.db for t in node.find_all(exp.Table))


def _counter_rows(cond: exp.Expr, names: list[str], anchor: exp.Select, member: exp.Select) -> int | None:
    if isinstance(cond, (exp.LT, exp.LTE)):
        col, bound, inclusive = cond.this, cond.expression, isinstance(cond, exp.LTE)
    elif isinstance(cond, (exp.GT, exp.GTE)):
        col, bound, inclusive = cond.expression, cond.this, isinstance(cond, exp.GTE)
    else:
        return None
    limit = _int_literal(bound)
    if not isinstance(col, exp.Column) or limit is None or col.name.lower() not in names:
        return None
    i = names.index(col.name.lower())
    if i >= len(anchor.expressions) or i >= len(member.expressions):
        return None
    start = _int_literal(_unalias(anchor.expressions[i]))
    step_expr = _unalias(member.expressions[i])
    if start is None or not isinstance(step_expr, exp.Add):
        return None
    left, right = step_expr.this, step_expr.expression
    if isinstance(left, exp.Column) and left.name.lower() == col.name.lower():
        step = _int_literal(right)
    elif isinstance(right, exp.Column) and right.name.lower() == col.name.lower():
        step = _int_literal(left)
    else:
        return None
    if step is None or step <= 0:
        return None
    last = limit if inclusive else limit - 1
    # The member runs while the counter passes the test: rows = anchor + one per passing value.
    return max(1, (last - start) // step + 2)


def _unalias(node: exp.Expr) -> exp.Expr:
    return node.this if isinstance(node, exp.Alias) else node


__all__ = ["cost_reason", "function_name", "pattern_reason", "recursive_cte_reason", "series_reason"]
