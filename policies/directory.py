"""The people directory: who someone is, what roles and groups they hold, who their manager is.

Loaded from a YAML file (``policies/directory.yaml`` for the demo company). Pure data; no I/O
beyond reading the file it is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum
from pathlib import Path
from typing import Any

from policies.defaults import DEFAULT_DIRECTORY
from policies.errors import PolicyFileError, UnknownPrincipal
from policies.policy_file import read_policy_file


class Clearance(IntEnum):
    """How sensitive the data a person may see is; ordered, so comparisons work."""

    PUBLIC = 0
    INTERNAL = 1
    CONFIDENTIAL = 2
    RESTRICTED = 3

    @classmethod
    def parse(cls, value: str) -> Clearance:
        try:
            return cls[value.upper()]
        except KeyError:
            names = ", ".join(c.name.lower() for c in cls)
            raise ValueError(f"unknown clearance {value!r}; use one of: {names}") from None


@dataclass(frozen=True)
class Principal:
    """A person the assistant acts for (or an approver acting on a request)."""

    id: str
    name: str
    email: str
    title: str = ""
    department: str = ""
    cost_center: str = ""
    manager: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)
    clearance: Clearance = Clearance.INTERNAL
    away_until: date | None = None
    delegate: str | None = None

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def label(self) -> str:
        """``Dana Whitfield (Finance)`` — how people are named in messages and cards."""
        return f"{self.name} ({self.department})" if self.department else self.name

    def is_away(self, today: date) -> bool:
        return self.away_until is not None and today <= self.away_until


class Directory:
    """Look people up by id or email; walk the management chain."""

    def __init__(self, people: Iterable[Principal], company: str = "") -> None:
        self.company = company
        self._by_id: dict[str, Principal] = {}
        self._by_email: dict[str, Principal] = {}
        for p in people:
            if p.id in self._by_id:
                raise PolicyFileError(f"duplicate person id {p.id!r} in directory")
            self._by_id[p.id] = p
            self._by_email[p.email.lower()] = p
        for p in self._by_id.values():
            for ref, what in ((p.manager, "manager"), (p.delegate, "delegate")):
                if ref is not None and ref not in self._by_id:
                    raise PolicyFileError(f"{p.id}: {what} {ref!r} is not in the directory")
        # A management cycle would make chain walks loop forever: refuse it at load time.
        for p in self._by_id.values():
            seen = {p.id}
            cur = p.manager
            while cur is not None:
                if cur in seen:
                    raise PolicyFileError(f"management cycle through {p.id!r}")
                seen.add(cur)
                cur = self._by_id[cur].manager

    @classmethod
    def load(cls, path: str | Path = DEFAULT_DIRECTORY) -> Directory:
        doc = read_policy_file(path, "directory file")
        raw = doc.raw if isinstance(doc.raw, dict) else {}
        people = raw.get("people")
        if not isinstance(people, list):
            raise PolicyFileError(f"{doc.where('people')}: expected a top-level 'people:' list")
        return cls(
            (_principal(p, f"{doc.where('people', i)}: people[{i}]") for i, p in enumerate(people)),
            raw.get("company", ""),
        )

    def get(self, principal_id: str) -> Principal:
        try:
            return self._by_id[principal_id]
        except KeyError:
            raise UnknownPrincipal(
                f"unknown user {principal_id!r}: not in the directory "
                f"(known ids look like {next(iter(self._by_id), 'u_name')!r})"
            ) from None

    def find(self, principal_id: str) -> Principal | None:
        return self._by_id.get(principal_id)

    def by_email(self, email: str) -> Principal | None:
        return self._by_email.get(email.lower())

    def manager_of(self, principal_id: str) -> Principal | None:
        m = self.get(principal_id).manager
        return self._by_id[m] if m else None

    def chain_of(self, principal_id: str) -> list[Principal]:
        """Managers above ``principal_id``, nearest first."""
        out: list[Principal] = []
        cur = self.manager_of(principal_id)
        while cur is not None:
            out.append(cur)
            cur = self.manager_of(cur.id)
        return out

    def is_above(self, manager_id: str, principal_id: str) -> bool:
        return any(m.id == manager_id for m in self.chain_of(principal_id))

    def with_role(self, role: str) -> list[Principal]:
        return [p for p in self._by_id.values() if role in p.roles]

    def __iter__(self) -> Iterator[Principal]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)


def _principal(raw: Any, where: str) -> Principal:
    if not isinstance(raw, dict):
        raise PolicyFileError(f"{where}: expected a mapping")
    try:
        away = raw.get("away_until")
        return Principal(
            id=str(raw["id"]),
            name=str(raw["name"]),
            email=str(raw["email"]),
            title=str(raw.get("title") or ""),
            department=str(raw.get("department") or ""),
            cost_center=str(raw.get("cost_center") or ""),
            manager=raw.get("manager"),
            roles=frozenset(raw.get("roles") or ()),
            groups=frozenset(raw.get("groups") or ()),
            clearance=Clearance.parse(str(raw.get("clearance", "internal"))),
            away_until=away if isinstance(away, date) or away is None else date.fromisoformat(away),
            delegate=raw.get("delegate"),
        )
    except KeyError as exc:
        raise PolicyFileError(f"{where}: missing required field {exc.args[0]!r}") from None
    except ValueError as exc:
        raise PolicyFileError(f"{where}: {exc}") from None


__all__ = ["DEFAULT_DIRECTORY", "Clearance", "Directory", "Principal"]
