"""The CRM connector layer: a vendor-neutral model and protocol, and one package per CRM.

- :mod:`connectors.crm.model`: ``Deal``, ``Contact``, ``Company``, ``Note``, ``Task``,
  ``Owner``, ``Pipeline``... with neutral field names; what tools and workflows speak.
- :class:`CrmConnector`: what callers may ask of any CRM.
- :mod:`connectors.crm.hubspot`: HubSpot (REST client and in-memory fake).
- :mod:`connectors.crm.salesforce`: a Salesforce-shaped in-memory org.
- :func:`open_crm` (``connectors.crm.registry``): the connector a setting names.

The HubSpot-level names (``HubSpotClient``, ``InMemoryCrm``, ``CrmRecord``...) are re-exported
here because the demo, the local service and many tests build and seed HubSpot fakes.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connectors.crm._protocol import CrmConnector
    from connectors.crm.hubspot import (
        IDEMPOTENCY_PROPERTY,
        OBJECT_TYPES,
        OPERATORS,
        Association,
        CrmDataset,
        CrmRecord,
        Filter,
        FilterSpec,
        HubSpotApi,
        HubSpotClient,
        InMemoryCrm,
        SearchPage,
        SortSpec,
    )
    from connectors.crm.model import (
        Company,
        Condition,
        Contact,
        CrmObject,
        Deal,
        Kind,
        NewNote,
        NewTask,
        Note,
        Owner,
        Page,
        Pipeline,
        Sort,
        Stage,
        Task,
    )

# Every name loads on first use, from the module that defines it: reading the settings (which
# checks CHAMBERLAIN_CRM against connectors.crm.registry, and so runs this package's __init__)
# must not build the model's pydantic classes (~15 ms) nor import an HTTP client.
_MODEL_NAMES = frozenset(
    {
        "Company",
        "Condition",
        "Contact",
        "CrmObject",
        "Deal",
        "Kind",
        "NewNote",
        "NewTask",
        "Note",
        "Owner",
        "Page",
        "Pipeline",
        "Sort",
        "Stage",
        "Task",
    }
)
# The HubSpot names load on first use: reading the settings (which checks CHAMBERLAIN_CRM against
# connectors.crm.registry) must not import an HTTP client.
_HUBSPOT_NAMES = frozenset(
    {
        "IDEMPOTENCY_PROPERTY",
        "OBJECT_TYPES",
        "OPERATORS",
        "Association",
        "CrmDataset",
        "CrmRecord",
        "Filter",
        "FilterSpec",
        "HubSpotApi",
        "HubSpotClient",
        "InMemoryCrm",
        "SearchPage",
        "SortSpec",
    }
)


def __getattr__(name: str) -> Any:
    if name in _MODEL_NAMES:
        from connectors.crm import model

        return getattr(model, name)
    if name == "CrmConnector":
        from connectors.crm import _protocol

        return _protocol.CrmConnector
    if name in ("model", "_protocol"):  # `import connectors.crm` once made these attributes too
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    if name in _HUBSPOT_NAMES:
        from connectors.crm import hubspot

        return getattr(hubspot, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "IDEMPOTENCY_PROPERTY",
    "OBJECT_TYPES",
    "OPERATORS",
    "Association",
    "Company",
    "Condition",
    "Contact",
    "CrmConnector",
    "CrmDataset",
    "CrmObject",
    "CrmRecord",
    "Deal",
    "Filter",
    "FilterSpec",
    "HubSpotApi",
    "HubSpotClient",
    "InMemoryCrm",
    "Kind",
    "NewNote",
    "NewTask",
    "Note",
    "Owner",
    "Page",
    "Pipeline",
    "SearchPage",
    "Sort",
    "SortSpec",
    "Stage",
    "Task",
]
