"""Scripted-model trajectories: a user message, the model's turns, who decides the approvals,
and what must be true afterwards (policy decisions, executed writes, final state).

Cases live in ``evals/cases/*.yaml``; ``python -m evals.run`` runs them all and prints a table.
CI runs the same cases through ``tests/evals/test_trajectories.py``.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from pydantic import BaseModel, ConfigDict, Field

from agent.models.scripted import ScriptedChatModel, text_turn
from agent.runtime.chamberlain import Chamberlain, build_runtime
from agent.settings import Settings
from tools.base import ToolRegistry

CASES_DIR = Path(__file__).with_name("cases")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolCallSpec(_Strict):
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class TurnSpec(_Strict):
    """One model turn: tool calls, or text, or an echo of the last tool result."""

    tool: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    calls: list[ToolCallSpec] = Field(default_factory=list)
    text: str | None = None
    echo_last_tool: bool = False
    # Answer with this text followed by the cite_as markers of the first N passages returned by
    # the last search_documents call (and, optionally, a fabricated marker that must be dropped).
    cite_passages: int = 0
    fake_citation: str | None = None


class DecisionSpec(_Strict):
    by: str
    approve: bool = True
    reason: str | None = None
    accepted: bool = True
    which: int = 0  # index into the pending approvals at that point


class StepSpec(_Strict):
    """After the first message: another user message, or an approver's decision."""

    ask: str | None = None
    decide: DecisionSpec | None = None
    tick_hours: float | None = None  # move the clock forward, then run the workflow sweep


class Expect(_Strict):
    status: Literal["answered", "waiting_for_approval", "failed"] | None = None
    decisions: list[Literal["allow", "deny", "needs_approval"]] | None = None
    executed_writes: int | None = None
    answer_contains: list[str] = Field(default_factory=list)
    answer_lacks: list[str] = Field(default_factory=list)
    citations: list[str] | None = None  # titles of the answer's citations, in order
    tool_results_contain: list[str] = Field(default_factory=list)
    approval_status: list[str] | None = None
    approvers: list[list[str]] | None = None  # first-stage approvers of each approval, in order
    tainted_approvals: bool | None = None
    crm: dict[str, dict[str, str]] = Field(default_factory=dict)  # "deals/30001": {stage: closedwon}
    error_contains: str | None = None
    follow_up_rows: dict[str, int] = Field(default_factory=dict)  # request kind -> rows written
    audit_events: list[str] = Field(default_factory=list)  # events that must be in the thread's trail


class Case(_Strict):
    name: str
    description: str = ""
    user: str
    message: str
    turns: list[TurnSpec]
    steps: list[StepSpec] = Field(default_factory=list)
    expect: Expect
    tags: list[str] = Field(default_factory=list)


@dataclass
class CaseResult:
    case: Case
    ok: bool
    failures: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    executed: int = 0


def load_cases(paths: Iterable[Path] | None = None) -> list[Case]:
    files = sorted(paths) if paths is not None else sorted(CASES_DIR.glob("*.yaml"))
    cases: list[Case] = []
    for f in files:
        raw = yaml.safe_load(f.read_text(encoding="utf-8")) or []
        for i, item in enumerate(raw):
            try:
                cases.append(Case.model_validate(item))
            except Exception as exc:
                raise ValueError(f"{f}: case #{i} ({item.get('name', '?')}): {exc}") from exc
    return cases


def _turn(spec: TurnSpec) -> Any:
    from agent.models.scripted import tool_turn

    if spec.cite_passages or spec.fake_citation:

        def cite(messages: list[BaseMessage]) -> AIMessage:
            last = next((m for m in reversed(messages) if isinstance(m, ToolMessage)), None)
            passages = (last.artifact or {}).get("passages", []) if last is not None else []
            marks = " ".join(p["cite_as"] for p in passages[: spec.cite_passages])
            fake = f" {spec.fake_citation}" if spec.fake_citation else ""
            return text_turn(f"{spec.text or ''} {marks}{fake}".strip())

        return cite
    if spec.echo_last_tool:

        def echo(messages: list[BaseMessage]) -> AIMessage:
            last = next((m for m in reversed(messages) if isinstance(m, ToolMessage)), None)
            return text_turn(str(last.content) if last else "")

        return echo
    if spec.calls or spec.tool:
        calls = spec.calls or [ToolCallSpec(tool=spec.tool or "", args=spec.args)]
        msg = tool_turn(calls[0].tool, calls[0].args, text=spec.text or "")
        for c in calls[1:]:
            extra = tool_turn(c.tool, c.args)
            msg.tool_calls.extend(extra.tool_calls)
        return msg
    return text_turn(spec.text or "")


