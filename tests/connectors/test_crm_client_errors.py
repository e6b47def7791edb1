"""HubSpotClient at the boundary: HTTP failures become connector errors, retries back off
(honouring Retry-After), creates with an idempotency key never duplicate, the token never leaks.

Exact failure sequences use httpx.MockTransport (httpx's own test seam); the "CRM down" cases
also run against the real local service over HTTP.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from connectors.crm import HubSpotClient
from connectors.crm_service import CrmServer
from connectors.errors import (
    ConflictError,
    ConnectorAuthError,
    ConnectorUnavailable,
    InvalidRequest,
    RecordNotFound,
)

TOKEN = "pat-na1-secret-token-value"
RECORD = {
    "id": "30001",
    "properties": {"dealname": "Acme", "hs_lastmodifieddate": "2026-01-01T00:00:00.000Z"},
    "createdAt": "2025-01-01T00:00:00.000Z",
    "updatedAt": "2026-01-01T00:00:00.000Z",
    "archived": False,
}


def hubspot_error(status: int, message: str, category: str = "VALIDATION_ERROR", **headers: str) -> httpx.Response:
    body = {"status": "error", "message": message, "correlationId": "c0ffee", "category": category}
    return httpx.Response(status, json=body, headers=headers)


class Script:
    """A MockTransport handler that answers with queued responses and records requests."""

    def __init__(self, *answers: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer


def client_for(script: Script, sleeps: list[float] | None = None, **kwargs: Any) -> HubSpotClient:
    return HubSpotClient(
        "https://api.hubapi.com",
        TOKEN,
        transport=httpx.MockTransport(script),
        sleep=(sleeps.append if sleeps is not None else lambda _: None),
        **kwargs,
    )


# ---------------------------------------------------------------- translation


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (401, ConnectorAuthError, "credentials"),
        (403, ConnectorAuthError, "credentials"),
        (404, RecordNotFound, "deals 30001 not found"),
        (409, ConflictError, "already exists"),
        (400, InvalidRequest, "Property values were not valid: amount"),
    ],
)
def test_http_errors_are_translated(status: int, error: type[Exception], message: str) -> None:
    texts = {
        401: "Authentication credentials not found",
        403: "This app hasn't been granted all required scopes",
        404: "resource not found",
        409: "Contact already exists. Existing ID: 20001",
        400: "Property values were not valid: amount",
    }
    script = Script(hubspot_error(status, texts[status]))
    with pytest.raises(error, match=message) as info:
        client_for(script).get("deals", "30001")
    assert isinstance(info.value.__cause__, httpx.HTTPStatusError)
    assert len(script.requests) == 1  # client errors are never retried
    assert TOKEN not in str(info.value)


def test_requests_carry_the_bearer_token_and_real_hubspot_paths() -> None:
    search = {"total": 1, "results": [RECORD], "paging": {"next": {"after": "10", "link": "?after=10"}}}
    script = Script(lambda r: httpx.Response(200, json=search if r.url.path.endswith("/search") else RECORD))
    client = client_for(script)
    client.get("deals", "30001", ["dealname", "amount"], ["companies"])
    page = client.search(
        "deals",
        query="acme",
        filters=[("dealstage", "IN", ["closedwon", "closedlost"]), ("amount", "GT", "1000")],
        properties=["dealname"],
        sorts=[("amount", "DESCENDING")],
        limit=5,
        after="5",
    )
    client.update("deals", "30001", {"dealstage": "closedwon"})
    get, post, patch = script.requests
    assert get.headers["Authorization"] == f"Bearer {TOKEN}"
    assert get.method == "GET" and get.url.path == "/crm/v3/objects/deals/30001"
    assert get.url.params["properties"] == "dealname,amount" and get.url.params["associations"] == "companies"
    assert post.url.path == "/crm/v3/objects/deals/search"
    assert json.loads(post.content) == {
        "limit": 5,
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "dealstage", "operator": "IN", "values": ["closedwon", "closedlost"]},
                    {"propertyName": "amount", "operator": "GT", "value": "1000"},
                ]
            }
        ],
        "query": "acme",
        "properties": ["dealname"],
        "sorts": [{"propertyName": "amount", "direction": "DESCENDING"}],
        "after": "5",
    }
    assert page.total == 1 and page.next_after == "10" and page.records[0].version == "2026-01-01T00:00:00.000Z"
    assert patch.method == "PATCH" and json.loads(patch.content) == {"properties": {"dealstage": "closedwon"}}


def test_create_sends_hubspot_association_types() -> None:
    script = Script(httpx.Response(201, json={**RECORD, "id": "40100"}))
    client_for(script).create("notes", {"hs_note_body": "hi"}, [("deals", "30001"), ("companies", "10001")])
    body = json.loads(script.requests[0].content)
    assert body["associations"] == [
        {"to": {"id": "30001"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 214}]},
        {"to": {"id": "10001"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 190}]},
    ]


def test_the_token_never_reaches_logs_or_repr(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    script = Script(hubspot_error(503, "down", "INTERNAL_ERROR"), httpx.Response(200, json=RECORD))
    client = client_for(script)
    client.get("deals", "30001")
    assert TOKEN not in repr(client)
    assert caplog.records and all(TOKEN not in r.getMessage() for r in caplog.records)


def test_a_missing_token_says_what_to_set() -> None:
    with pytest.raises(ConnectorAuthError, match="HUBSPOT_TOKEN"):
        HubSpotClient("https://api.hubapi.com", "")


# ---------------------------------------------------------------- retries


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_with_backoff(status: int) -> None:
    sleeps: list[float] = []
    script = Script(hubspot_error(status, "busy"), hubspot_error(status, "busy"), httpx.Response(200, json=RECORD))
    record = client_for(script, sleeps).get("deals", "30001")
    assert record.id == "30001"
    assert len(script.requests) == 3
    assert sleeps == [0.5, 1.0]


def test_retry_after_is_honoured_and_capped() -> None:
    sleeps: list[float] = []
    script = Script(
        hubspot_error(429, "secondly limit", "RATE_LIMITS", **{"Retry-After": "2"}),
        hubspot_error(429, "daily limit", "RATE_LIMITS", **{"Retry-After": "3600"}),
        httpx.Response(200, json=RECORD),
    )
    client_for(script, sleeps, max_backoff=10.0).get("deals", "30001")
    assert sleeps == [2.0, 10.0]


def test_exhausted_retries_are_unavailable() -> None:
    sleeps: list[float] = []
    script = Script(hubspot_error(503, "Service unavailable", "INTERNAL_ERROR"))
    with pytest.raises(ConnectorUnavailable, match="503") as info:
        client_for(script, sleeps, max_retries=3).get("deals", "30001")
    assert isinstance(info.value.__cause__, httpx.HTTPStatusError)
    assert len(script.requests) == 4 and sleeps == [0.5, 1.0, 2.0]


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("eof"),
    ],
)
def test_transport_failures_are_retried_then_unavailable(exc: Exception) -> None:
    script = Script(exc)
    with pytest.raises(ConnectorUnavailable) as info:
        client_for(script, max_retries=2).search("deals")
    assert info.value.__cause__ is exc
    assert len(script.requests) == 3


def test_a_non_json_error_body_is_still_translated() -> None:
    script = Script(httpx.Response(400, text="<html>Bad Request</html>"))
    with pytest.raises(InvalidRequest, match="Bad Request"):
        client_for(script).get("deals", "30001")


def test_a_create_without_key_is_not_repeated_when_it_may_have_happened() -> None:
    script = Script(hubspot_error(502, "Bad gateway", "INTERNAL_ERROR"))
    with pytest.raises(ConnectorUnavailable):
        client_for(script).create("notes", {"hs_note_body": "x"})
    assert len(script.requests) == 1
    timeout = Script(httpx.ReadTimeout("slow"))
    with pytest.raises(ConnectorUnavailable):
        client_for(timeout).create("notes", {"hs_note_body": "x"})
    assert len(timeout.requests) == 1
    # 429/503 mean "not processed": safe to repeat.
    busy = Script(hubspot_error(429, "limit", "RATE_LIMITS"), httpx.Response(201, json=RECORD))
    assert client_for(busy).create("notes", {"hs_note_body": "x"}).id == "30001"


def test_a_keyed_create_that_timed_out_after_succeeding_is_not_duplicated() -> None:
    """The POST reaches HubSpot but the answer is lost: the retry finds the record by its key."""
    created: list[dict[str, Any]] = []

    def hubspot(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path.endswith("/search"):
            key = body["filterGroups"][0]["filters"][0]["value"]
            hits = [r for r in created if r["properties"]["chamberlain_idempotency_key"] == key]
            return httpx.Response(200, json={"total": len(hits), "results": hits})
        record = {**RECORD, "id": str(40100 + len(created)), "properties": body["properties"]}
        created.append(record)
        if len(created) == 1:
            raise httpx.ReadTimeout("the answer was lost")
        return httpx.Response(201, json=record)

    script = Script(hubspot)
    note = client_for(script).create("notes", {"hs_note_body": "x"}, [("deals", "30001")], idempotency_key="k-1")
    assert note.id == "40100" and len(created) == 1
    assert [r.url.path for r in script.requests] == [
        "/crm/v3/objects/notes/search",
        "/crm/v3/objects/notes",
        "/crm/v3/objects/notes/search",
    ]


# ---------------------------------------------------------------- against the real local service


@pytest.fixture(scope="module")
def server() -> Iterator[CrmServer]:
    with CrmServer(token=TOKEN) as s:
        yield s


def test_service_recovers_within_retries(server: CrmServer) -> None:
    sleeps: list[float] = []
    server.set_fault("503", times=2)
    server.request_log.clear()
    with HubSpotClient(server.url, TOKEN, sleep=sleeps.append) as client:
        assert client.get("deals", "30001").id == "30001"
    assert server.request_log == ["GET /crm/v3/objects/deals/30001"] * 3
    assert sleeps == [0.5, 1.0]


def test_service_rate_limit_uses_its_retry_after(server: CrmServer) -> None:
    sleeps: list[float] = []
    server.set_fault("429")
    try:
        with (
            HubSpotClient(server.url, TOKEN, sleep=sleeps.append, max_retries=2) as client,
            pytest.raises(ConnectorUnavailable, match="429"),
        ):
            client.owners()
    finally:
        server.set_fault(None)
    assert sleeps == [1.0, 1.0]


def test_service_down_is_unavailable_then_back(server: CrmServer) -> None:
    with HubSpotClient(server.url, TOKEN, sleep=lambda _: None, max_retries=1, timeout=2.0) as client:
        assert client.owners()
        server.set_fault("down")
        try:
            with pytest.raises(ConnectorUnavailable, match="cannot reach the CRM") as info:
                client.owners()
            assert isinstance(info.value.__cause__, httpx.ConnectError)
        finally:
            server.set_fault(None)
        assert len(client.owners()) == 6


def test_service_rejects_a_wrong_token(server: CrmServer) -> None:
    with HubSpotClient(server.url, "wrong-token") as client, pytest.raises(ConnectorAuthError) as info:
        client.get("deals", "30001")
    assert "wrong-token" not in str(info.value)
