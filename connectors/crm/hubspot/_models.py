"""Values the HubSpot API hands out: records, pipelines, owners, search pages.

Frozen dataclasses, shaped after HubSpot's CRM v3 objects so that the real client, the local
service and the in-memory fake all speak the same language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from connectors.crm.model import Owner, Pipeline, Stage

# The object types the connector supports (HubSpot's names: plural, lower case).
OBJECT_TYPES: tuple[str, ...] = ("contacts", "companies", "deals", "notes", "tasks")

# Custom property that carries a create's idempotency key (HubSpot has no idempotency header).
IDEMPOTENCY_PROPERTY = "chamberlain_idempotency_key"

OPERATORS: tuple[str, ...] = (
    "EQ",
    "NEQ",
    "GT",
    "GTE",
    "LT",
    "LTE",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "IN",
    "NOT_IN",
    "BETWEEN",  # value is (low, high), both inclusive; HubSpot sends them as value and highValue
)


@dataclass(frozen=True)
class CrmRecord:
    """One CRM object (contact, company, deal, note or task) as HubSpot returns it."""

    object_type: str
    id: str  # numeric string, as in HubSpot
    properties: Mapping[str, str | None]
    created_at: str  # ISO-8601 with milliseconds, "2026-01-05T09:00:00.000Z"
    updated_at: str
    archived: bool = False
    # Associated ids by object type; filled only when asked for (``get(..., associations=...)``).
    associations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """Opaque version of the record as read now: changes on every update.

        HubSpot bumps ``hs_lastmodifieddate`` / ``updatedAt`` on each change; an approval binds
        to this value so that a record edited after approval is noticed.
        """
        return self.updated_at or self.properties.get("hs_lastmodifieddate") or ""

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.properties.get(name)
        return default if value is None else value


@dataclass(frozen=True)
class SearchPage:
    """One page of search results; pass ``next_after`` back as ``after`` for the next page."""

    records: tuple[CrmRecord, ...]
    total: int
    next_after: str | None = None


@dataclass(frozen=True)
class Association:
    """A link between two records; it reads the same from either side."""

    from_type: str
    from_id: str
    to_type: str
    to_id: str


class Filter(NamedTuple):
    """One search filter: ``("dealstage", "EQ", "contractsent")``; ``value`` is a list for IN."""

    property: str
    operator: str
    value: str | Sequence[str] | None = None


@dataclass(frozen=True)
class CrmDataset:
    """A complete CRM content (the demo seed): loaded into the fake or the local service."""

    owners: tuple[Owner, ...] = ()
    pipelines: Mapping[str, tuple[Pipeline, ...]] = field(default_factory=dict)
    records: tuple[CrmRecord, ...] = ()
    associations: tuple[Association, ...] = ()


__all__ = [
    "IDEMPOTENCY_PROPERTY",
    "OBJECT_TYPES",
    "OPERATORS",
    "Association",
    "CrmDataset",
    "CrmRecord",
    "Filter",
    "Owner",
    "Pipeline",
    "SearchPage",
    "Stage",
]
