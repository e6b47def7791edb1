"""The in-memory CRM that ships with the code: HubSpot behaviour without a server.

Same rules as the local HubSpot-compatible service (both are :class:`CrmEngine`), so tests
and demos can use it wherever a :class:`~connectors.crm.hubspot.HubSpotApi` is expected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from connectors.crm.hubspot._engine import CrmEngine, _now_ms
from connectors.crm.hubspot._mapping import HubSpotMapping
from connectors.crm.hubspot._models import Association, CrmDataset, CrmRecord, Owner, Pipeline


class InMemoryCrm(HubSpotMapping, CrmEngine):
    """A HubSpot-shaped CRM held in dicts: both the HubSpot API and the neutral connector.

    Empty until :meth:`load` (e.g. ``seed_crm(crm)``) fills it."""

    def __init__(self, dataset: CrmDataset | None = None, *, clock_ms: Callable[[], int] = _now_ms) -> None:
        super().__init__(clock_ms=clock_ms)
        self._records: dict[str, dict[str, CrmRecord]] = {}
        self._links: list[Association] = []
        self._owners: list[Owner] = []
        self._pipelines: dict[str, list[Pipeline]] = {}
        if dataset is not None:
            self.load(dataset)

    @classmethod
    def seeded(cls, seed: int | None = None) -> InMemoryCrm:
        """A fake loaded with the demo CRM (``connectors.demo.crm_seed``)."""
        from connectors.crm.hubspot._dataset import demo_dataset

        return cls(demo_dataset(seed))

    def _read(self, object_type: str, id: str) -> CrmRecord | None:
        return self._records.get(object_type, {}).get(id)

    def _scan(self, object_type: str) -> Iterable[CrmRecord]:
        return list(self._records.get(object_type, {}).values())

    def _write(self, record: CrmRecord) -> None:
        self._records.setdefault(record.object_type, {})[record.id] = record

    def _max_id(self, object_type: str) -> int | None:
        ids = [int(i) for i in self._records.get(object_type, {})]
        return max(ids) if ids else None

    def _linked(self, object_type: str, id: str, to_type: str) -> list[str]:
        out: list[str] = []
        for a in self._links:
            if (a.from_type, a.from_id, a.to_type) == (object_type, id, to_type):
                other = a.to_id
            elif (a.to_type, a.to_id, a.from_type) == (object_type, id, to_type):
                other = a.from_id
            else:
                continue
            if other not in out:
                out.append(other)
        return out

    def _link(self, association: Association) -> None:
        if association not in self._links:
            self._links.append(association)

    def _stored_owners(self) -> list[Owner]:
        return self._owners

    def _stored_pipelines(self, object_type: str) -> list[Pipeline]:
        return self._pipelines.get(object_type, [])

    def _store_dataset(self, dataset: CrmDataset) -> None:
        self._records = {}
        for r in dataset.records:
            self._write(r)
        self._links = list(dict.fromkeys(dataset.associations))
        self._owners = list(dataset.owners)
        self._pipelines = {k: list(v) for k, v in dataset.pipelines.items()}


__all__ = ["InMemoryCrm"]