RegistryFactory = Callable[[Path], tuple[ToolRegistry, dict[str, Any]]]


@functools.cache
def demo_warehouse_file() -> Path:
    """The demo warehouse, generated once per process (deterministic: seed 7) and shared read-only."""
    from connectors.demo.warehouse_gen import generate_warehouse
    from policies.directory import Directory

    folder = Path(tempfile.mkdtemp(prefix="chamberlain-eval-warehouse-"))
    atexit.register(shutil.rmtree, folder, True)
    generate_warehouse(folder / "warehouse.db", people=Directory.load())
    return folder / "warehouse.db"


@functools.cache
def demo_knowledge_dir() -> Path:
    """The demo handbook, ingested once per process with the real MiniLM embedder."""
    from connectors.demo.handbook import materialize
    from connectors.knowledge import KnowledgeIndex

    folder = Path(tempfile.mkdtemp(prefix="chamberlain-eval-knowledge-"))
    atexit.register(shutil.rmtree, folder, True)
    KnowledgeIndex.open(folder / "index").ingest(materialize(folder / "handbook"))
    return folder / "index"


def default_registry(workdir: Path) -> tuple[ToolRegistry, dict[str, Any]]:
    """Every tool family on embedded, seeded demo data; returns (registry, handles)."""
    from agent.workflows.service import TravellingClock, attach
    from connectors.crm import InMemoryCrm
    from connectors.knowledge import KnowledgeIndex
    from connectors.outbox import RecordingOutbox
    from connectors.warehouse import SqlWarehouse
    from tools.analytics import analytics_tools
    from tools.crm import crm_tools
    from tools.documents import document_tools
    from tools.messaging import messaging_tools
    from tools.requests import request_tools

    crm = InMemoryCrm.seeded()
    clock = TravellingClock()
    handles: dict[str, Any] = {"crm": crm, "clock": clock}
    # Business requests run on the runtime's approval store, so the service is bound once it exists.
    handles["bind_runtime"] = lambda rt, settings: handles.update(workflows=attach(rt, settings, crm=crm, clock=clock))
    warehouse = SqlWarehouse(f"sqlite:///{demo_warehouse_file()}")
    handles["closers"] = [warehouse.close]
    knowledge = KnowledgeIndex.open(demo_knowledge_dir())
    tools = [
        *crm_tools(crm),
        *analytics_tools(warehouse),
        *document_tools(knowledge),
        *messaging_tools(handles.setdefault("outbox", RecordingOutbox())),
        *request_tools(lambda: handles["workflows"]),
    ]
    return ToolRegistry(tools), handles


def scripted_turns(case: Case) -> list[Any]:
    """The case's scripted model turns (what a fake server plays to run the case over a wire)."""
    return [_turn(t) for t in case.turns]


def run_case(
    case: Case,
    workdir: Path,
    registry_factory: RegistryFactory = default_registry,
    *,
    model_settings: dict[str, Any] | None = None,
) -> CaseResult:
    """Play ``case``. ``model_settings`` (e.g. ``{"model_provider": "openai", "model_base_url": …}``):
    the model configured by those settings answers instead of the case's scripted turns."""
    registry, handles = registry_factory(workdir)
    model = ScriptedChatModel.from_turns([_turn(t) for t in case.turns]) if model_settings is None else None
    settings = Settings(data_dir=workdir, **(model_settings or {}))
    failures: list[str] = []
    with build_runtime(settings, registry=registry, chat_model=model) as rt:
        if "bind_runtime" in handles:
            handles["bind_runtime"](rt, settings)
        thread = f"eval:{case.name}"
        out = rt.ask(case.user, case.message, thread_id=thread)
        for step in case.steps:
            if step.ask is not None:
                out = rt.ask(case.user, step.ask, thread_id=thread)
            elif step.decide is not None:
                d = step.decide
                pending = [r for r in rt.approvals.list(thread_id=thread) if r.status == "pending"]
                pending.sort(key=lambda r: r.created_at)
                if d.which >= len(pending):
                    failures.append(f"no pending approval #{d.which} to decide")
                    continue
                res = rt.decide(pending[d.which].id, approver_id=d.by, approve=d.approve, reason=d.reason)
                if res.accepted != d.accepted:
                    failures.append(f"decision by {d.by}: accepted={res.accepted} ({res.message})")
                if res.final and pending[d.which].thread_id == thread:
                    out = rt.thread_outcome(thread)  # the requester's channel, not the decision
            elif step.tick_hours is not None:
                handles["clock"].advance(timedelta(hours=step.tick_hours))
                handles["workflows"].tick()
        failures += _check(case, rt, thread, out, handles)
        decisions = [
            e.data.get("decision", "") for e in rt.audit.entries(thread_id=thread) if e.event == "policy_decision"
        ]
        executed = sum(1 for e in rt.audit.entries(thread_id=thread) if e.event == "write_executed")
        if not rt.audit.verify().ok:
            failures.append("audit chain broken")
    for close in handles.get("closers", []):
        close()
    return CaseResult(case, not failures, failures, decisions, executed)


