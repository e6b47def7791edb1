"""submit_request / my_requests: missing fields create nothing; complete requests are routed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.workflows.service import TravellingClock, WorkflowService
from connectors.appdb import ApprovalStore, AuditLog, make_engine
from connectors.crm import InMemoryCrm
from policies.directory import Directory
from policies.routing import load_default
from tools.base import Effect, Tool, ToolContext
from tools.errors import NeedsInformation, ToolFailure, ToolInputError
from tools.requests import SubmitRequestResult, request_tools

DIRECTORY = Directory.load()
SERVICES: list[WorkflowService] = []


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
    SERVICES.append(svc)
    yield svc, {t.name: t for t in request_tools(lambda: svc)}
    eng.dispose()


def ctx(user: str = "u_alice", thread: str = "t1") -> ToolContext:
    return ToolContext(principal=DIRECTORY.get(user), thread_id=thread)


def call(tools: dict[str, Tool[Any, Any]], name: str, args: dict[str, Any], c: ToolContext | None = None) -> Any:
    """Call a tool as the graph does: a read runs; submit_request is planned, proposed on the
    lifecycle (executed when auto-approved), then described."""
    t = tools[name]
    c = c or ctx()
    if t.effect is Effect.READ:
        return t.fn(t.parse_args(args), c)
    assert t.plan is not None
    plan = t.plan(t.parse_args(args), ToolContext(principal=c.principal, thread_id=c.thread_id))
    svc = plan.proposal and SERVICES[-1]
    rec, created = svc.lifecycle.propose(plan.proposal)
    if created and plan.on_proposed is not None:
        plan.on_proposed(rec)
    if rec.status == "approved":
        rec = svc.lifecycle.execute(rec.id).record
    return t.fn(t.parse_args(args), ToolContext(principal=c.principal, extras={"approval": rec, "created": created}))


DINNER = {"amount": 840, "category": "client_entertainment", "date": "2026-11-22", "description": "Client dinner"}


def test_family_shape(env: Any) -> None:
    _svc, tools = env
    assert set(tools) == {"submit_request", "my_requests"}
    # Filing a request is a write (its follow-up changes things); listing them reads others' text.
    assert tools["submit_request"].effect is Effect.WRITE and tools["submit_request"].plan is not None
    assert tools["my_requests"].effect is Effect.READ and tools["my_requests"].untrusted_output
    with pytest.raises(ToolFailure, match="only through the approval gate"):
        tools["submit_request"].fn(tools["submit_request"].parse_args({"kind": "expense"}), ctx())
    desc = tools["submit_request"].description
    assert "needs_information" in desc and "- expense: amount*" in desc and "has_receipt*" in desc
    assert "- discount: deal_id*, discount_percent*, deal_amount," in desc


def test_missing_fields_are_asked_for_and_nothing_is_created(env: Any) -> None:
    svc, tools = env
    with pytest.raises(NeedsInformation, match="nothing was filed") as exc:
        call(tools, "submit_request", {"kind": "expense", "fields": DINNER})
    assert "has_receipt" in str(exc.value) and "receipt" in str(exc.value).lower()
    assert svc.store.list() == []
    with pytest.raises(NeedsInformation) as empty:
        call(tools, "submit_request", {"kind": "time_off", "fields": {}})
    assert all(f in str(empty.value) for f in ("start", "end", "type"))
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
