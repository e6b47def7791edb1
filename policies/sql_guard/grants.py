"""Allow-lists (which tables and columns an asker may read) and the guard's verdict."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
