"""The local HubSpot-compatible service: HubSpot's wire shapes, auth, error bodies, faults,
persistence, and the deterministic demo seed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.crm import InMemoryCrm
from connectors.crm_service import (
    ACME_RENEWAL_DEAL,
    INJECTION_MARKER,
    SALES_OWNERS,
    CrmServer,
    SqliteCrmStore,
    build_dataset,
    seed_crm,
)
from connectors.demo.company import CUSTOMERS
from connectors.demo.crm_seed import demo_crm
from policies.directory import Directory

TOKEN = "service-test-token"


@pytest.fixture(scope="module")
def server() -> Iterator[CrmServer]:
    with CrmServer(token=TOKEN) as s:
        yield s


@pytest.fixture
def http(server: CrmServer) -> Iterator[httpx.Client]:
    server.reset()
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def assert_hubspot_error(response: httpx.Response, status: int, category: str) -> dict[str, str]:
    assert response.status_code == status
    body = response.json()
    assert body["status"] == "error" and body["category"] == category
    assert body["message"] and body["correlationId"]
    return body  # type: ignore[no-any-return]


# ---------------------------------------------------------------- auth and errors


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}])
def test_requests_without_the_token_are_401(server: CrmServer, headers: dict[str, str]) -> None:
    response = httpx.get(f"{server.url}/crm/v3/objects/deals/30001", headers=headers)
    assert_hubspot_error(response, 401, "INVALID_AUTHENTICATION")


def test_error_bodies(http: httpx.Client) -> None:
    assert_hubspot_error(http.get("/crm/v3/objects/deals/99999"), 404, "OBJECT_NOT_FOUND")
    body = assert_hubspot_error(
        http.patch("/crm/v3/objects/deals/30001", json={"properties": {"dealstage": "bogus"}}), 400, "VALIDATION_ERROR"
    )
    assert "bogus is not a valid dealstage" in body["message"]
    assert_hubspot_error(http.post("/crm/v3/objects/deals/search", content=b"{not json"), 400, "VALIDATION_ERROR")
    assert_hubspot_error(http.get("/crm/v3/objects/widgets/1"), 400, "VALIDATION_ERROR")


# ---------------------------------------------------------------- wire shapes


def test_object_shape(http: httpx.Client) -> None:
    response = http.get(
        "/crm/v3/objects/deals/30001", params=[("properties", "dealname,amount"), ("associations", "companies")]
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "properties", "createdAt", "updatedAt", "archived", "associations"}
    assert body["properties"]["dealname"] == ACME_RENEWAL_DEAL
    assert body["updatedAt"] == body["properties"]["hs_lastmodifieddate"]
    assert body["associations"] == {"companies": {"results": [{"id": "10001", "type": "deal_to_company"}]}}
    repeated = http.get("/crm/v3/objects/deals/30001", params=[("properties", "dealname"), ("properties", "amount")])
    assert repeated.json()["properties"].keys() == body["properties"].keys()


def test_search_shape_and_paging(http: httpx.Client) -> None:
    first = http.post("/crm/v3/objects/companies/search", json={"limit": 30, "properties": ["name"]}).json()
    assert first["total"] == 40 and len(first["results"]) == 30
    assert first["paging"]["next"]["after"] == "30"
    rest = http.post("/crm/v3/objects/companies/search", json={"limit": 30, "after": "30"}).json()
    assert len(rest["results"]) == 10 and "paging" not in rest
    ids = [r["id"] for r in first["results"] + rest["results"]]
    assert len(set(ids)) == 40
    string_sort = http.post(
        "/crm/v3/objects/deals/search", json={"sorts": ["-amount"], "properties": ["amount"], "limit": 5}
    ).json()
    amounts = [float(r["properties"]["amount"]) for r in string_sort["results"]]
    assert amounts == sorted(amounts, reverse=True)


def test_create_is_201_and_v4_associations_shape(http: httpx.Client) -> None:
    created = http.post(
        "/crm/v3/objects/notes",
        json={
            "properties": {"hs_note_body": "hi", "hs_timestamp": "2026-11-23T10:00:00.000Z"},
            "associations": [
                {"to": {"id": "30001"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 214}]}
            ],
        },
    )
    assert created.status_code == 201
    note_id = created.json()["id"]
    links = http.get("/crm/v4/objects/deals/30001/associations/notes").json()
    assert {"toObjectId": int(note_id), "associationTypes": [
        {"category": "HUBSPOT_DEFINED", "typeId": 213, "label": None}
    ]} in links["results"]  # fmt: skip
    bad = http.post(
        "/crm/v3/objects/notes",
        json={
            "properties": {"hs_note_body": "hi", "hs_timestamp": "2026-11-23"},
            "associations": [{"to": {"id": "30001"}, "types": [{"associationTypeId": 9999}]}],
        },
    )
    assert_hubspot_error(bad, 400, "VALIDATION_ERROR")


def test_pipelines_and_owners_shapes(http: httpx.Client) -> None:
    [pipeline] = http.get("/crm/v3/pipelines/deals").json()["results"]
    assert pipeline["id"] == "default" and pipeline["label"] == "Sales Pipeline"
    contract = next(s for s in pipeline["stages"] if s["id"] == "contractsent")
    assert contract["label"] == "Contract sent"
    assert contract["metadata"] == {"isClosed": "false", "probability": "0.9"}
    owners = http.get("/crm/v3/owners").json()["results"]
    alice = next(o for o in owners if o["email"] == "alice.chen@larkspur.example")
    assert alice["id"].isdigit() and alice["firstName"] == "Alice" and alice["lastName"] == "Chen"
    one = http.get("/crm/v3/owners", params={"limit": 1}).json()
    assert len(one["results"]) == 1 and one["paging"]["next"]["after"] == "1"


def test_updated_at_is_bumped_on_every_change(http: httpx.Client) -> None:
    stamps = [
        http.patch("/crm/v3/objects/deals/30002", json={"properties": {"amount": str(1000 + i)}}).json()["updatedAt"]
        for i in range(5)
    ]
    assert stamps == sorted(stamps) and len(set(stamps)) == 5
    assert all(s.endswith("Z") and len(s) == len("2026-01-01T00:00:00.000Z") for s in stamps)


# ---------------------------------------------------------------- faults and persistence


def test_fault_switch(server: CrmServer, http: httpx.Client) -> None:
    server.set_fault("503", times=1)
    assert_hubspot_error(http.get("/crm/v3/owners"), 503, "INTERNAL_ERROR")
    assert http.get("/crm/v3/owners").status_code == 200
    server.set_fault("429")
    limited = http.get("/crm/v3/owners")
    assert_hubspot_error(limited, 429, "RATE_LIMITS")
    assert limited.headers["Retry-After"] == "1"
    server.set_fault(None)
    assert http.get("/crm/v3/owners").status_code == 200
    with pytest.raises(ValueError, match="unknown fault"):
        server.set_fault("418")


def test_down_refuses_connections_and_keeps_data(server: CrmServer) -> None:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        http.patch("/crm/v3/objects/deals/30003", json={"properties": {"amount": "777"}})
    server.set_fault("down")
    try:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/crm/v3/owners")
    finally:
        server.set_fault(None)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        assert http.get("/crm/v3/objects/deals/30003").json()["properties"]["amount"] == "777"


def test_database_persists_across_restarts_and_is_not_reseeded(tmp_path: Path) -> None:
    db = tmp_path / "crm.sqlite3"
    with CrmServer(db, token=TOKEN) as first, httpx.Client(base_url=first.url) as http:
        http.patch(
            "/crm/v3/objects/deals/30001",
            json={"properties": {"dealstage": "closedwon"}},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    store = SqliteCrmStore(db)
    try:
        assert store.get("deals", "30001").properties["dealstage"] == "closedwon"
    finally:
        store.close()
    with CrmServer(db, token=TOKEN) as again:
        assert again.store.get("deals", "30001").properties["dealstage"] == "closedwon"


# ---------------------------------------------------------------- the seed


def test_seed_is_deterministic_and_loads_anywhere(tmp_path: Path) -> None:
    demo_crm.cache_clear()
    build_dataset.cache_clear()
    first = build_dataset()
    demo_crm.cache_clear()
    build_dataset.cache_clear()
    assert build_dataset() == first
    assert build_dataset(7) != first
    seed_crm(tmp_path / "seeded.sqlite3")
    store = SqliteCrmStore(tmp_path / "seeded.sqlite3")
    memory = InMemoryCrm()
    seed_crm(memory)
    try:
        for object_type in ("companies", "contacts", "deals", "notes", "tasks"):
            a = store.search(object_type, limit=200, properties=["hs_object_id"])
            b = memory.search(object_type, limit=200, properties=["hs_object_id"])
            assert a == b
    finally:
        store.close()


def test_seed_content() -> None:
    data = build_dataset()
    by_type = Counter(r.object_type for r in data.records)
    assert by_type["companies"] == 40 and 75 <= by_type["deals"] <= 85 and by_type["notes"] >= 5
    companies = {r.properties["name"]: r for r in data.records if r.object_type == "companies"}
    assert set(companies) == {c.name for c in CUSTOMERS}
    contact_company = {
        a.from_id: a.to_id for a in data.associations if (a.from_type, a.to_type) == ("contacts", "companies")
    }
    per_company = Counter(contact_company.values())
    assert set(per_company.values()) <= {2, 3} and len(per_company) == 40
    domains = {r.id: r.properties["domain"] for r in companies.values()}
    for r in data.records:
        if r.object_type == "contacts":
            assert r.properties["email"].endswith("@" + domains[contact_company[r.id]])
    stages = Counter(r.properties["dealstage"] for r in data.records if r.object_type == "deals")
    assert set(stages) <= {
        "appointmentscheduled",
        "qualifiedtobuy",
        "presentationscheduled",
        "decisionmakerboughtin",
        "contractsent",
        "closedwon",
        "closedlost",
    }
    assert len(stages) >= 5
    for r in data.records:
        if r.object_type == "deals":
            assert "2025-01-01" <= r.properties["closedate"][:10] <= "2027-12-31"
            assert r.properties["dealname"].split(" — ")[0] in companies
    renewal = [r for r in data.records if r.properties.get("dealname") == ACME_RENEWAL_DEAL]
    assert len(renewal) == 1 and renewal[0].properties["dealstage"] == "contractsent"
    injected = [r for r in data.records if INJECTION_MARKER in (r.properties.get("hs_note_body") or "")]
    assert len(injected) == 1
    acme_id = companies["Acme Corporation"].id
    assert any(
        (a.from_type, a.from_id, a.to_type, a.to_id) == ("notes", injected[0].id, "companies", acme_id)
        for a in data.associations
    )


def test_owners_are_the_directorys_sales_people() -> None:
    directory = Directory.load()
    sales = {p.id for p in directory if p.has_role("sales")}
    assert set(SALES_OWNERS) == sales
    for person_id, (owner_id, email, first, last) in SALES_OWNERS.items():
        person = directory.get(person_id)
        assert person.email == email and person.name == f"{first} {last}" and owner_id.isdigit()
    data = build_dataset()
    owner_ids = {o.id for o in data.owners}
    by_owner = {
        r.properties["name"]: r.properties["hubspot_owner_id"] for r in data.records if r.object_type == "companies"
    }
    for c in CUSTOMERS:
        assert by_owner[c.name] == SALES_OWNERS[c.owner][0] and by_owner[c.name] in owner_ids
