"""The CRM connector (HubSpot CRM v3 shape).

- :class:`CrmConnector`: what callers may use (``get``, ``get_many``, ``search``, ``associations``,
  ``update``, ``create``, ``pipelines``, ``owners``).
- :class:`HubSpotClient`: the real thing over HTTP (HubSpot, or the local service in
  ``connectors.crm_service``).
- :class:`InMemoryCrm`: the fake that ships with the code; same behaviour as the local service.
"""

from connectors.crm._client import HubSpotClient
from connectors.crm._memory import InMemoryCrm
from connectors.crm._models import (
    IDEMPOTENCY_PROPERTY,
    OBJECT_TYPES,
    OPERATORS,
    Association,
    CrmDataset,
    CrmRecord,
    Filter,
    Owner,
    Pipeline,
    SearchPage,
    Stage,
)
from connectors.crm._protocol import CrmConnector, FilterSpec, SortSpec

__all__ = [
    "IDEMPOTENCY_PROPERTY",
    "OBJECT_TYPES",
    "OPERATORS",
    "Association",
    "CrmConnector",
    "CrmDataset",
    "CrmRecord",
    "Filter",
    "FilterSpec",
    "HubSpotClient",
    "InMemoryCrm",
    "Owner",
    "Pipeline",
    "SearchPage",
    "SortSpec",
    "Stage",
]
