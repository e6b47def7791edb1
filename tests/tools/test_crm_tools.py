"""The CRM tools, against the in-memory CRM and against the real client + local service."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.crm import CrmConnector, Deal, HubSpotClient, InMemoryCrm, Note, Task
from connectors.crm_service import ACME_RENEWAL_DEAL, INJECTION_MARKER, OWNER_IDS, CrmServer
from connectors.errors import ConnectorAuthError
from policies.directory import Directory
from tools.base import Effect, Tool, ToolContext, ToolRegistry
from tools.crm import crm_tools
from tools.errors import ToolFailure, ToolInputError

TOKEN = "tools-test-token"
DIRECTORY = Directory.load()


@pytest.fixture(scope="module")
def crm_server() -> Iterator[CrmServer]:
    with CrmServer(token=TOKEN) as server:
        yield server


@pytest.fixture(params=["memory", "http"])
def crm(request: pytest.FixtureRequest) -> Iterator[CrmConnector]:
    if request.param == "memory":
        yield InMemoryCrm.seeded()
        return
    server: CrmServer = request.getfixturevalue("crm_server")
    server.reset()
    with HubSpotClient(server.url, TOKEN, sleep=lambda _: None) as client:
        yield client


@pytest.fixture
def memory() -> InMemoryCrm:
    return InMemoryCrm.seeded()


def registry(crm: CrmConnector) -> ToolRegistry:
    return ToolRegistry(crm_tools(crm, directory=DIRECTORY))


def ctx(person: str = "u_alice", key: str | None = None) -> ToolContext:
    return ToolContext(principal=DIRECTORY.get(person), thread_id="t1", idempotency_key=key)


def call(reg: ToolRegistry, name: str, args: dict[str, Any], context: ToolContext | None = None) -> Any:
    t = reg.get(name)
    assert t is not None
    return t.fn(t.parse_args(args), context or ctx())


def plan(reg: ToolRegistry, name: str, args: dict[str, Any], context: ToolContext | None = None) -> Any:
    t = reg.get(name)
    assert t is not None and t.plan is not None
    return t.plan(t.parse_args(args), context or ctx())


# ---------------------------------------------------------------- the family


def test_tool_family_shape(memory: InMemoryCrm) -> None:
    tools: list[Tool[Any, Any]] = crm_tools(memory, directory=DIRECTORY)
    by_name = {t.name: t for t in tools}
    assert set(by_name) == {"crm_search", "crm_get_record", "crm_update_deal", "crm_add_note", "crm_create_task"}
    for name in ("crm_search", "crm_get_record"):
        assert by_name[name].effect is Effect.READ and by_name[name].untrusted_output
        assert by_name[name].progress == "searching the CRM…"
    for name in ("crm_update_deal", "crm_add_note", "crm_create_task"):
        assert by_name[name].effect is Effect.WRITE and by_name[name].plan is not None
    for t in tools:
        assert t.family == "crm"
        if t.effect is Effect.WRITE:
            assert "approval" in t.description  # the model knows a person signs off
        json.dumps(t.spec())  # serialisable for the Anthropic API
    assert len(json.dumps([t.spec() for t in tools])) < 12_000  # the schemas are part of every prompt


# ---------------------------------------------------------------- reads


def test_search_is_compact_and_resolves_owner_and_stage(crm: CrmConnector) -> None:
    result = call(registry(crm), "crm_search", {"object_type": "deals", "query": "acme renewal"})
    [deal] = result.records
    assert deal.id == "30001" and deal.label == ACME_RENEWAL_DEAL and deal.ref == "crm://deals/30001"
    assert deal.owner == "Alice Chen <alice.chen@larkspur.example>"
    assert deal.stage == "Contract sent"
    assert deal.properties == {"amount": "240000", "close_date": "2026-12-15", "stage": "contractsent"}


def test_search_filters_by_stage_label_owner_and_sorts(crm: CrmConnector) -> None:
    reg = registry(crm)
    result = call(
        reg,
        "crm_search",
        {
            "object_type": "deals",
            "filters": [{"field": "stage", "operator": "IN", "values": ["Contract sent", "closedwon"]}],
            "owner_email": "alice.chen@larkspur.example",
            "sort": "-amount",
            "limit": 25,
        },
    )
    assert result.total == len(result.records) > 0
    assert {r.stage for r in result.records} <= {"Contract sent", "Closed won"}
    assert {r.owner for r in result.records} == {"Alice Chen <alice.chen@larkspur.example>"}
    amounts = [float(r.properties["amount"]) for r in result.records]
    assert amounts == sorted(amounts, reverse=True)
    with pytest.raises(ToolInputError, match="does not own records"):
        call(reg, "crm_search", {"object_type": "deals", "owner_email": "mallory.stone@larkspur.example"})
    with pytest.raises(ToolInputError, match="the CRM rejected the request"):
        call(
            reg,
            "crm_search",
            {"object_type": "deals", "filters": [{"field": "nope", "operator": "EQ", "value": "x"}]},
        )


def test_search_pages(memory: InMemoryCrm) -> None:
    reg = registry(memory)
    first = call(reg, "crm_search", {"object_type": "companies", "limit": 25})
    second = call(reg, "crm_search", {"object_type": "companies", "limit": 25, "after": first.next_after})
    assert first.total == 40 and len(first.records) == 25 and len(second.records) == 15
    assert second.next_after is None


@pytest.mark.parametrize(
    "args",
    [
        {"object_type": "deals", "limit": 26},
        {"object_type": "widgets"},
        {"object_type": "deals", "filters": [{"field": "amount", "operator": "ROUGHLY", "value": "1"}]},
        {"object_type": "deals", "surprise": True},
    ],
)
def test_search_arguments_are_validated(memory: InMemoryCrm, args: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        registry(memory).get("crm_search").parse_args(args)  # type: ignore[union-attr]


def test_get_record_shows_associations_and_recent_notes(crm: CrmConnector) -> None:
    record = call(registry(crm), "crm_get_record", {"object_type": "deals", "record_id": "30001"})
    assert record.label == ACME_RENEWAL_DEAL and record.stage == "Contract sent"
    assert record.associations["companies"] == ["10001"]
    assert record.association_counts["notes"] == len(record.recent_notes) >= 2
    assert any(INJECTION_MARKER in n.body for n in record.recent_notes)  # data, returned as data
    stamps = [n.timestamp for n in record.recent_notes]
    assert stamps == sorted(stamps, reverse=True)
    company = call(registry(crm), "crm_get_record", {"object_type": "companies", "record_id": "10001"})
    assert company.properties["domain"] == "acme.example" and len(company.associations["contacts"]) == 3


def test_get_record_unknown_id_helps_the_model(crm: CrmConnector) -> None:
    with pytest.raises(ToolInputError, match="deal 39999 not found; use crm_search to find the id"):
        call(registry(crm), "crm_get_record", {"object_type": "deals", "record_id": "39999"})
    with pytest.raises(ValidationError):  # a name is not an id (ids are letters and digits: vendors differ)
        registry(crm).get("crm_get_record").parse_args({"object_type": "deals", "record_id": "acme renewal"})  # type: ignore[union-attr]
    with pytest.raises(ToolInputError, match="deal acme not found; use crm_search"):
        call(registry(crm), "crm_get_record", {"object_type": "deals", "record_id": "acme"})


# ---------------------------------------------------------------- crm_update_deal


def test_update_deal_plan(crm: CrmConnector) -> None:
    before = crm.fetch("deals", "30001")
    p = plan(registry(crm), "crm_update_deal", {"deal_id": "30001", "stage": "Closed won"})
    assert p.summary == "Move deal 'Acme Corporation — 2027 renewal' from Contract sent to Closed won"
    assert p.target == "deal 30001"
    assert p.current == {"stage": "Contract sent"} and p.proposed == {"stage": "Closed won"}
    assert p.target_version == before.version
    assert p.facts["owner"] == "u_alice" and p.facts["amount"] == 240000.0
    assert p.facts["object_type"] == "deals" and p.facts["record_id"] == "30001"
    assert crm.fetch("deals", "30001").version == before.version  # planning changes nothing


def test_update_deal_plan_with_amount(memory: InMemoryCrm) -> None:
    p = plan(registry(memory), "crm_update_deal", {"deal_id": "30001", "stage": "closedwon", "amount": 250000})
    assert p.summary == (
        "Move deal 'Acme Corporation — 2027 renewal' from Contract sent to Closed won "
        "and change the amount from 240,000 to 250,000"
    )
    assert p.proposed == {"stage": "Closed won", "amount": 250000.0}
    only_amount = plan(registry(memory), "crm_update_deal", {"deal_id": "30001", "amount": 99.5})
    assert only_amount.summary == "Change the amount of deal 'Acme Corporation — 2027 renewal' from 240,000 to 99.50"


def test_update_deal_plan_without_a_directory_uses_the_company_directory(memory: InMemoryCrm) -> None:
    reg = ToolRegistry(crm_tools(memory))
    p = plan(reg, "crm_update_deal", {"deal_id": "30001", "amount": 1})
    assert p.facts["owner"] == "u_alice"


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (
            {"deal_id": "30001", "stage": "signed"},
            ToolInputError,
            "unknown deal stage 'signed'.*Closed won \\(closedwon\\)",
        ),
        ({"deal_id": "30001", "stage": "contractsent"}, ToolInputError, "nothing to change"),
        ({"deal_id": "39999", "stage": "closedwon"}, ToolInputError, "deal 39999 not found; use crm_search"),
    ],
)
def test_update_deal_plan_rejects(
    memory: InMemoryCrm, args: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        plan(registry(memory), "crm_update_deal", args)


def test_update_deal_needs_something_to_change(memory: InMemoryCrm) -> None:
    with pytest.raises(ValidationError, match="nothing to change"):
        registry(memory).get("crm_update_deal").parse_args({"deal_id": "30001"})  # type: ignore[union-attr]


def test_update_deal_executes_and_invalidates_the_plan_version(crm: CrmConnector) -> None:
    reg = registry(crm)
    args = {"deal_id": "30001", "stage": "closedwon"}
    approved = plan(reg, "crm_update_deal", args)
    with pytest.raises(RuntimeError, match="idempotency_key"):
        call(reg, "crm_update_deal", args)
    result = call(reg, "crm_update_deal", args, ctx(key="approval-7"))
    assert result.summary == "Deal 'Acme Corporation — 2027 renewal' is now in stage Closed won"
    after = crm.fetch("deals", "30001")
    assert isinstance(after, Deal) and after.stage == "closedwon"
    assert after.version != approved.target_version  # a re-plan would notice the change
    again = call(reg, "crm_update_deal", args, ctx(key="approval-7"))  # a retried execution
    assert "already" in again.summary and crm.fetch("deals", "30001").version == after.version


# ---------------------------------------------------------------- crm_add_note / crm_create_task


def test_add_note_plan_and_idempotent_execution(crm: CrmConnector) -> None:
    reg = registry(crm)
    args = {"object_type": "deals", "record_id": "30001", "body": "Customer signed the renewal on site."}
    p = plan(reg, "crm_add_note", args)
    assert p.target == "deal 30001" and p.target_version is None
    assert p.summary == "Add a note to deal 'Acme Corporation — 2027 renewal': “Customer signed the renewal on site.”"
    assert p.proposed["note"] == args["body"] and p.proposed["author"] == "Alice Chen"
    assert p.facts["owner"] == "u_alice"
    before = crm.linked("deals", "30001", "notes")
    first = call(reg, "crm_add_note", args, ctx(key="approval-note-1"))
    second = call(reg, "crm_add_note", args, ctx(key="approval-note-1"))
    assert first.id == second.id
    after = crm.linked("deals", "30001", "notes")
    assert len(after) == len(before) + 1 and first.id in after
    note = crm.fetch("notes", first.id)
    assert isinstance(note, Note) and note.body == args["body"]
    assert note.owner_id == OWNER_IDS["u_alice"]
    call(reg, "crm_add_note", args, ctx(key="approval-note-2"))
    assert len(crm.linked("deals", "30001", "notes")) == len(before) + 2


def test_add_note_by_someone_who_is_not_a_crm_user(memory: InMemoryCrm) -> None:
    reg = registry(memory)
    args = {"object_type": "companies", "record_id": "10001", "body": "Visited the San Jose site."}
    p = plan(reg, "crm_add_note", args, ctx("u_priya"))
    assert "author" not in p.proposed and p.facts["owner"] == "u_alice"
    done = call(reg, "crm_add_note", args, ctx("u_priya", key="k"))
    assert memory.fetch("notes", done.id).owner_id is None


def test_create_task_plan_and_idempotent_execution(crm: CrmConnector) -> None:
    reg = registry(crm)
    args = {
        "object_type": "deals",
        "record_id": "30001",
        "subject": "Send countersigned contract",
        "due_date": "2026-12-01",
        "priority": "HIGH",
    }
    p = plan(reg, "crm_create_task", args, ctx("u_bob"))
    assert p.summary == (
        "Create task 'Send countersigned contract' due 2026-12-01 on deal 'Acme Corporation — 2027 renewal'"
    )
    assert p.proposed["assigned_to"] == "Bob Nakamura" and p.facts["owner"] == "u_alice"
    first = call(reg, "crm_create_task", args, ctx("u_bob", key="approval-task"))
    second = call(reg, "crm_create_task", args, ctx("u_bob", key="approval-task"))
    assert first.id == second.id
    assert crm.linked("deals", "30001", "tasks").count(first.id) == 1
    task = crm.fetch("tasks", first.id)
    assert isinstance(task, Task) and task.subject == "Send countersigned contract"
    assert task.due_at == "2026-12-01T12:00:00.000Z"
    assert task.priority == "HIGH"
    assert task.owner_id == OWNER_IDS["u_bob"]


def test_writes_on_unknown_records(memory: InMemoryCrm) -> None:
    reg = registry(memory)
    with pytest.raises(ToolInputError, match="contact 29999 not found; use crm_search"):
        plan(reg, "crm_add_note", {"object_type": "contacts", "record_id": "29999", "body": "x"})
    with pytest.raises(ToolInputError, match="company 19999 not found"):
        call(
            reg,
            "crm_create_task",
            {"object_type": "companies", "record_id": "19999", "subject": "x", "due_date": "2026-12-01"},
            ctx(key="k"),
        )


# ---------------------------------------------------------------- failures


def test_crm_down_is_a_retryable_failure(crm_server: CrmServer) -> None:
    crm_server.reset()
    with HubSpotClient(crm_server.url, TOKEN, sleep=lambda _: None, max_retries=1) as client:
        reg = registry(client)
        crm_server.set_fault("down")
        try:
            with pytest.raises(ToolFailure, match="the CRM is unavailable right now") as info:
                call(reg, "crm_search", {"object_type": "deals", "query": "acme"})
            assert info.value.retryable
            with pytest.raises(ToolFailure) as info:
                call(reg, "crm_add_note", {"object_type": "deals", "record_id": "30001", "body": "x"}, ctx(key="k"))
            assert info.value.retryable
        finally:
            crm_server.set_fault(None)
        crm_server.set_fault("503")
        try:
            with pytest.raises(ToolFailure, match="unavailable"):
                plan(reg, "crm_update_deal", {"deal_id": "30001", "stage": "closedwon"})
        finally:
            crm_server.set_fault(None)


def test_auth_errors_propagate(crm_server: CrmServer) -> None:
    with HubSpotClient(crm_server.url, "not-the-token") as client, pytest.raises(ConnectorAuthError):
        call(registry(client), "crm_search", {"object_type": "deals"})


def test_write_path_over_http_end_to_end(crm_server: CrmServer) -> None:
    """plan → (approval) → execute → the record changed; a retried execution changes nothing more."""
    crm_server.reset()
    with HubSpotClient(crm_server.url, TOKEN) as client:
        reg = registry(client)
        args = {"deal_id": "30001", "stage": "Closed won"}
        p = plan(reg, "crm_update_deal", args)
        assert p.target_version == client.get("deals", "30001").version
        context = dataclasses.replace(ctx(), idempotency_key="approval-http-1")
        call(reg, "crm_update_deal", args, context)
        assert crm_server.store.get("deals", "30001").properties["dealstage"] == "closedwon"
        note_args = {"object_type": "deals", "record_id": "30001", "body": "Won!"}
        ids = {call(reg, "crm_add_note", note_args, context).id for _ in range(3)}
        assert len(ids) == 1
        stored = crm_server.store.search("notes", filters=[("hs_note_body", "EQ", "Won!")])
        assert stored.total == 1
