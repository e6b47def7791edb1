"""Which warehouse tables and columns each person may read, from their directory roles.

The policy file (``policies/data_access.yaml``) maps a role to tables; a person may read the
union over their roles. The result is an :class:`~policies.sql_guard.AllowList` that the SQL
guard enforces. Pure: reads only the file it is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policies.directory import Principal
from policies.errors import PolicyFileError
from policies.policy_file import read_policy_file
from policies.sql_guard import AllowList, TableGrant

DEFAULT_DATA_ACCESS = Path(__file__).with_name("data_access.yaml")


@dataclass(frozen=True)
class DataAccessPolicy:
    """Role → table grants, loaded from YAML."""

    roles: Mapping[str, AllowList]

    @classmethod
    def load(cls, path: str | Path = DEFAULT_DATA_ACCESS) -> DataAccessPolicy:
        doc = read_policy_file(path, "data access policy file")
        roles = doc.raw.get("roles") if isinstance(doc.raw, dict) else None
        if not isinstance(roles, dict):
            raise PolicyFileError(f"{doc.where('roles')}: expected a top-level 'roles:' mapping of role → tables")
        return cls(
            {str(role): _grants(tables, f"{doc.where('roles', role)}: roles.{role}") for role, tables in roles.items()}
        )

    def allow_list(self, roles: Iterable[str]) -> AllowList:
        """What someone holding ``roles`` may read (nothing if no role grants anything)."""
        out = AllowList.nothing()
        for role in sorted(set(roles)):
            granted = self.roles.get(role)
            if granted is not None:
                out = out.union(granted)
        return out


def _grants(raw: Any, where: str) -> AllowList:
    if raw is None:
        return AllowList.nothing()
    if not isinstance(raw, dict):
        raise PolicyFileError(f"{where}: expected a mapping of table → all | [columns] | {{exclude: [...]}}")
    grants: dict[str, TableGrant] = {}
    for table, spec in raw.items():
        name = str(table).lower()
        if spec == "all" or spec is None:
            grants[name] = TableGrant()
        elif isinstance(spec, list) and spec and all(isinstance(c, str) for c in spec):
            grants[name] = TableGrant(frozenset(c.lower() for c in spec))
        elif (
            isinstance(spec, dict)
            and set(spec) == {"exclude"}
            and isinstance(spec["exclude"], list)
            and all(isinstance(c, str) for c in spec["exclude"])
        ):
            grants[name] = TableGrant(None, frozenset(c.lower() for c in spec["exclude"]))
        else:
            raise PolicyFileError(
                f"{where}.{table}: expected 'all', a list of column names, or {{exclude: [columns]}}; got {spec!r}"
            )
    return AllowList(grants)


_DEFAULT: DataAccessPolicy | None = None


def default_policy() -> DataAccessPolicy:
    """The shipped policy file, loaded once on first use."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = DataAccessPolicy.load()
    return _DEFAULT


def warehouse_allow_list(principal: Principal, policy: DataAccessPolicy | None = None) -> AllowList:
    """The warehouse tables/columns ``principal`` may read: the union over their roles."""
    return (policy or default_policy()).allow_list(principal.roles)


__all__ = ["DEFAULT_DATA_ACCESS", "DataAccessPolicy", "default_policy", "warehouse_allow_list"]
