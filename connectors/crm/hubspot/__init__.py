"""The HubSpot CRM connector: HubSpot's CRM v3 API and its mapping to the neutral model.

- :class:`HubSpotApi`: the HubSpot API as this package speaks it (object types, properties,
  filters, association type ids, paging cursors).
- :class:`HubSpotClient`: the real thing over HTTP (HubSpot, or ``connectors.crm_service``).
- :class:`InMemoryCrm`: the in-process fake with the same rules as the local service.
- :class:`HubSpotMapping`: mixed into both, it makes them a neutral
  :class:`~connectors.crm.CrmConnector` (the only place HubSpot property names are mapped).
"""

from connectors.crm.hubspot._api import FilterSpec, HubSpotApi, SortSpec
from connectors.crm.hubspot._client import HubSpotClient
from connectors.crm.hubspot._mapping import PROPERTY_OF, HubSpotMapping, to_model
from connectors.crm.hubspot._memory import InMemoryCrm
from connectors.crm.hubspot._models import (
    IDEMPOTENCY_PROPERTY,
    OBJECT_TYPES,
    OPERATORS,
    Association,
    CrmDataset,
    CrmRecord,
    Filter,
    SearchPage,
)

__all__ = [
    "IDEMPOTENCY_PROPERTY",
    "OBJECT_TYPES",
    "OPERATORS",
    "PROPERTY_OF",
    "Association",
    "CrmDataset",
    "CrmRecord",
    "Filter",
    "FilterSpec",
    "HubSpotApi",
    "HubSpotClient",
    "HubSpotMapping",
    "InMemoryCrm",
    "SearchPage",
    "SortSpec",
    "to_model",
]
