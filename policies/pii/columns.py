"""Sensitive columns in tabular results: which columns an audience may not see, and their values found elsewhere."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from policies.directory import Clearance
from policies.errors import PolicyFileError
from policies.pii.kinds import DEFAULT_PLACEHOLDER
from policies.policy_file import read_policy_file

# ---------------------------------------------------------------------------------------------
# Sensitive columns in tabular results


@dataclass(frozen=True)
class SensitiveColumn:
    """``table.column`` whose values only ``visible_from`` and above may see."""

    table: str
    column: str
    visible_from: Clearance = Clearance.RESTRICTED

    @property
    def qualified(self) -> str:
        return f"{self.table}.{self.column}"


@dataclass(frozen=True)
class RedactedTable:
    rows: list[list[Any]]
    redacted_columns: list[str]  # result column names whose values were replaced


@dataclass(frozen=True)
class SensitiveColumns:
    """Configured sensitive columns, e.g. ``employees.salary``.

    Result columns are matched by name, case-insensitively: ``employees.salary`` matches a
    qualified result column exactly; a bare ``salary`` matches when ``tables`` (the tables the
    query read) includes ``employees`` or when ``tables`` is not given (fail closed). A column
    renamed by an alias (``salary AS pay``) is NOT recognised here: the SQL guard must resolve
    aliases to source columns (sqlglot lineage) and pass those names.
    """

    columns: tuple[SensitiveColumn, ...] = ()

    @classmethod
    def default(cls) -> SensitiveColumns:
        return cls(
            (
                SensitiveColumn("employees", "salary", Clearance.RESTRICTED),
                SensitiveColumn("employees", "home_address", Clearance.RESTRICTED),
                SensitiveColumn("employees", "date_of_birth", Clearance.RESTRICTED),
            )
        )

    @classmethod
    def from_mapping(cls, raw: Any, *, where: str = "sensitive columns") -> SensitiveColumns:
        """From ``{"columns": [{"column": "employees.salary", "visible_from": "restricted"}]}``
        or a plain list of ``"table.column"`` strings."""
        items = raw.get("columns") if isinstance(raw, Mapping) else raw
        if not isinstance(items, list):
            raise PolicyFileError(f"{where}: expected a 'columns:' list")
        out: list[SensitiveColumn] = []
        for i, item in enumerate(items):
            spec = item if isinstance(item, Mapping) else {"column": item}
            name = str(spec.get("column", ""))
            if name.count(".") != 1 or not all(name.split(".")):
                raise PolicyFileError(f"{where}: columns[{i}]: {name!r} is not 'table.column' (e.g. employees.salary)")
            table, column = name.lower().split(".")
            try:
                clearance = Clearance.parse(str(spec.get("visible_from", "restricted")))
            except ValueError as exc:
                raise PolicyFileError(f"{where}: columns[{i}]: {exc}") from None
            out.append(SensitiveColumn(table, column, clearance))
        return cls(tuple(out))

    @classmethod
    def load(cls, path: str | Path) -> SensitiveColumns:
        """Load from a YAML (or JSON) file in the ``from_mapping`` format."""
        return cls.from_mapping(read_policy_file(path, "sensitive columns file").raw, where=str(path))

    def match(self, column: str, tables: Iterable[str] | None = None) -> SensitiveColumn | None:
        """The configured column a result column name refers to, if any."""
        name = column.strip().strip('"`[]').lower()
        table_set = None if tables is None else {t.lower().rsplit(".", 1)[-1] for t in tables}
        bare = name.rsplit(".", 1)[-1]
        for sc in self.columns:
            if "." in name and name.rsplit(".", 2)[-2:] == [sc.table, sc.column]:
                return sc
            # A bare name, or a qualifier that may be an alias ("e.salary"): match on the column
            # name when the table was read, or when we cannot tell (fail closed).
            if bare == sc.column and (table_set is None or sc.table in table_set):
                return sc
        return None

    def hidden_columns(
        self, columns: Sequence[str], clearance: Clearance, tables: Iterable[str] | None = None
    ) -> list[int]:
        """Indexes of result columns ``clearance`` may not see."""
        tables = None if tables is None else list(tables)
        out = []
        for i, col in enumerate(columns):
            sc = self.match(col, tables)
            if sc is not None and clearance < sc.visible_from:
                out.append(i)
        return out

    def redact_table(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        clearance: Clearance,
        *,
        tables: Iterable[str] | None = None,
        placeholder: str = DEFAULT_PLACEHOLDER,
    ) -> RedactedTable:
        """Replace the values of sensitive columns the audience may not see.

        NULLs stay NULL (absence is not sensitive); other values become
        ``placeholder.format(kind=<column name>)``.
        """
        hidden = self.hidden_columns(columns, clearance, tables)
        out: list[list[Any]] = [list(r) for r in rows]
        for r in out:
            for i in hidden:
                if i < len(r) and r[i] is not None:
                    r[i] = placeholder.format(kind=columns[i])
        return RedactedTable(out, [columns[i] for i in hidden])

    def values(
        self, columns: Sequence[str], rows: Iterable[Sequence[Any]], tables: Iterable[str] | None = None
    ) -> set[str]:
        """The raw values of every sensitive column in a result, as strings.

        Feed them to ``detect``/``redact``/``redact_obj(sensitive_values=...)`` so the same
        values are also caught when they reappear in free text, logs or answers.
        """
        idx = self.hidden_columns(columns, Clearance.PUBLIC, tables)
        out: set[str] = set()
        for r in rows:
            for i in idx:
                if i < len(r) and r[i] is not None and str(r[i]).strip():
                    out.update(_value_forms(r[i]))
        return out


def _value_forms(value: Any) -> set[str]:
    """How a value may be written in text: 98000.0 also as 98000 and 98,000."""
    forms = {str(value).strip()}
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        if value == int(value):
            forms |= {str(int(value)), f"{int(value):,}"}
        else:
            forms.add(f"{value:,}")
    return forms
