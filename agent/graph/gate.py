"""The ``gate`` node: decide every proposed tool call (policy, budgets, arguments, egress and
provenance) and propose each write needing a person on the approval lifecycle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.runtime import Runtime
from pydantic import ValidationError

from agent.approvals import Proposal, Taint
from agent.batches import group_turn_writes
from agent.graph import step_writes
from agent.graph.deps import Deps
from agent.graph.execute import run_gated
from agent.graph.provenance import sensitive_check, vouched_texts
from agent.graph.state import AgentState, GatedCall, principal_of
from agent.graph.tool_menu import meta_tools, tool_named
from agent.observability.telemetry import traced_gate
from connectors.appdb import ApprovalRecord, StageSpec
from connectors.appdb.approvals import AGENT_KIND
from connectors.errors import ConnectorError
from policies.access import Decision, approval_route, decide_call
from policies.directory import Principal
from policies.errors import PolicyError
from policies.injection import score as injection_score
from policies.stages import second_approver_stage
from policies.taint import Provenance, TaintState, egress_check, extract_destinations, trace_arguments
from tools.base import Effect, Tool, ToolContext
from tools.errors import NeedsInformation, ToolFailure, ToolInputError


def gate(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Decide every proposed call; when none needs a person, run them in this same step."""
    decided = _decide(state, runtime)
    gated = decided["gated"]
    if any(g["decision"] == "needs_approval" for g in gated):
        return decided
    # Every call is allowed (reads) or denied: run them now, no checkpoint between.
    return run_gated({**state, "gated": gated}, runtime.context)


@traced_gate
def _decide(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    principal = principal_of(state, deps)
    ai = state["messages"][-1]
    assert isinstance(ai, AIMessage)
    thread_id = state.get("thread_id", "")
    gated: list[GatedCall] = []
    budget_left = deps.limits.max_tool_calls - state.get("tool_calls", 0)
    user_texts = [m.content for m in state["messages"] if isinstance(m, HumanMessage) and isinstance(m.content, str)]
    writes = 0
    # Two or more writes in one turn: one card for the approvers, decided per item (issue #14).
    group_turn_writes(
        deps.approvals.engine,
        thread_id,
        ai.tool_calls,
        lambda name: (t := deps.registry.get(name)) is not None and t.effect is Effect.WRITE,
        deps.limits.max_writes_per_turn,
    )
    for i, call in enumerate(ai.tool_calls):
        g: GatedCall = {"id": call["id"] or f"call_{i}", "name": call["name"], "args": dict(call["args"])}
        tool = tool_named(deps, call["name"])
        if call["name"] in meta_tools() and deps.registry.get(call["name"]) is None:
            # Built in: they show the asker's own tools and the rest of a result already read.
            decision = Decision.allow("built-in tool")
        else:
            decision = decide_call(principal, call["name"], tool.effect.value if tool else None, deps.access)
        if tool is not None and tool.effect is Effect.WRITE:
            writes += 1
            if writes > deps.limits.max_writes_per_turn:  # approvers should not face a flood of cards
                decision = decision.deny(
                    f"at most {deps.limits.max_writes_per_turn} changes can be proposed at once; "
                    "propose the rest after these are decided"
                )
        if i >= budget_left:
            decision = decision.deny(
                f"tool-call budget of {deps.limits.max_tool_calls} per request is spent; answer with what you have"
            )
        if decision.kind != "deny" and tool is not None:
            try:
                args = tool.parse_args(call["args"])
            except ValidationError as exc:
                decision = decision.deny(f"invalid arguments for {tool.name}: {_validation_text(exc)}")
            else:
                g["args"] = args.model_dump(mode="json")
                if tool.effect is Effect.WRITE and state.get("untrusted_sources"):
                    # Destinations in trusted system data or a record the asker named count as named.
                    vouched = [*user_texts, *vouched_texts(state["messages"], tool)]
                    refusal = _egress_refusal(g["args"], vouched, principal)
                    if refusal:
                        decision = decision.deny(refusal)
                if tool.effect is Effect.WRITE and (tool.sensitive or tool.verbs) and decision.kind != "deny":
                    check = sensitive_check(tool, g["args"], state["messages"])
                    if (check.suspect or check.not_asked) and check.mode == "deny":
                        decision = decision.deny(check.denial)
                    elif check.suspect or check.not_asked:
                        g["provenance"] = [*check.labels, *([check.not_asked] if check.not_asked else [])]
                        g["suspect"], g["not_asked"] = bool(check.suspect), bool(check.not_asked)
                        g["second_approver"] = check.mode == "second_approver"
                    g["provenance_notes"] = list(check.notes)  # computed / picked values: shown, not flagged
        g["decision"] = decision.kind
        g["reason"] = decision.reason
        if decision.kind == "needs_approval" and tool is not None:
            try:
                rec, waits = _request_approval(deps, principal, tool, g, state, thread_id, user_texts)
            except NeedsInformation as exc:
                g["decision"], g["reason"] = "deny", str(exc)  # our own words: what to ask the user
            except (ToolInputError, ToolFailure) as exc:
                g["decision"], g["reason"] = "deny", f"could not prepare {tool.name}: {exc}"
                g["reason_untrusted"] = True  # the error quotes the remote record
            except PolicyError as exc:
                g["decision"], g["reason"] = "deny", f"{tool.name} refused: {exc}"
            else:
                g["approval_id"] = rec.id
                g["waits"] = waits
        step_writes.log(
            deps.audit,
            "policy_decision",
            actor=principal.id,
            thread_id=thread_id or None,
            approval_id=g.get("approval_id"),
            data={"tool": g["name"], "args": g["args"], "decision": g["decision"], "reason": g["reason"]},
        )
        gated.append(g)
    return {"gated": gated}


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err["loc"]) or "arguments"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _egress_refusal(args: Mapping[str, Any], user_texts: Sequence[str], principal: Principal) -> str | None:
    """While the conversation holds untrusted data, a write may send data only to the asker or
    to destinations the asker named in their own messages."""
    destinations = extract_destinations(args)
    if not destinations:
        return None
    verdict = egress_check(destinations, list(user_texts), asker=[principal.email])
    return None if verdict.allowed else verdict.reason