def _check(case: Case, rt: Chamberlain, thread: str, out: Any, handles: dict[str, Any]) -> list[str]:
    exp = case.expect
    f: list[str] = []
    if exp.status and out.status != exp.status:
        f.append(f"status {out.status!r} != {exp.status!r}")
    entries = list(rt.audit.entries(thread_id=thread))
    decisions = [e.data.get("decision") for e in entries if e.event == "policy_decision"]
    if exp.decisions is not None and decisions != exp.decisions:
        f.append(f"decisions {decisions} != {exp.decisions}")
    executed = sum(1 for e in entries if e.event == "write_executed")
    if exp.executed_writes is not None and executed != exp.executed_writes:
        f.append(f"executed writes {executed} != {exp.executed_writes}")
    text = out.answer.text if out.answer else ""
    for s in exp.answer_contains:
        if s not in text:
            f.append(f"answer lacks {s!r}: {text[:200]!r}")
    for s in exp.answer_lacks:
        if s in text:
            f.append(f"answer contains {s!r}")
    if exp.citations is not None:
        got = [c.title for c in (out.answer.citations if out.answer else ())]
        if got != exp.citations:
            f.append(f"citations {got} != {exp.citations}")
    tool_texts = "\n".join(str(m.content) for m in rt.history(thread) if isinstance(m, ToolMessage))
    for s in exp.tool_results_contain:
        if s not in tool_texts:
            f.append(f"no tool result contains {s!r}")
    approvals = sorted(rt.approvals.list(thread_id=thread), key=lambda r: r.created_at)
    if exp.approval_status is not None and [a.status for a in approvals] != exp.approval_status:
        f.append(f"approval statuses {[a.status for a in approvals]} != {exp.approval_status}")
    if exp.approvers is not None:
        got = [list(a.stages[0].approvers) if a.stages else [] for a in approvals]
        if got != exp.approvers:
            f.append(f"approvers {got} != {exp.approvers}")
    if exp.tainted_approvals is not None:
        tainted = any(a.untrusted_sources for a in approvals)
        if tainted != exp.tainted_approvals:
            f.append(f"approval taint {tainted} != {exp.tainted_approvals}")
    if exp.error_contains and (out.error is None or exp.error_contains not in out.error.message):
        f.append(f"error lacks {exp.error_contains!r}: {out.error}")
    for kind, n in exp.follow_up_rows.items():
        rows = [r for r in handles["workflows"].follow_up_rows(kind) if r["approval_id"] in {a.id for a in approvals}]
        if len(rows) != n:
            f.append(f"{kind} follow-up rows {len(rows)} != {n}")
    events = {e.event for e in entries}
    f.extend(f"audit trail lacks {e!r}" for e in exp.audit_events if e not in events)
    crm = handles.get("crm")
    for ref, props in exp.crm.items():
        obj, rid = ref.split("/", 1)
        assert crm is not None, "crm expectations need the CRM handle"
        values = crm.fetch(obj, rid).values()  # neutral field names, whichever CRM
        for k, v in props.items():
            if str(values.get(k)) != str(v):
                f.append(f"crm {ref}.{k} = {values.get(k)!r}, expected {v!r}")
    return f


def run_all(
    cases: Sequence[Case],
    *,
    progress: Callable[[CaseResult], None] | None = None,
    model_settings: dict[str, Any] | None = None,
) -> list[CaseResult]:
    results = []
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="chamberlain-eval-") as d:
            try:
                res = run_case(case, Path(d), model_settings=model_settings)
            except Exception as exc:  # an eval harness reports, it does not stop at the first crash
                res = CaseResult(case, False, [f"crashed: {type(exc).__name__}: {exc}"])
        results.append(res)
        if progress:
            progress(res)
    return results


__all__ = ["Case", "CaseResult", "default_registry", "load_cases", "run_all", "run_case", "scripted_turns"]
