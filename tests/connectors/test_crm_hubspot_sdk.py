"""The local CRM service driven by HubSpot's official Python client (``hubspot-api-client``),
unmodified: if HubSpot's own SDK can use it, it speaks HubSpot's protocol.

Every call the issue lists, and every endpoint our connector uses, goes through the SDK here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.associations import BatchInputPublicObjectId, PublicObjectId
from hubspot.crm.objects import (
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)

from connectors.crm import HubSpotClient
from connectors.crm_service import OWNER_IDS, CrmServer
from connectors.crm_service._ratelimit import RateLimits

TOKEN = "sdk-test-token"
ACME = "10001"
ACME_RENEWAL = "30001"
JORDAN = "20001"  # jordan.blake@acme.example
SOFIA = OWNER_IDS["u_sofia"]


@pytest.fixture(scope="module")
def server() -> Iterator[CrmServer]:
    with CrmServer(token=TOKEN) as s:
        yield s


@pytest.fixture
def hs(server: CrmServer) -> HubSpot:
    server.reset()
    return HubSpot(access_token=TOKEN, host=server.url)


def api_error(call: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    """Run an SDK call that must fail; its HTTP status and decoded JSON error body."""
    with pytest.raises(Exception) as info:  # each SDK sub-package has its own ApiException class
        call()
    exc = info.value
    assert any(c.__name__ == "ApiException" for c in type(exc).__mro__), repr(exc)
    body = json.loads(exc.body)  # type: ignore[attr-defined]
    assert body["status"] == "error" and body["message"] and body["correlationId"] and body["category"]
    return int(exc.status), body  # type: ignore[attr-defined]


# ---------------------------------------------------------------- objects: read


def test_get_page_pages_through_every_deal(hs: HubSpot) -> None:
    seen: list[str] = []
    after = None
    while True:
        page = hs.crm.objects.basic_api.get_page("deals", limit=30, after=after, properties=["dealname", "amount"])
        seen.extend(r.id for r in page.results)
        assert all(set(r.properties) >= {"dealname", "amount", "hs_object_id"} for r in page.results)
        if page.paging is None:
            break
        after = page.paging.next.after
    assert len(seen) == len(set(seen)) == 80
    assert seen == sorted(seen, key=int)


def test_get_page_with_associations(hs: HubSpot) -> None:
    page = hs.crm.deals.basic_api.get_page(limit=2, associations=["companies"])
    first = page.results[0]
    assert first.id == ACME_RENEWAL
    assert [a.id for a in first.associations["companies"].results] == [ACME]


def test_get_by_id_and_by_email(hs: HubSpot) -> None:
    deal = hs.crm.deals.basic_api.get_by_id(ACME_RENEWAL, properties=["dealname", "dealstage"])
    assert deal.properties["dealstage"] == "contractsent"
    contact = hs.crm.contacts.basic_api.get_by_id("JORDAN.BLAKE@acme.example", id_property="email")
    assert contact.id == JORDAN
    status, body = api_error(lambda: hs.crm.contacts.basic_api.get_by_id("nobody@x.example", id_property="email"))
    assert status == 404 and body["category"] == "OBJECT_NOT_FOUND"
    status, body = api_error(lambda: hs.crm.deals.basic_api.get_by_id("Acme", id_property="dealname"))
    assert status == 400 and "unique identifier" in body["message"]


def test_batch_read_returns_found_records_and_a_207_for_missing_ones(hs: HubSpot) -> None:
    batch = hs.crm.objects.batch_api.read(
        "deals",
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=ACME_RENEWAL), SimplePublicObjectId(id="30002")],
            properties=["dealname"],
            properties_with_history=[],
        ),
    )
    assert batch.status == "COMPLETE"
    assert sorted(r.id for r in batch.results) == [ACME_RENEWAL, "30002"]
    partial = hs.crm.objects.batch_api.read(
        "deals",
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=ACME_RENEWAL), SimplePublicObjectId(id="39999")],
            properties=["dealname"],
            properties_with_history=[],
        ),
    )
    assert [r.id for r in partial.results] == [ACME_RENEWAL]
    assert partial.num_errors == 1 and partial.errors[0].context == {"ids": ["39999"]}
    assert partial.errors[0].category == "OBJECT_NOT_FOUND"
    by_email = hs.crm.contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id="jordan.blake@acme.example")],
            properties=["email"],
            properties_with_history=[],
            id_property="email",
        )
    )
    assert [r.id for r in by_email.results] == [JORDAN]


def test_archive_hides_a_record_and_is_repeatable(hs: HubSpot) -> None:
    hs.crm.objects.basic_api.archive("deals", "30002")
    hs.crm.deals.basic_api.archive("30002")  # HubSpot answers 204 again
    status, _ = api_error(lambda: hs.crm.deals.basic_api.get_by_id("30002"))
    assert status == 404
    ids = {r.id for r in hs.crm.deals.basic_api.get_page(limit=100).results}
    assert "30002" not in ids and ACME_RENEWAL in ids
    archived = hs.crm.deals.basic_api.get_page(limit=100, archived=True)
    assert [r.id for r in archived.results] == ["30002"] and archived.results[0].archived


# ---------------------------------------------------------------- objects: write


def test_create_update_note_and_task(hs: HubSpot) -> None:
    note = hs.crm.objects.notes.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"hs_note_body": "Called Jordan", "hs_timestamp": "2026-12-01T10:00:00Z"},
            associations=[
                {
                    "to": {"id": ACME_RENEWAL},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 214}],
                }
            ],
        )
    )
    assert note.properties["hs_note_body"] == "Called Jordan"
    task = hs.crm.objects.tasks.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"hs_task_subject": "Send quote", "hs_timestamp": "2026-12-02", "hs_task_priority": "high"}
        )
    )
    assert task.properties.get("hs_task_subject") == "Send quote"
    updated = hs.crm.deals.basic_api.update(ACME_RENEWAL, SimplePublicObjectInput(properties={"amount": "250000"}))
    assert updated.properties["amount"] == "250000"
    status, body = api_error(
        lambda: hs.crm.deals.basic_api.update(ACME_RENEWAL, SimplePublicObjectInput(properties={"dealstage": "nope"}))
    )
    assert status == 400 and body["category"] == "VALIDATION_ERROR" and "nope" in body["message"]


# ---------------------------------------------------------------- associations


def test_v4_association_reads_and_create_default(hs: HubSpot) -> None:
    before = hs.crm.associations.v4.basic_api.get_page("deals", ACME_RENEWAL, "contacts")
    ids = [str(r.to_object_id) for r in before.results]
    assert "20050" not in ids
    made = hs.crm.associations.v4.basic_api.create_default("deals", ACME_RENEWAL, "contacts", "20050")
    assert made.status == "COMPLETE"
    specs = {(r._from.id, r.to.id, r.association_spec.association_type_id) for r in made.results}
    assert specs == {(ACME_RENEWAL, "20050", 3), ("20050", ACME_RENEWAL, 4)}
    after = hs.crm.associations.v4.basic_api.get_page("deals", ACME_RENEWAL, "contacts")
    assert [str(r.to_object_id) for r in after.results] == [*ids, "20050"]
    # Either side reads the link.
    back = hs.crm.associations.v4.basic_api.get_page("contacts", "20050", "deals")
    assert ACME_RENEWAL in [str(r.to_object_id) for r in back.results]
    status, _ = api_error(
        lambda: hs.crm.associations.v4.basic_api.create_default("deals", "39999", "contacts", "20050")
    )
    assert status == 404


def test_v3_association_batch_read(hs: HubSpot) -> None:
    result = hs.crm.associations.batch_api.read(
        "deals",
        "companies",
        BatchInputPublicObjectId(inputs=[PublicObjectId(id=ACME_RENEWAL), PublicObjectId(id="30002")]),
    )
    assert result.status == "COMPLETE"
    by_deal = {r._from.id: [(t.id, t.type) for t in r.to] for r in result.results}
    assert by_deal[ACME_RENEWAL] == [(ACME, "deal_to_company")]
    missing = hs.crm.associations.batch_api.read(
        "deals", "companies", BatchInputPublicObjectId(inputs=[PublicObjectId(id="39999")])
    )
    assert missing.results == [] and missing.num_errors == 1


def test_v3_object_association_list(hs: HubSpot) -> None:
    response = hs.api_request(
        {
            "method": "GET",
            "path": f"/crm/v3/objects/deals/{ACME_RENEWAL}/associations/companies",
            "base_url": hs_url(hs),
        }
    )
    assert response.status_code == 200
    assert response.json()["results"] == [{"id": ACME, "type": "deal_to_company"}]
    missing = hs.api_request(
        {"method": "GET", "path": "/crm/v3/objects/deals/39999/associations/companies", "base_url": hs_url(hs)}
    )
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"


def hs_url(hs: HubSpot) -> str:
    return str(hs.config["host"])


# ---------------------------------------------------------------- search


def _search(hs: HubSpot, object_type: str, groups: list[list[Filter]], **kw: Any) -> Any:
    request = PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=g) for g in groups], limit=kw.pop("limit", 100), **kw
    )
    return hs.crm.objects.search_api.do_search(object_type, public_object_search_request=request)


def test_search_or_of_filter_groups(hs: HubSpot) -> None:
    won = _search(hs, "deals", [[Filter(property_name="dealstage", operator="EQ", value="closedwon")]])
    sent = _search(hs, "deals", [[Filter(property_name="dealstage", operator="EQ", value="contractsent")]])
    both = _search(
        hs,
        "deals",
        [
            [Filter(property_name="dealstage", operator="EQ", value="closedwon")],
            [Filter(property_name="dealstage", operator="EQ", value="contractsent")],
        ],
        properties=["dealstage"],
    )
    assert (won.total, sent.total) == (17, 3)
    assert both.total == 20
    assert {r.properties["dealstage"] for r in both.results} == {"closedwon", "contractsent"}


def test_search_between_is_inclusive(hs: HubSpot) -> None:
    found = _search(
        hs,
        "deals",
        [[Filter(property_name="amount", operator="BETWEEN", value="100000", high_value="240000")]],
        properties=["amount"],
    )
    amounts = [float(r.properties["amount"]) for r in found.results]
    assert amounts and all(100000 <= a <= 240000 for a in amounts)
    assert 240000.0 in amounts  # the high value itself is included
    dated = _search(
        hs,
        "deals",
        [[Filter(property_name="closedate", operator="BETWEEN", value="2026-12-01", high_value="2026-12-31")]],
        properties=["closedate"],
    )
    assert ACME_RENEWAL in {r.id for r in dated.results}


def test_search_sort_query_and_paging(hs: HubSpot) -> None:
    request = PublicObjectSearchRequest(sorts=["-amount"], properties=["dealname", "amount"], limit=2, after="0")
    first = hs.crm.deals.search_api.do_search(public_object_search_request=request)
    assert first.total == 80 and len(first.results) == 2
    assert float(first.results[0].properties["amount"]) >= float(first.results[1].properties["amount"])
    assert first.paging.next.after == "2"
    acme = hs.crm.deals.search_api.do_search(
        public_object_search_request=PublicObjectSearchRequest(query="acme", properties=["dealname"], limit=10)
    )
    assert acme.total >= 1 and all("acme" in r.properties["dealname"].lower() for r in acme.results)


@pytest.mark.parametrize(
    "body, needle",
    [
        ({"filterGroups": "dealstage=closedwon"}, "filterGroups"),
        ({"filterGroups": [{"filters": [{"operator": "EQ", "value": "x"}]}]}, "propertyName"),
        ({"filterGroups": [{"filters": "oops"}]}, "filters"),
        (
            {"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "BETWEEN", "value": "1"}]}]},
            "highValue",
        ),
        ({"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "LIKE", "value": "1"}]}]}, "LIKE"),
        ({"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "EQ", "value": "1"}]}]}, "nope"),
        ({"filterGroups": [{"filters": []}] * 6}, "filter groups"),
        ({"limit": "ten"}, "limit"),
        ({"sorts": "amount"}, "sorts"),
        ({"fitlerGroups": []}, "fitlerGroups"),
    ],
)
def test_malformed_search_is_a_json_400(hs: HubSpot, body: dict[str, Any], needle: str) -> None:
    response = hs.api_request(
        {"method": "POST", "path": "/crm/v3/objects/deals/search", "body": body, "base_url": hs_url(hs)}
    )
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["status"] == "error" and error["category"] == "VALIDATION_ERROR" and error["correlationId"]
    assert needle in error["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/crm/v3/objects/deals?limit=abc",
        "/crm/v3/objects/deals?limit=0",
        "/crm/v3/objects/deals?after=xyz",
        "/crm/v3/objects/deals?archived=maybe",
        "/crm/v4/objects/deals/30001/associations/companies?limit=lots",
        "/crm/v3/owners/?after=zz",
    ],
)
def test_malformed_query_parameters_are_a_json_400(hs: HubSpot, path: str) -> None:
    response = hs.api_request({"method": "GET", "path": path, "base_url": hs_url(hs)})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_invalid_json_body_is_a_json_400(hs: HubSpot) -> None:
    response = hs.api_request(
        {"method": "POST", "path": "/crm/v3/objects/deals/search", "body": "{not json", "base_url": hs_url(hs)}
    )
    assert response.status_code == 400 and response.json()["status"] == "error"


def test_unknown_route_and_method_answer_in_json(hs: HubSpot) -> None:
    missing = hs.api_request({"method": "GET", "path": "/crm/v3/nothing/here", "base_url": hs_url(hs)})
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"
    wrong = hs.api_request({"method": "PUT", "path": "/crm/v3/objects/deals/30001", "body": {}, "base_url": hs_url(hs)})
    assert wrong.status_code == 405 and wrong.json()["status"] == "error"


# ---------------------------------------------------------------- pipelines and owners


def test_pipelines_get_all_get_by_id_and_stages(hs: HubSpot) -> None:
    listed = hs.crm.pipelines.pipelines_api.get_all("deals")
    assert [p.id for p in listed.results] == ["default"]
    pipeline = hs.crm.pipelines.pipelines_api.get_by_id("deals", "default")
    assert pipeline.label and len(pipeline.stages) == 7
    stages = hs.crm.pipelines.pipeline_stages_api.get_all("deals", "default")
    assert [s.id for s in stages.results] == [s.id for s in pipeline.stages]
    won = hs.crm.pipelines.pipeline_stages_api.get_by_id("deals", "default", "closedwon")
    assert won.metadata["isClosed"] == "true"
    status, _ = api_error(lambda: hs.crm.pipelines.pipelines_api.get_by_id("deals", "nope"))
    assert status == 404
    status, _ = api_error(lambda: hs.crm.pipelines.pipeline_stages_api.get_by_id("deals", "default", "nope"))
    assert status == 404


def test_owners_get_page_and_get_by_id(hs: HubSpot) -> None:
    page = hs.crm.owners.owners_api.get_page(limit=2)
    assert len(page.results) == 2 and page.paging.next.after
    everyone = hs.crm.owners.owners_api.get_page(limit=100)
    assert {o.id for o in everyone.results} == set(OWNER_IDS.values())
    sofia = hs.crm.owners.owners_api.get_by_id(int(SOFIA), id_property="id")
    assert sofia.email.startswith("sofia.")
    same = hs.crm.owners.owners_api.get_by_id(sofia.user_id, id_property="userId")
    assert same.id == sofia.id
    by_email = hs.crm.owners.owners_api.get_page(email=sofia.email)
    assert [o.id for o in by_email.results] == [sofia.id]
    status, _ = api_error(lambda: hs.crm.owners.owners_api.get_by_id(99999999))
    assert status == 404


# ---------------------------------------------------------------- auth and rate limits


def test_bad_token_is_a_401_in_hubspots_shape(server: CrmServer) -> None:
    bad = HubSpot(access_token="wrong", host=server.url)
    status, body = api_error(lambda: bad.crm.deals.basic_api.get_by_id(ACME_RENEWAL))
    assert status == 401 and body["category"] == "INVALID_AUTHENTICATION"


def test_rate_limit_headers_and_429_with_the_policy_name() -> None:
    limits = RateLimits(per_interval=3, interval_ms=60_000, daily=1000, search_per_second=1)
    with CrmServer(token=TOKEN, rate_limits=limits) as limited:
        hs = HubSpot(access_token=TOKEN, host=limited.url)
        first = hs.api_request({"method": "GET", "path": "/crm/v3/objects/deals/30001", "base_url": limited.url})
        assert first.status_code == 200
        assert first.headers["X-HubSpot-RateLimit-Max"] == "3"
        assert first.headers["X-HubSpot-RateLimit-Remaining"] == "2"
        assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "60000"
        assert first.headers["X-HubSpot-RateLimit-Daily"] == "1000"
        for _ in range(2):
            hs.crm.deals.basic_api.get_by_id(ACME_RENEWAL)
        status, body = api_error(lambda: hs.crm.deals.basic_api.get_by_id(ACME_RENEWAL))
        assert status == 429
        assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
        # Search has its own per-second policy and sends no rate-limit headers.
        ok = hs.api_request(
            {"method": "POST", "path": "/crm/v3/objects/deals/search", "body": {}, "base_url": limited.url}
        )
        assert ok.status_code == 200 and "X-HubSpot-RateLimit-Max" not in ok.headers
        again = hs.api_request(
            {"method": "POST", "path": "/crm/v3/objects/deals/search", "body": {}, "base_url": limited.url}
        )
        assert again.status_code == 429 and again.json()["policyName"] == "SECONDLY"
        # Unauthenticated requests are refused without spending the quota.
        assert (
            HubSpot(access_token="x", host=limited.url)
            .api_request({"method": "GET", "path": "/crm/v3/owners/", "base_url": limited.url})
            .status_code
            == 401
        )


def test_our_connector_paces_itself_by_the_rate_limit_headers() -> None:
    limits = RateLimits(per_interval=2, interval_ms=400, daily=1000, search_per_second=100)
    with CrmServer(token=TOKEN, rate_limits=limits) as limited:
        slept: list[float] = []

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            time.sleep(seconds)

        with HubSpotClient(limited.url, TOKEN, sleep=sleep, max_retries=0) as crm:
            for _ in range(5):  # more calls than the window allows, none of them refused
                assert crm.get("deals", ACME_RENEWAL).id == ACME_RENEWAL
        assert slept and all(0 < s <= 0.4 for s in slept)
        assert len(limited.request_log) == 5  # max_retries=0: a 429 would have raised


def test_our_connector_waits_out_a_429_and_does_not_retry_a_daily_one() -> None:
    from connectors.errors import ConnectorUnavailable

    limits = RateLimits(per_interval=1000, interval_ms=10_000, daily=2, search_per_second=100)
    with (
        CrmServer(token=TOKEN, rate_limits=limits) as limited,
        HubSpotClient(limited.url, TOKEN, sleep=lambda s: None) as crm,
    ):
        crm.get("deals", ACME_RENEWAL)
        crm.get("deals", ACME_RENEWAL)
        calls = len(limited.request_log)
        with pytest.raises(ConnectorUnavailable, match="daily"):
            crm.get("deals", ACME_RENEWAL)
        assert len(limited.request_log) == calls + 1  # no retries against a daily limit


# ---------------------------------------------------------------- our connector, through the same service


def test_connector_batch_reads_several_records(server: CrmServer) -> None:
    server.reset()
    with HubSpotClient(server.url, TOKEN) as crm:
        ids = [str(30001 + i) for i in range(80)] + ["39999", "30001"]
        records = crm.get_many("deals", ids, ["dealname"])
        assert [r.id for r in records] == [str(30001 + i) for i in range(80)]
        assert all(r.get("dealname") for r in records)
    batch_calls = [line for line in server.request_log if line.endswith("/batch/read")]
    assert batch_calls == ["POST /crm/v3/objects/deals/batch/read"]