def taint_of(state: AgentState) -> TaintState:
    """The untrusted content this conversation holds, rebuilt from its tool messages."""
    taint = TaintState()
    for m in state.get("messages", []):
        if isinstance(m, ToolMessage) and isinstance(m.content, str) and "untrusted-data" in m.content:
            taint = taint.add(Provenance(f"{m.name}:{m.tool_call_id}", True), m.content)
    return taint


def _request_approval(
    deps: Deps,
    principal: Principal,
    tool: Tool[Any, Any],
    g: GatedCall,
    state: AgentState,
    thread_id: str,
    user_texts: Sequence[str],
) -> tuple[ApprovalRecord, bool]:
    """Propose one write on the lifecycle; ``(record, the turn waits for it)``."""
    assert tool.plan is not None
    step_writes.flush()  # the lifecycle writes its own audit entries: keep the chain in order
    dedupe_key = f"{thread_id}:{g['id']}"
    existing = deps.approvals.find_by_dedupe_key(dedupe_key)
    if existing is not None:  # the node re-ran after a crash: never a second request
        return existing, existing.kind == AGENT_KIND
    taint = _taint(g["args"], state, user_texts)
    ctx = ToolContext(
        principal=principal,
        thread_id=thread_id,
        artifacts_dir=deps.artifacts_dir,
        extras={"taint": taint, "dedupe_key": dedupe_key},
    )
    try:
        plan = tool.plan(tool.parse_args(g["args"]), ctx)
    except ConnectorError as exc:
        raise ToolFailure(str(exc)) from exc
    if isinstance(plan.proposal, Proposal):  # a business request: routed by its own policy
        rec, created = deps.lifecycle.propose(plan.proposal)
        if created and plan.on_proposed is not None:
            plan.on_proposed(rec)
        g["filed_before"] = not created
        return rec, False
    stages = approval_route(principal, tool.name, plan.facts, deps.access, deps.directory)
    if g.get("second_approver"):
        extra = (second_approver_stage(deps.directory, principal.id, stages),)
        if not extra[0].approvers:
            raise ToolFailure("a second, independent approver is required and the directory has none for you")
        stages = (*stages, *extra)
    provenance = list(g.get("provenance", []))
    shown = [*provenance, *g.get("provenance_notes", [])]
    if shown:  # one line per argument: the provenance label replaces the plain trace
        covered = {label.split(" = ", 1)[0] for label in shown}
        kept = [t for t in taint.fields if t.split("=", 1)[0] not in covered]
        taint = replace(taint, fields=tuple(dict.fromkeys([*shown, *kept])))
    rec, _created = deps.lifecycle.propose(
        Proposal(
            dedupe_key=dedupe_key,
            kind=AGENT_KIND,
            requester_id=principal.id,
            action=tool.name,
            args=g["args"],
            title=tool.name,
            summary=plan.summary,
            reason=stages[0].reason if stages else "every write needs a person's approval",
            stages=tuple(StageSpec(s.name, s.approvers, s.mode, s.reason) for s in stages),
            thread_id=thread_id,
            target_version=plan.target_version,
            current=dict(plan.current),
            proposed=dict(plan.proposed),
            taint=taint,
            flags=tuple(
                (["conversation read untrusted content"] if state.get("untrusted_sources") else [])
                + (["sensitive arguments not supplied by the requester"] if g.get("suspect", bool(provenance)) else [])
                + (["action not asked for by the requester"] if g.get("not_asked") else [])
            ),
            ttl=timedelta(hours=deps.limits.approval_ttl_hours),
        )
    )
    return rec, True


def _taint(args: Mapping[str, Any], state: AgentState, user_texts: Sequence[str]) -> Taint:
    """What a proposal was built from: every untrusted source the conversation read, and each
    argument whose value came from one of them."""
    taint = taint_of(state)
    fields = [
        f"{t.path}={t.value} (from {', '.join(t.sources)})"
        for t in trace_arguments(dict(args), taint, list(user_texts))
    ]
    inj = max((injection_score(f.text).score for f in taint.fragments), default=0.0)
    return Taint(tuple(state.get("untrusted_sources", [])), tuple(fields), inj)
