"""The agent end to end with the Salesforce-shaped CRM chosen by the setting: a CRM read, an
approved CRM write that lands once, and an approved discount (a workflow follow-up) — the
tools and workflows speak the neutral model, the org sees SObjects and SOQL."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn
from agent.runtime.chamberlain import build_runtime
from agent.runtime.services import open_runtime, open_services
from agent.settings import Settings
from agent.workflows.service import attach
from connectors.crm import Deal, Note
from connectors.crm.salesforce import SalesforceMemoryCrm
from evals.trajectories import TurnSpec, _turn
from tools.base import ToolRegistry

ACME_RENEWAL = SalesforceMemoryCrm.demo_id("deals", "30001")


def test_an_unknown_crm_setting_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown CRM 'dynamics'; use one of: hubspot, memory, salesforce-memory"):
        Settings(data_dir=tmp_path, crm="dynamics")


def test_search_then_approved_update_lands_once_in_the_org(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, crm="salesforce-memory")
    services = open_services(settings)
    crm = services.crm
    assert isinstance(crm, SalesforceMemoryCrm)  # the setting chose the connector
    model = ScriptedChatModel.from_turns(
        [
            tool_turn("crm_search", {"object_type": "deals", "query": "Acme renewal"}),
            _turn(TurnSpec(echo_last_tool=True)),
            tool_turn("crm_update_deal", {"deal_id": ACME_RENEWAL, "stage": "Closed won"}),
            text_turn("proposed"),
        ]
    )
    try:
        with open_runtime(settings, chat_model=model, crm=crm) as rt:
            found = rt.ask("u_alice", "Find the Acme renewal", thread_id="sf1")
            assert found.answer is not None and ACME_RENEWAL in found.answer.text
            assert any(q.startswith("SELECT Id") and "FROM Opportunity" in q and "LIKE '%renewal%'" in q
                       for q in crm.org.queries)  # fmt: skip
            out = rt.ask("u_alice", "close it", thread_id="sf1")
            [view] = out.pending
            assert view.current == {"stage": "Contract sent"} and view.proposed == {"stage": "Closed won"}
            assert crm.fetch("deals", ACME_RENEWAL).values()["stage"] == "contractsent"  # not before approval
            calls_before = crm.org.api_calls
            assert rt.decide(view.id, approver_id="u_raj", approve=True).final
            rt.decide(view.id, approver_id="u_raj", approve=True)  # a double click
            rt.recover()  # a restart re-drives nothing that already ran
            deal = crm.fetch("deals", ACME_RENEWAL)
            assert isinstance(deal, Deal) and deal.stage == "closedwon"
            assert crm.org.api_calls > calls_before
            row = crm.org.retrieve("Opportunity", ACME_RENEWAL)
            assert row["StageName"] == "closedwon" and row["Amount"] == Decimal("240000")
    finally:
        services.close()


def test_an_approved_discount_updates_the_opportunity_and_adds_one_note(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, crm="salesforce-memory")
    crm = SalesforceMemoryCrm.seeded()
    rt = build_runtime(settings, registry=ToolRegistry([]), chat_model=ScriptedChatModel.from_turns([]))
    try:
        svc = attach(rt, settings, crm=crm)
        notes_before = crm.linked("deals", ACME_RENEWAL, "notes")
        request = {"kind": "discount", "deal_id": ACME_RENEWAL, "discount_percent": 5, "reason": "multi-year"}
        rec = svc.submit("u_alice", request).record
        assert rec.current == {"amount": "240000.00"}  # read from the Opportunity
        for stage in rec.stages:
            assert rt.decide(rec.id, approver_id=stage.approvers[0], approve=True).accepted
        assert rt.approvals.get(rec.id).status == "executed"
        rt.recover()  # a restart re-drives nothing that already ran
        deal = crm.fetch("deals", ACME_RENEWAL)
        assert isinstance(deal, Deal) and deal.amount == Decimal("228000.00")
        new_notes = [n for n in crm.linked("deals", ACME_RENEWAL, "notes") if n not in notes_before]
        assert len(new_notes) == 1
        note = crm.fetch("notes", new_notes[0])
        assert isinstance(note, Note) and "Discount of 5% approved" in (note.body or "")
        assert crm.org.retrieve("Note", new_notes[0])["Idempotency_Key__c"] == rt.approvals.get(rec.id).idempotency_key
    finally:
        rt.close()
