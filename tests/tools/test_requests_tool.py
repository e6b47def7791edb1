"""submit_request / my_requests: missing fields create nothing; complete requests are routed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.workflows import TravellingClock, WorkflowService
from connectors.appdb import ApprovalStore, AuditLog, make_engine
from connectors.crm import InMemoryCrm
from policies.directory import Directory
from policies.routing import load_default
from tools.base import Effect, Tool, ToolContext
from tools.errors import ToolInputError
from tools.requests import SubmitRequestResult, request_tools

DIRECTORY = Directory.load()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[WorkflowService, dict[str, Tool[Any, Any]]]]:
    eng = make_engine(f"sqlite:///{tmp_path}/app.db")
    clock = TravellingClock(dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC))
    svc = WorkflowService(
        ApprovalStore(eng, clock=clock),
        AuditLog(eng, clock=clock),
        DIRECTORY,
        load_default(DIRECTORY),
        crm=InMemoryCrm.seeded(),
    )
    yield svc, {t.name: t for t in request_tools(lambda: svc)}
    eng.dispose()


def ctx(user: str = "u_alice", thread: str = "t1") -> ToolContext:
    return ToolContext(principal=DIRECTORY.get(user), thread_id=thread)


def call(tools: dict[str, Tool[Any, Any]], name: str, args: dict[str, Any], c: ToolContext | None = None) -> Any:
    t = tools[name]
    return t.fn(t.parse_args(args), c or ctx())


DINNER = {"amount": 840, "category": "client_entertainment", "date": "2026-11-22", "description": "Client dinner"}


def test_family_shape(env: Any) -> None:
    _svc, tools = env
    assert set(tools) == {"submit_request", "my_requests"}
    assert all(t.effect is Effect.READ for t in tools.values())
    desc = tools["submit_request"].description
    assert "needs_information" in desc and "- expense: amount*" in desc and "has_receipt*" in desc
    assert "- discount: deal_id*, discount_percent*, deal_amount," in desc


def test_missing_fields_are_asked_for_and_nothing_is_created(env: Any) -> None:
    svc, tools = env
    res: SubmitRequestResult = call(tools, "submit_request", {"kind": "expense", "fields": DINNER})
    assert res.status == "needs_information" and res.request_id is None
    assert [m.name for m in res.missing_fields] == ["has_receipt"]
    assert "receipt" in res.missing_fields[0].question.lower()
    assert "has_receipt" in res.next_step and "Nothing was filed" in res.next_step
    assert svc.store.list() == []
    empty: SubmitRequestResult = call(tools, "submit_request", {"kind": "time_off", "fields": {}})
    assert [m.name for m in empty.missing_fields] == ["start", "end", "type"]
    assert svc.store.list() == []


def test_complete_request_is_routed_with_names(env: Any) -> None:
    svc, tools = env
    res: SubmitRequestResult = call(
        tools, "submit_request", {"kind": "expense", "fields": {**DINNER, "has_receipt": True}}
    )
    assert res.status == "submitted" and res.request_id and not res.auto_approved
    assert [s.stage for s in res.route] == ["manager", "finance"]
    assert res.route[0].approvers == ["Raj Patel (Sales)"]
    assert "expense-client-entertainment" in res.rules_fired
    assert "Raj Patel (Sales)" in res.next_step
    rec = svc.store.get(res.request_id)
    assert rec.thread_id == "t1" and rec.requester_id == "u_alice" and rec.status == "pending"
    # The same request again in the same conversation is not filed twice.
    again: SubmitRequestResult = call(
        tools, "submit_request", {"kind": "expense", "fields": {**DINNER, "has_receipt": True}}
    )
    assert again.status == "already_submitted" and again.request_id == res.request_id
    assert len(svc.store.list()) == 1


def test_auto_approved_and_flags(env: Any) -> None:
    _svc, tools = env
    auto: SubmitRequestResult = call(
        tools,
        "submit_request",
        {
            "kind": "expense",
            "fields": {
                "amount": 30,
                "category": "meals",
                "date": "2026-11-20",
                "description": "lunch",
                "has_receipt": True,
            },
        },
    )
    assert auto.status == "auto_approved" and auto.request_status == "executed" and auto.route == []
    assert auto.outcome is not None and "ledger_entries" in auto.outcome
    flagged: SubmitRequestResult = call(
        tools, "submit_request", {"kind": "expense", "fields": {**DINNER, "has_receipt": False}}
    )
    assert any(f.startswith("missing_receipt") for f in flagged.flags)


def test_invalid_values_are_input_errors(env: Any) -> None:
    svc, tools = env
    with pytest.raises(ToolInputError, match="amount"):
        call(tools, "submit_request", {"kind": "expense", "fields": {**DINNER, "amount": -5, "has_receipt": True}})
    with pytest.raises(ToolInputError, match="colour: not a field"):
        call(tools, "submit_request", {"kind": "expense", "fields": {**DINNER, "has_receipt": True, "colour": "red"}})
    with pytest.raises(ToolInputError, match="no exchange rate for 'CHF'"):
        call(tools, "submit_request", {"kind": "expense", "fields": {**DINNER, "has_receipt": True, "currency": "CHF"}})
    with pytest.raises(ToolInputError, match="39999"):
        call(
            tools,
            "submit_request",
            {"kind": "discount", "fields": {"deal_id": "39999", "discount_percent": 5, "reason": "x"}},
        )
    with pytest.raises(ToolInputError, match="kind"):
        call(tools, "submit_request", {"kind": "expense", "fields": {"kind": "purchase"}})
    assert svc.store.list() == []


def test_my_requests_lists_only_the_askers(env: Any) -> None:
    _svc, tools = env
    mine: SubmitRequestResult = call(
        tools, "submit_request", {"kind": "expense", "fields": {**DINNER, "has_receipt": True}}
    )
    call(
        tools,
        "submit_request",
        {"kind": "access", "fields": {"system": "github", "access_level": "write", "justification": "code review"}},
        ctx("u_erin", "t2"),
    )
    listed = call(tools, "my_requests", {})
    assert [r.id for r in listed.requests] == [mine.request_id]
    r = listed.requests[0]
    assert r.status == "pending" and r.stage == "manager" and r.waiting_for == ["Raj Patel (Sales)"]
    assert call(tools, "my_requests", {"status": "executed"}).requests == []
