"""A SOQL subset: the neutral search becomes a :class:`Soql` query that the in-memory org runs.

``str(query)`` is the SOQL text a real org would receive, e.g.
``SELECT Id, Name FROM Opportunity WHERE StageName = 'closedwon' AND Amount > 100000
ORDER BY Amount DESC NULLS LAST LIMIT 10 OFFSET 0``. Free text becomes one ``LIKE`` group per
word over the type's searchable fields (what SOSL's ``FIND`` would do).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.crm.salesforce._sobjects import DATE_FIELDS, DATETIME_FIELDS, NUMBER_FIELDS

# SOQL comparison operators this subset supports.
SOQL_OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "LIKE", "IN")


@dataclass(frozen=True)
class Clause:
    field: str
    operator: str  # one of SOQL_OPERATORS
    value: Any  # str, tuple of str for IN, None for "= null" / "!= null"

    def __str__(self) -> str:
        if self.operator == "IN":
            return f"{self.field} IN ({', '.join(_literal(self.field, v) for v in self.value)})"
        return f"{self.field} {self.operator} {_literal(self.field, self.value)}"


@dataclass(frozen=True)
class AnyOf:
    """Clauses joined by OR (one word of a free-text search)."""

    clauses: tuple[Clause, ...]

    def __str__(self) -> str:
        return "(" + " OR ".join(str(c) for c in self.clauses) + ")"


@dataclass(frozen=True)
class Soql:
    sobject: str
    fields: tuple[str, ...]
    where: tuple[Clause | AnyOf, ...] = ()
    order_by: tuple[str, bool] | None = None  # (field, descending)
    limit: int | None = None
    offset: int = 0
    count: bool = False

    def __str__(self) -> str:
        select = "COUNT()" if self.count else ", ".join(self.fields)
        text = f"SELECT {select} FROM {self.sobject}"
        if self.where:
            text += " WHERE " + " AND ".join(str(w) for w in self.where)
        if self.order_by and not self.count:
            text += f" ORDER BY {self.order_by[0]} {'DESC NULLS LAST' if self.order_by[1] else 'ASC NULLS FIRST'}"
        if self.limit is not None and not self.count:
            text += f" LIMIT {self.limit} OFFSET {self.offset}"
        return text


def _literal(field_name: str, value: Any) -> str:
    if value is None:
        return "null"
    if field_name in NUMBER_FIELDS or field_name in DATE_FIELDS or field_name in DATETIME_FIELDS:
        return str(value)  # SOQL writes numbers and dates unquoted
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _key(field_name: str, value: Any) -> tuple[int, Any]:
    """A comparable key: numbers as numbers, dates/datetimes as ISO text, text case-insensitive."""
    if value is None or value == "":
        return (1, "")
    if field_name in NUMBER_FIELDS:
        try:
            return (0, Decimal(str(value)))
        except InvalidOperation:
            return (1, "")
    if field_name in DATE_FIELDS:
        return (0, str(value)[:10])
    if field_name in DATETIME_FIELDS:
        text = str(value)
        return (0, text if "T" in text else f"{text}T00:00:00.000Z")
    return (0, str(value).lower())


def _matches(row: Mapping[str, Any], clause: Clause) -> bool:
    actual = row.get(clause.field)
    op, wanted = clause.operator, clause.value
    if wanted is None:  # "= null" / "!= null"
        empty = actual is None or actual == ""
        return empty if op == "=" else not empty
    if op == "LIKE":
        needle = str(wanted).strip("%").lower()
        return actual is not None and needle in str(actual).lower()
    if op == "IN":
        return _key(clause.field, actual) in {_key(clause.field, v) for v in wanted}
    if actual is None or actual == "":
        return op == "!="
    a, w = _key(clause.field, actual), _key(clause.field, wanted)
    if a[0] or w[0]:
        return False  # not comparable (e.g. text in a number field)
    return {
        "=": a == w,
        "!=": a != w,
        ">": a > w,
        ">=": a >= w,
        "<": a < w,
        "<=": a <= w,
    }[op]


def run(query: Soql, rows: Sequence[Mapping[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
    """(how many rows match, the selected page of them) — the org's query engine."""

    def ok(row: Mapping[str, Any]) -> bool:
        for w in query.where:
            if isinstance(w, AnyOf):
                if not any(_matches(row, c) for c in w.clauses):
                    return False
            elif not _matches(row, w):
                return False
        return True

    hits = [r for r in rows if ok(r)]
    # Salesforce's default order is unspecified; Id order keeps paging stable here.
    hits.sort(key=lambda r: str(r["Id"]))
    if query.order_by:
        name, desc = query.order_by
        present = [r for r in hits if r.get(name) not in (None, "")]
        missing = [r for r in hits if r.get(name) in (None, "")]
        present.sort(key=lambda r: _key(name, r.get(name)), reverse=desc)
        hits = present + missing if desc else missing + present
    page = hits[query.offset :] if query.limit is None else hits[query.offset : query.offset + query.limit]
    return len(hits), [{f: r.get(f) for f in query.fields} for r in page]


__all__ = ["SOQL_OPERATORS", "AnyOf", "Clause", "Soql", "run"]
