"""Prometheus series move with what the runtime does (read from the process registry)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn
from agent.observability.metrics import metrics, refusal_rule
from agent.runtime.chamberlain import build_runtime
from agent.settings import Settings
from connectors import telemetry
from connectors.crm import InMemoryCrm
from tools.base import ToolRegistry
from tools.crm import crm_tools

pytestmark = pytest.mark.xdist_group("telemetry")


def _value(name: str, labels: dict[str, str] | None = None) -> float:
    return metrics().registry.get_sample_value(name, labels or {}) or 0.0


def test_turns_tokens_refusals_and_decisions_are_counted(tmp_path: Path) -> None:
    before = {
        "answered": _value("chamberlain_turns_total", {"status": "answered"}),
        "rbac": _value("chamberlain_policy_refusals_total", {"rule": "rbac"}),
        "tokens": _value("chamberlain_model_tokens_total", {"model": "scripted", "kind": "output"}),
        "approve": _value(
            "chamberlain_approval_decisions_total",
            {"kind": "tool_call", "stage": "sales manager", "decision": "approve"},
        ),
        "refused": _value(
            "chamberlain_approval_decisions_total",
            {"kind": "tool_call", "stage": "sales manager", "decision": "refused"},
        ),
        "tool": _value("chamberlain_tool_call_duration_seconds_count", {"tool": "crm_update_deal", "effect": "write"}),
    }
    turns = [
        tool_turn("crm_update_deal", {"deal_id": "30001", "stage": "closedwon"}),
        text_turn("I may not do that."),
        tool_turn("crm_update_deal", {"deal_id": "30001", "stage": "closedwon"}),
        text_turn("Done."),
    ]
    with build_runtime(
        Settings(data_dir=tmp_path),
        registry=ToolRegistry(crm_tools(InMemoryCrm.seeded())),
        chat_model=ScriptedChatModel.from_turns(turns),
    ) as rt:
        rt.ask("u_mallory", "close the Acme deal", thread_id="m1")  # engineering: may not use the CRM
        out = rt.ask("u_alice", "close the Acme deal", thread_id="a1")
        approval_id = out.pending[0].id
        rt.decide(approval_id, approver_id="u_bob", approve=True)  # not an approver: refused
        rt.decide(approval_id, approver_id="u_raj", approve=True)

    assert _value("chamberlain_policy_refusals_total", {"rule": "rbac"}) == before["rbac"] + 1
    assert _value("chamberlain_turns_total", {"status": "answered"}) == before["answered"] + 2
    assert _value("chamberlain_model_tokens_total", {"model": "scripted", "kind": "output"}) > before["tokens"]
    labels = {"kind": "tool_call", "stage": "sales manager"}
    assert _value("chamberlain_approval_decisions_total", {**labels, "decision": "approve"}) == before["approve"] + 1
    assert _value("chamberlain_approval_decisions_total", {**labels, "decision": "refused"}) == before["refused"] + 1
    tool_labels = {"tool": "crm_update_deal", "effect": "write"}
    assert _value("chamberlain_tool_call_duration_seconds_count", tool_labels) == before["tool"] + 1


def test_lower_layer_spans_feed_the_sql_and_retrieval_histograms() -> None:
    metrics()
    ok = _value("chamberlain_sql_query_duration_seconds_count", {"outcome": "ok"})
    err = _value("chamberlain_sql_query_duration_seconds_count", {"outcome": "error"})
    with telemetry.span("chamberlain.sql.query", {"db.system": "sqlite"}):
        pass
    with pytest.raises(ValueError), telemetry.span("chamberlain.sql.query", {"db.system": "sqlite"}):
        raise ValueError("boom")
    assert _value("chamberlain_sql_query_duration_seconds_count", {"outcome": "ok"}) == ok + 1
    assert _value("chamberlain_sql_query_duration_seconds_count", {"outcome": "error"}) == err + 1


@pytest.mark.parametrize(
    ("reason", "rule"),
    [
        ("Mallory Stone may not use crm_update_deal (roles: employee)", "rbac"),
        ("tool-call budget of 24 per request is spent; answer with what you have", "budget"),
        ("invalid arguments for crm_update_deal: deal_id: Field required", "invalid_arguments"),
        ("something new", "other"),
    ],
)
def test_refusal_reasons_map_to_few_rule_labels(reason: str, rule: str) -> None:
    assert refusal_rule(reason) == rule
