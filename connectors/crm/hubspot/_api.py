"""The HubSpot CRM v3 API as the HubSpot connector speaks it (the REST client, the in-memory
fake and the local service all implement it). The rest of Chamberlain speaks
:class:`connectors.crm.CrmConnector` instead."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from connectors.crm.hubspot._models import CrmRecord, Owner, Pipeline, SearchPage

# ("dealstage", "EQ", "contractsent"), ("amount", "GT", "10000"), ("dealstage", "IN", [...]),
# ("hubspot_owner_id", "HAS_PROPERTY", None); a :class:`Filter` is such a tuple.
FilterSpec = Sequence[object]
# ("amount", "DESCENDING"); direction is "ASCENDING" or "DESCENDING".
SortSpec = tuple[str, str]


@runtime_checkable
class HubSpotApi(Protocol):
    """A HubSpot-shaped CRM. Object types: contacts, companies, deals, notes, tasks.

    Every method raises :mod:`connectors.errors` types only: ``RecordNotFound`` for an unknown
    id, ``InvalidRequest`` for a request the CRM rejects (unknown property, bad stage...),
    ``ConnectorUnavailable`` when the CRM cannot be reached, ``ConnectorAuthError`` for bad
    credentials.
    """

    def get(
        self,
        object_type: str,
        id: str,
        properties: Sequence[str] | None = None,
        associations: Sequence[str] = (),
    ) -> CrmRecord:
        """One record. ``properties=None`` returns the type's default properties;
        ``associations`` lists object types whose associated ids to include."""
        ...

    def get_many(
        self, object_type: str, ids: Sequence[str], properties: Sequence[str] | None = None
    ) -> list[CrmRecord]:
        """Several records by id in one round trip, in the order asked; unknown ids are left out."""
        ...

    def search(
        self,
        object_type: str,
        *,
        query: str | None = None,
        filters: Sequence[FilterSpec] = (),
        properties: Sequence[str] | None = None,
        sorts: Sequence[SortSpec] | None = None,
        limit: int = 10,
        after: str | None = None,
    ) -> SearchPage:
        """Records matching a free-text ``query`` and all ``filters`` (AND), one page at a time."""
        ...

    def associations(self, from_type: str, id: str, to_type: str) -> list[str]:
        """Ids of the ``to_type`` records associated with record ``id``."""
        ...

    def update(self, object_type: str, id: str, properties: Mapping[str, str | None]) -> CrmRecord:
        """Set properties (naturally idempotent); returns the updated record."""
        ...

    def create(
        self,
        object_type: str,
        properties: Mapping[str, str | None],
        associations: Sequence[tuple[str, str]] = (),
        idempotency_key: str | None = None,
    ) -> CrmRecord:
        """Create a record associated with ``(object_type, id)`` pairs.

        With an ``idempotency_key``, a record created earlier with the same key is returned
        instead of creating a duplicate.
        """
        ...

    def pipelines(self, object_type: str = "deals") -> list[Pipeline]:
        """The pipelines (and their stages) of an object type."""
        ...

    def owners(self) -> list[Owner]:
        """Every CRM user who can own records."""
        ...


__all__ = ["FilterSpec", "HubSpotApi", "SortSpec"]
