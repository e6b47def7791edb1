"""Which CRM connector a setting names (``CHAMBERLAIN_CRM``), and how to open the in-process ones.

Adding a CRM: write its package under ``connectors/crm/`` (a class with the
:class:`~connectors.crm.CrmConnector` methods, passing ``tests/connectors/crm_contract.py``),
then add one entry here. ``hubspot`` is opened by the agent's services, because it talks to
``CHAMBERLAIN_CRM_URL`` or starts the local HubSpot-compatible service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectors.crm._protocol import CrmConnector


def _memory() -> CrmConnector:
    from connectors.crm.hubspot import InMemoryCrm

    return InMemoryCrm.seeded()


def _salesforce_memory() -> CrmConnector:
    from connectors.crm.salesforce import SalesforceMemoryCrm

    return SalesforceMemoryCrm.seeded()


# name → (what it is, factory; None for the one the services open over HTTP)
CONNECTORS: dict[str, tuple[str, Callable[[], CrmConnector] | None]] = {
    "hubspot": ("HubSpot over HTTP: CHAMBERLAIN_CRM_URL, or the local HubSpot-compatible service", None),
    "memory": ("HubSpot-shaped CRM in this process, seeded with the demo company (not persisted)", _memory),
    "salesforce-memory": (
        "Salesforce-shaped org in this process, seeded with the demo company (not persisted)",
        _salesforce_memory,
    ),
}


def check_crm_name(name: str) -> str:
    """``name`` if it is a known connector, else ``ValueError`` listing the choices."""
    if name not in CONNECTORS:
        raise ValueError(f"unknown CRM {name!r}; use one of: {', '.join(CONNECTORS)}")
    return name


def open_in_process(name: str) -> CrmConnector:
    """The in-process connector ``name`` (``ValueError`` for an unknown or an HTTP one)."""
    factory = CONNECTORS[check_crm_name(name)][1]
    if factory is None:
        raise ValueError(f"the {name!r} CRM is not in-process; the agent's services open it")
    return factory()


__all__ = ["CONNECTORS", "check_crm_name", "open_in_process"]
