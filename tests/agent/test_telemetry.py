"""Traces of one approved write (in-memory exporter) and the cost of tracing when it is off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn
from agent.observability import telemetry as agent_telemetry
from agent.runtime.chamberlain import build_runtime
from agent.settings import Settings
from connectors import telemetry
from connectors.crm import InMemoryCrm
from tools.base import ToolRegistry
from tools.crm import crm_tools

pytestmark = pytest.mark.xdist_group("telemetry")  # the tracer provider is process-wide


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.install(provider)
    try:
        yield exporter
    finally:
        telemetry.uninstall()
        provider.shutdown()


def _runtime(tmp_path: Path, crm: InMemoryCrm, turns: list[Any]) -> Any:
    return build_runtime(
        Settings(data_dir=tmp_path),
        registry=ToolRegistry(crm_tools(crm)),
        chat_model=ScriptedChatModel.from_turns(turns),
    )


def _tree(finished: tuple[ReadableSpan, ...]) -> dict[str, Any]:
    by_id = {s.context.span_id: s for s in finished}
    children: dict[int | None, list[ReadableSpan]] = {}
    for s in finished:
        parent = s.parent.span_id if s.parent is not None and s.parent.span_id in by_id else None
        children.setdefault(parent, []).append(s)

    def node(s: ReadableSpan) -> tuple[str, list[Any]]:
        kids = sorted(children.get(s.context.span_id, []), key=lambda k: k.start_time or 0)
        return (s.name, [node(k) for k in kids])

    return {"roots": [node(s) for s in sorted(children.get(None, []), key=lambda k: k.start_time or 0)]}


def _names(tree: Any) -> list[str]:
    out: list[str] = []

    def walk(n: Any) -> None:
        out.append(n[0])
        for k in n[1]:
            walk(k)

    for r in tree["roots"]:
        walk(r)
    return out


def test_one_approved_write_is_traced_end_to_end(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    crm = InMemoryCrm.seeded()
    turns = [
        tool_turn("crm_search", {"object_type": "deals", "query": "Acme Corporation 2027 renewal"}),
        tool_turn("crm_update_deal", {"deal_id": "30001", "stage": "closedwon"}),
        text_turn("Done: the Acme renewal is closed won."),
    ]
    with _runtime(tmp_path, crm, turns) as rt:
        out = rt.ask("u_alice", "Close the Acme renewal, my phone is +1 415 555 0100", thread_id="t-trace")
        approval_id = out.pending[0].id
        rt.decide(approval_id, approver_id="u_raj", approve=True)

    tree = _tree(spans.get_finished_spans())
    ask, decide = tree["roots"]
    assert ask == (
        "invoke_agent chamberlain",
        [
            ("chat scripted", []),
            ("chamberlain.gate", [("chamberlain.policy crm_search", [])]),
            ("execute_tool crm_search", []),
            ("chat scripted", []),
            ("chamberlain.gate", [("chamberlain.policy crm_update_deal", [])]),
        ],
    )
    assert decide == (
        "chamberlain.approval.decide",
        [
            ("chamberlain.approval.wait", []),
            (
                "invoke_agent chamberlain",
                [("execute_tool crm_update_deal", []), ("chat scripted", [])],
            ),
        ],
    )
    by_name: dict[str, list[ReadableSpan]] = {}
    for s in spans.get_finished_spans():
        by_name.setdefault(s.name, []).append(s)
    chat = by_name["chat scripted"][0].attributes or {}
    assert chat["gen_ai.operation.name"] == "chat" and chat["gen_ai.system"]
    assert chat["gen_ai.response.model"] and chat["gen_ai.usage.input_tokens"] > 0
    assert chat["gen_ai.usage.output_tokens"] > 0 and list(chat["gen_ai.response.finish_reasons"]) == ["tool_use"]
    policy = by_name["chamberlain.policy crm_update_deal"][0].attributes or {}
    assert (
        policy["chamberlain.policy.decision"] == "needs_approval" and policy["chamberlain.approval.id"] == approval_id
    )
    write = by_name["execute_tool crm_update_deal"][0].attributes or {}
    assert write["chamberlain.tool.effect"] == "write" and write["chamberlain.approval.outcome"] == "executed"
    wait = by_name["chamberlain.approval.wait"][0]
    assert wait.start_time is not None and wait.end_time is not None and wait.end_time > wait.start_time
    decision = by_name["chamberlain.approval.decide"][0].attributes or {}
    assert decision["chamberlain.approval.status"] == "executed" and decision["chamberlain.approval.accepted"]
    turn = by_name["invoke_agent chamberlain"][1].attributes or {}
    assert turn["gen_ai.conversation.id"] == "t-trace" and turn["chamberlain.turn.status"] == "answered"
    # No prompt, answer or argument text without the opt-in; no PII at all.
    for s in spans.get_finished_spans():
        for key, value in (s.attributes or {}).items():
            assert key not in ("gen_ai.output.messages", "gen_ai.tool.call.arguments", "gen_ai.input.messages")
            assert "555" not in str(value) and "Acme" not in str(value)
    assert crm.get("deals", "30001", ["dealstage"]).properties["dealstage"] == "closedwon"


def test_content_capture_is_opt_in_and_redacted(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.install(provider, capture_content=True)
    try:
        turns = [text_turn("Call me at alice.chen@larkspur.example about Acme.")]
        with _runtime(tmp_path, InMemoryCrm.seeded(), turns) as rt:
            rt.ask("u_alice", "hi", thread_id="t-content")
    finally:
        telemetry.uninstall()
        provider.shutdown()
    outputs = [str((s.attributes or {}).get("gen_ai.output.messages")) for s in exporter.get_finished_spans()]
    captured = [o for o in outputs if "Acme" in o]
    assert captured and all("alice.chen@larkspur.example" not in o for o in captured)


def test_configure_reads_the_standard_otel_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert not agent_telemetry.configure(Settings(data_dir=tmp_path))  # nothing asked: stays off
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not agent_telemetry.configure(Settings(data_dir=tmp_path))
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    try:
        assert agent_telemetry.configure(Settings(data_dir=tmp_path))
        assert telemetry.enabled()
    finally:
        telemetry.uninstall()  # no shutdown: nothing listens on 4318, and nothing was exported


def test_spans_cost_nothing_when_tracing_is_off() -> None:
    assert not telemetry.enabled()
    with telemetry.span("chamberlain.test", {"a": 1}) as s:
        assert not s.is_recording()
