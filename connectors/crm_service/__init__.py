"""A local HubSpot-compatible CRM service (FastAPI + SQLite) seeded with the demo company.

Used by the demo and by tests, which point the real :class:`~connectors.crm.HubSpotClient` at
it over HTTP. ``serve()`` backs ``chamberlain crm serve``; :class:`CrmServer` runs it in a
background thread.
"""

from connectors.crm_service._app import create_app
from connectors.crm_service._seed import build_dataset, seed_crm
from connectors.crm_service._server import CrmServer, serve
from connectors.crm_service._store import SqliteCrmStore
from connectors.demo.crm_seed import (
    ACME_RENEWAL_DEAL,
    DEAL_STAGES,
    DEFAULT_PIPELINE,
    DEFAULT_SEED,
    INJECTION_MARKER,
    OWNER_IDS,
    SALES_OWNERS,
)

__all__ = [
    "ACME_RENEWAL_DEAL",
    "DEAL_STAGES",
    "DEFAULT_PIPELINE",
    "DEFAULT_SEED",
    "INJECTION_MARKER",
    "OWNER_IDS",
    "SALES_OWNERS",
    "CrmServer",
    "SqliteCrmStore",
    "build_dataset",
    "create_app",
    "seed_crm",
    "serve",
]
