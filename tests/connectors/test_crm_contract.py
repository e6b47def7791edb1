"""The CRM contract (tests/connectors/crm_contract.py) run against every CRM connector:

- ``memory``: the HubSpot-shaped in-memory CRM;
- ``hubspot-http``: the HubSpot REST client against the local HubSpot-compatible service over
  real HTTP;
- ``salesforce-memory``: the Salesforce-shaped org (SObjects, SOQL, Salesforce ids).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.crm import HubSpotClient, InMemoryCrm
from connectors.crm.salesforce import SalesforceMemoryCrm
from connectors.crm_service import CrmServer
from connectors.crm_service._ratelimit import RateLimits
from tests.connectors.crm_contract import *  # noqa: F403 - the contract's tests run here
from tests.connectors.crm_contract import Subject

TOKEN = "neutral-contract-token"


@pytest.fixture(scope="module")
def crm_server() -> Iterator[CrmServer]:
    with CrmServer(token=TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def limited_server() -> Iterator[CrmServer]:
    with CrmServer(token=TOKEN, rate_limits=RateLimits(daily=2)) as server:
        yield server


def _same(_kind: str, demo_id: str) -> str:
    return demo_id


@pytest.fixture(params=["memory", "hubspot-http", "salesforce-memory"])
def s(request: pytest.FixtureRequest) -> Iterator[Subject]:
    if request.param == "memory":
        yield Subject(InMemoryCrm.seeded(), _same, str, "the in-process HubSpot fake has no API limit")
    elif request.param == "hubspot-http":
        server: CrmServer = request.getfixturevalue("crm_server")
        server.reset()
        limited: CrmServer = request.getfixturevalue("limited_server")
        clients: list[HubSpotClient] = []

        def rate_limited() -> HubSpotClient:
            limited.reset()
            clients.append(HubSpotClient(limited.url, TOKEN, sleep=lambda _: None, max_retries=1))
            return clients[-1]

        with HubSpotClient(server.url, TOKEN, sleep=lambda _: None) as client:
            yield Subject(client, _same, str, rate_limited)
        for c in clients:
            c.close()
    else:
        yield Subject(
            SalesforceMemoryCrm.seeded(),
            SalesforceMemoryCrm.demo_id,
            SalesforceMemoryCrm.demo_user_id,
            lambda: SalesforceMemoryCrm.seeded(api_limit=2),
        )
