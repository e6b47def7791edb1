"""One contract for every HubSpot API implementation: the in-memory fake and the real HTTP client talking to
the local HubSpot-compatible service over real HTTP must behave the same."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.crm import CrmRecord, HubSpotApi, HubSpotClient, InMemoryCrm
from connectors.crm_service import ACME_RENEWAL_DEAL, INJECTION_MARKER, OWNER_IDS, CrmServer
from connectors.errors import InvalidRequest, RecordNotFound

TOKEN = "contract-test-token"


@pytest.fixture(scope="session")
def crm_server() -> Iterator[CrmServer]:
    with CrmServer(token=TOKEN) as server:
        yield server


@pytest.fixture(params=["memory", "http"])
def crm(request: pytest.FixtureRequest) -> Iterator[HubSpotApi]:
    if request.param == "memory":
        yield InMemoryCrm.seeded()
        return
    server: CrmServer = request.getfixturevalue("crm_server")
    server.reset()
    with HubSpotClient(server.url, TOKEN, sleep=lambda _: None) as client:
        yield client


def _acme_renewal(crm: HubSpotApi) -> CrmRecord:
    page = crm.search("deals", query="Acme renewal", properties=["dealname", "dealstage", "hubspot_owner_id"])
    [deal] = [r for r in page.records if r.get("dealname") == ACME_RENEWAL_DEAL]
    return deal


def test_implements_the_protocol(crm: HubSpotApi) -> None:
    assert isinstance(crm, HubSpotApi)


# ---------------------------------------------------------------- get


def test_get_many_keeps_order_and_skips_unknown_ids(crm: HubSpotApi) -> None:
    ids = ["30003", "30001", "39999", "30001", "notanid", "30002"]
    records = crm.get_many("deals", ids, ["dealname"])
    assert [r.id for r in records] == ["30003", "30001", "30002"]
    assert all(r.get("dealname") for r in records)
    assert set(records[0].properties) >= {"dealname", "hs_object_id"}
    assert crm.get_many("deals", []) == []


def test_get_returns_default_properties_and_a_version(crm: HubSpotApi) -> None:
    deal = crm.get("deals", "30001")
    assert deal.id == "30001" and deal.object_type == "deals"
    assert deal.properties["dealname"] == ACME_RENEWAL_DEAL
    assert set(deal.properties) == {
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    }
    assert deal.version == deal.updated_at == deal.properties["hs_lastmodifieddate"]
    assert deal.created_at.endswith("Z") and not deal.archived


def test_get_with_properties_returns_those_even_when_empty(crm: HubSpotApi) -> None:
    deal = crm.get("deals", "30001", ["dealname", "description", "not_a_property"])
    assert deal.properties["dealname"] == ACME_RENEWAL_DEAL
    assert "description" in deal.properties and deal.properties["description"] is None
    assert "not_a_property" not in deal.properties
    assert {"createdate", "hs_lastmodifieddate", "hs_object_id"} <= set(deal.properties)
    assert "amount" not in deal.properties  # only what was asked for (plus the fixed three)


def test_get_with_associations(crm: HubSpotApi) -> None:
    deal = crm.get("deals", "30001", ["dealname"], ["companies", "notes"])
    assert deal.associations["companies"] == ("10001",)
    assert len(deal.associations["notes"]) >= 1
    assert "contacts" not in deal.associations  # not asked for


@pytest.mark.parametrize("bad_id", ["999999", "0", "acme"])
def test_get_unknown_id_is_record_not_found(crm: HubSpotApi, bad_id: str) -> None:
    with pytest.raises(RecordNotFound, match=f"deals {bad_id} not found"):
        crm.get("deals", bad_id)


def test_unknown_object_type_is_invalid(crm: HubSpotApi) -> None:
    with pytest.raises(InvalidRequest, match="object type"):
        crm.search("widgets")


# ---------------------------------------------------------------- search


def test_search_free_text(crm: HubSpotApi) -> None:
    page = crm.search("deals", query="acme", properties=["dealname"])
    names = sorted(r.get("dealname") or "" for r in page.records)
    assert names == ["Acme Corporation — 2027 renewal", "Acme Corporation — Fleet expansion"]
    assert page.total == 2 and page.next_after is None


def test_search_pages_cover_every_match_once(crm: HubSpotApi) -> None:
    seen: list[str] = []
    after = None
    first = crm.search("contacts", limit=7)
    while True:
        page = crm.search("contacts", limit=7, after=after)
        assert page.total == first.total
        seen += [r.id for r in page.records]
        after = page.next_after
        if after is None:
            break
    assert len(seen) == len(set(seen)) == first.total
    assert 80 <= first.total <= 120


def test_search_filters(crm: HubSpotApi) -> None:
    won = crm.search("deals", filters=[("dealstage", "EQ", "closedwon")], properties=["dealstage"], limit=100)
    assert won.total > 0 and all(r.get("dealstage") == "closedwon" for r in won.records)

    big = crm.search("deals", filters=[("amount", "GT", "500000")], properties=["amount"], limit=100)
    assert big.total > 0 and all(float(r.get("amount") or 0) > 500000 for r in big.records)

    either = crm.search(
        "deals", filters=[("dealstage", "IN", ["closedwon", "closedlost"])], properties=["dealstage"], limit=100
    )
    lost = crm.search("deals", filters=[("dealstage", "EQ", "closedlost")], limit=1)
    assert either.total == won.total + lost.total

    acme_people = crm.search("contacts", filters=[("email", "CONTAINS_TOKEN", "*@acme.example")])
    assert acme_people.total == 3

    combined = crm.search(
        "deals",
        filters=[("dealstage", "EQ", "contractsent"), ("hubspot_owner_id", "EQ", OWNER_IDS["u_alice"])],
        properties=["dealname"],
    )
    assert ACME_RENEWAL_DEAL in {r.get("dealname") for r in combined.records}

    no_desc = crm.search("deals", filters=[("description", "NOT_HAS_PROPERTY", None)], limit=1)
    assert no_desc.total == crm.search("deals", limit=1).total


def test_search_dates_compare_as_dates(crm: HubSpotApi) -> None:
    late = crm.search("deals", filters=[("closedate", "GTE", "2027-01-01")], properties=["closedate"], limit=100)
    assert late.total > 0 and all((r.get("closedate") or "") >= "2027-01-01" for r in late.records)


def test_search_sorts(crm: HubSpotApi) -> None:
    page = crm.search("deals", properties=["amount"], sorts=[("amount", "DESCENDING")], limit=20)
    amounts = [float(r.get("amount") or 0) for r in page.records]
    assert amounts == sorted(amounts, reverse=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filters": [("no_such_property", "EQ", "x")]}, "no_such_property"),
        ({"filters": [("amount", "ROUGHLY", "1")]}, "operator"),
        ({"filters": [("dealstage", "IN", [])]}, "IN"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"after": "not-a-cursor"}, "after"),
    ],
)
def test_search_rejects_bad_requests(crm: HubSpotApi, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        crm.search("deals", **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- associations


def test_associations_both_directions(crm: HubSpotApi) -> None:
    contacts = crm.associations("companies", "10001", "contacts")
    assert len(contacts) == 3
    for cid in contacts:
        assert crm.associations("contacts", cid, "companies") == ["10001"]
    deals = crm.associations("companies", "10001", "deals")
    assert "30001" in deals


def test_associations_of_unknown_record(crm: HubSpotApi) -> None:
    with pytest.raises(RecordNotFound):
        crm.associations("companies", "19999", "contacts")


# ---------------------------------------------------------------- update


def test_update_changes_values_and_bumps_the_version(crm: HubSpotApi) -> None:
    before = crm.get("deals", "30001")
    first = crm.update("deals", "30001", {"dealstage": "closedwon", "amount": "250000.50"})
    second = crm.update("deals", "30001", {"amount": "260000"})
    assert first.properties["dealstage"] == "closedwon"
    assert first.properties["amount"] == "250000.5"
    assert before.version < first.version < second.version  # two quick updates still differ
    after = crm.get("deals", "30001")
    assert after.properties["dealstage"] == "closedwon" and after.properties["amount"] == "260000"
    assert after.version == second.version
    assert after.created_at == before.created_at


def test_update_is_idempotent_in_values(crm: HubSpotApi) -> None:
    crm.update("deals", "30002", {"dealstage": "closedlost"})
    crm.update("deals", "30002", {"dealstage": "closedlost"})
    assert crm.get("deals", "30002").properties["dealstage"] == "closedlost"


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"dealstage": "bogus"}, "not a valid dealstage.*closedwon"),
        ({"amount": "lots"}, "not a valid number"),
        ({"favourite_colour": "blue"}, "does not exist"),
        ({"hs_lastmodifieddate": "2020-01-01"}, "read-only"),
        ({"hubspot_owner_id": "123"}, "not a valid owner"),
        ({"closedate": "someday"}, "not a valid date"),
    ],
)
def test_update_rejects_invalid_values(crm: HubSpotApi, props: dict[str, str], message: str) -> None:
    before = crm.get("deals", "30001")
    with pytest.raises(InvalidRequest, match=message):
        crm.update("deals", "30001", props)
    assert crm.get("deals", "30001").version == before.version  # nothing changed


def test_update_unknown_record(crm: HubSpotApi) -> None:
    with pytest.raises(RecordNotFound, match="deals 39999 not found"):
        crm.update("deals", "39999", {"amount": "1"})


# ---------------------------------------------------------------- create


def test_create_with_associations(crm: HubSpotApi) -> None:
    note = crm.create(
        "notes", {"hs_note_body": "Kickoff booked", "hs_timestamp": "2026-11-23T10:00:00Z"}, [("deals", "30001")]
    )
    assert note.id.isdigit() and note.properties["hs_note_body"] == "Kickoff booked"
    assert note.properties["hs_timestamp"] == "2026-11-23T10:00:00.000Z"
    assert note.id in crm.associations("deals", "30001", "notes")
    assert crm.associations("notes", note.id, "deals") == ["30001"]
    assert crm.get("notes", note.id, ["hs_note_body"]).properties["hs_note_body"] == "Kickoff booked"


def test_create_deal_defaults_to_the_default_pipeline(crm: HubSpotApi) -> None:
    deal = crm.create("deals", {"dealname": "Acme Corporation — Spares", "dealstage": "qualifiedtobuy"})
    assert crm.get("deals", deal.id).properties["pipeline"] == "default"


def test_create_with_the_same_idempotency_key_returns_the_first_record(crm: HubSpotApi) -> None:
    props = {"hs_note_body": "Signed!", "hs_timestamp": "2026-11-23"}
    first = crm.create("notes", props, [("deals", "30001")], idempotency_key="approval-1")
    again = crm.create("notes", props, [("deals", "30001")], idempotency_key="approval-1")
    other = crm.create("notes", props, [("deals", "30001")], idempotency_key="approval-2")
    assert again.id == first.id != other.id
    notes = crm.associations("deals", "30001", "notes")
    assert notes.count(first.id) == 1 and other.id in notes
    found = crm.search("notes", filters=[("chamberlain_idempotency_key", "EQ", "approval-1")])
    assert [r.id for r in found.records] == [first.id]


@pytest.mark.parametrize(
    ("object_type", "props", "assoc", "message"),
    [
        ("notes", {"hs_note_body": "x"}, [], "hs_timestamp"),
        ("deals", {"dealname": "No stage"}, [], "dealstage"),
        ("notes", {"hs_note_body": "x", "hs_timestamp": "2026-01-01"}, [("deals", "39999")], "does not exist"),
        ("tasks", {"hs_timestamp": "2026-01-01", "hs_task_status": "MAYBE"}, [], "allowed options"),
        ("notes", {"hs_note_body": "x", "hs_timestamp": "2026-01-01"}, [("notes", "40001")], "cannot be associated"),
    ],
)
def test_create_rejects_invalid_requests(
    crm: HubSpotApi, object_type: str, props: dict[str, str], assoc: list[tuple[str, str]], message: str
) -> None:
    before = crm.search(object_type, limit=1).total
    with pytest.raises(InvalidRequest, match=message):
        crm.create(object_type, props, assoc)
    assert crm.search(object_type, limit=1).total == before


# ---------------------------------------------------------------- pipelines and owners


def test_pipelines(crm: HubSpotApi) -> None:
    [pipeline] = crm.pipelines("deals")
    assert pipeline.id == "default"
    assert [s.id for s in pipeline.stages] == [
        "appointmentscheduled",
        "qualifiedtobuy",
        "presentationscheduled",
        "decisionmakerboughtin",
        "contractsent",
        "closedwon",
        "closedlost",
    ]
    assert [s.id for s in pipeline.stages if s.is_closed] == ["closedwon", "closedlost"]
    assert pipeline.stage("Contract sent") == pipeline.stage("contractsent")
    assert pipeline.stage("contractsent").probability == pytest.approx(0.9)  # type: ignore[union-attr]


def test_owners(crm: HubSpotApi) -> None:
    owners = {o.email: o for o in crm.owners()}
    alice = owners["alice.chen@larkspur.example"]
    assert alice.id == OWNER_IDS["u_alice"] and alice.name == "Alice Chen"
    assert len(owners) == 6


# ---------------------------------------------------------------- the demo seed, as seen through the API


def test_seed_has_the_demo_renewal_and_the_planted_injection(crm: HubSpotApi) -> None:
    deal = _acme_renewal(crm)
    assert deal.get("dealstage") == "contractsent"
    assert deal.get("hubspot_owner_id") == OWNER_IDS["u_alice"]
    notes = crm.associations("companies", "10001", "notes")
    bodies = [crm.get("notes", n, ["hs_note_body"]).get("hs_note_body") or "" for n in notes]
    planted = [b for b in bodies if INJECTION_MARKER in b]
    assert len(planted) == 1 and "mallory.stone@larkspur.example" in planted[0]
    assert crm.search("companies", limit=1).total == 40
    assert 75 <= crm.search("deals", limit=1).total <= 85
