"""Neutral CRM content (e.g. the demo company, :mod:`connectors.demo.crm_seed`) as a HubSpot dataset."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import lru_cache

from connectors.crm.hubspot._mapping import OWNER_PROPERTY, PROPERTY_OF
from connectors.crm.hubspot._models import Association, CrmDataset, CrmRecord
from connectors.crm.model import CrmContent, CrmObject


def _text(value: object) -> str:
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00.000Z"  # HubSpot keeps a close date as midnight UTC
    if isinstance(value, Decimal):
        return str(int(value)) if value == value.to_integral_value() else format(value.normalize(), "f")
    return str(value)


def to_record(obj: CrmObject) -> CrmRecord:
    """A neutral object as the HubSpot record that stores it (only the fields that are set)."""
    props: dict[str, str | None] = {}
    for field, prop in PROPERTY_OF[obj.kind].items():
        value = getattr(obj, field)
        if value is not None and value != "":
            props[prop] = _text(value)
    if obj.owner_id:
        props[OWNER_PROPERTY] = obj.owner_id
    props.update({"hs_object_id": obj.id, "createdate": obj.created_at, "hs_lastmodifieddate": obj.updated_at})
    return CrmRecord(obj.kind, obj.id, props, obj.created_at, obj.updated_at)


def to_dataset(content: CrmContent) -> CrmDataset:
    return CrmDataset(
        owners=content.owners,
        pipelines={"deals": content.pipelines},
        records=tuple(to_record(r) for r in content.records),
        associations=tuple(Association(*link) for link in content.links),
    )


@lru_cache(maxsize=4)
def demo_dataset(seed: int | None = None) -> CrmDataset:
    """The demo company as a HubSpot dataset (pure; cached)."""
    from connectors.demo.crm_seed import DEFAULT_SEED, demo_crm

    return to_dataset(demo_crm(DEFAULT_SEED if seed is None else seed))


__all__ = ["demo_dataset", "to_dataset", "to_record"]
