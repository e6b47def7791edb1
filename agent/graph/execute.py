"""The ``approve`` node (it only waits) and ``execute`` (denials as tool errors, reads now,
approved writes by the lifecycle's one executor, and what each tells the model)."""

from __future__ import annotations

import json
import secrets
from dataclasses import replace
from typing import Any

from langchain_core.messages import ToolMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent.graph import step_writes
from agent.graph.deps import Deps
from agent.graph.state import AgentState, GatedCall, emit, principal_of
from agent.graph.tool_menu import FULL_TEXT_KEY, cut_result, meta_tools, tool_named
from agent.observability.telemetry import traced_tool
from connectors.appdb import ApprovalRecord, payload_hash
from connectors.appdb.approvals import AGENT_KIND
from connectors.errors import ConnectorError
from policies.pii import hidden_kinds, redact_for, redact_obj
from policies.spotlight import wrap_untrusted
from tools.base import Tool, ToolContext, ToolResult
from tools.errors import ToolFailure, ToolInputError


def approve(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    waiting = still_pending(state, deps)
    if not waiting:
        return {}
    names = sorted(
        {deps.directory.get(a).label for rec in waiting for a in rec.approvers_now() if deps.directory.find(a)}
    )
    emit({"type": "progress", "text": f"waiting for approval from {', '.join(names) or 'an approver'}…"})
    emit({"type": "approval_requested", "approval_ids": [r.id for r in waiting]})
    # The decision lives in the app database; the resume value is only a wake-up call.
    interrupt({"approval_ids": [r.id for r in waiting]})
    return {}


def execute(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    return run_gated(state, runtime.context)


def run_gated(state: AgentState, deps: Deps) -> dict[str, Any]:
    """Run the gated calls: denials as tool errors, reads now, approved writes by the executor."""
    principal = principal_of(state, deps)
    thread_id = state.get("thread_id", "")
    out: list[ToolMessage] = []
    sources = list(state.get("untrusted_sources", []))
    for g in state.get("gated", []):
        tool = tool_named(deps, g["name"])
        if g["decision"] == "deny" or tool is None:
            reason = g["reason"]
            if g.get("reason_untrusted"):
                reason = _untrusted(reason, f"{g['name']}:{g['id']}", state, sources)
            out.append(_tool_error(g, f"Denied by policy: {reason}"))
            continue
        ctx = ToolContext(
            principal=principal,
            thread_id=thread_id,
            artifacts_dir=deps.artifacts_dir,
            extras={"turn_id": state.get("turn_id", "")},
        )
        if tool.name in meta_tools() and deps.registry.get(tool.name) is None:
            extras = {
                "registry": deps.registry,
                "allowed": deps.access.tools_for(principal),
                "messages": state["messages"],
            }
            ctx = replace(ctx, extras={**ctx.extras, **extras})
        if g["decision"] == "allow":
            if tool.progress:
                emit({"type": "progress", "text": tool.progress})
            out.append(_run_read(deps, tool, g, ctx, state, sources))
        else:
            out.append(_run_approved(deps, tool, g, ctx, state, sources))
    return {
        "messages": out,
        "gated": [],
        "tool_calls": state.get("tool_calls", 0) + len(state.get("gated", [])),
        "conversation_tool_calls": state.get("conversation_tool_calls", 0) + len(state.get("gated", [])),
        "untrusted_sources": sources,
    }


def still_pending(state: AgentState, deps: Deps) -> list[ApprovalRecord]:
    """Approvals this turn waits for. A business request is filed without waiting: it is
    decided over days, and its follow-up runs through the same executor when it is."""
    recs = [
        deps.approvals.get(g["approval_id"])
        for g in state.get("gated", [])
        if g.get("approval_id") and g.get("waits", True)
    ]
    return [r for r in recs if r.status == "pending"]


def _tool_error(g: GatedCall, text: str) -> ToolMessage:
    return ToolMessage(content=text, tool_call_id=g["id"], name=g["name"], status="error")


def _result_text(result: Any) -> str:
    if isinstance(result, ToolResult):
        return result.for_model()
    if hasattr(result, "model_dump_json"):
        # Unset optional fields say nothing the model needs; the artifact keeps them.
        return str(result.model_dump_json(exclude_none=True))
    return json.dumps(result, default=str)


@traced_tool
def _run_read(
    deps: Deps, tool: Tool[Any, Any], g: GatedCall, ctx: ToolContext, state: AgentState, sources: list[str]
) -> ToolMessage:
    # No flush before a read: a read tool gets no audit log and writes nothing to the app
    # database, so the step's entries (the gate's decisions, then this result) stay in order and
    # commit together when the step ends. Writes run through the lifecycle, which flushes first.
    try:
        result = tool.fn(tool.parse_args(g["args"]), ctx)
    except ToolInputError as exc:
        return _tool_error(g, f"{tool.name} could not run: {exc}. Fix the call and try again.")
    except (ToolFailure, ConnectorError) as exc:
        step_writes.log(
            deps.audit,
            "tool_failed",
            actor=ctx.principal.id,
            thread_id=ctx.thread_id or None,
            data={"tool": tool.name, "error": str(exc)},
        )
        return _tool_error(g, f"{tool.name} failed: {exc}")
    hidden = hidden_kinds(ctx.principal.clearance)
    artifact = redact_obj(_artifact(result), kinds=hidden) if hidden else _artifact(result)
    text = _result_text(result)
    if hidden:
        text = redact_for(ctx.principal.clearance, text)
    step_writes.log(
        deps.audit,
        "tool_result",
        actor=ctx.principal.id,
        thread_id=ctx.thread_id or None,
        data={"tool": tool.name, "chars": len(text)},
    )
    # A long result reaches the model cut, with a handle to read on (read_more); the whole text
    # stays in the checkpointed message, never sent.
    text, note, full = cut_result(text, g["id"])
    if tool.untrusted_output:
        source = f"{tool.family or tool.name}:{g['id']}"
        text = _untrusted(text, source, state, sources)
    meta = {FULL_TEXT_KEY: full} if full is not None else {}
    return ToolMessage(
        content=text + note, tool_call_id=g["id"], name=tool.name, artifact=artifact, response_metadata=meta
    )


def _untrusted(text: str, source: str, state: AgentState, sources: list[str]) -> str:
    """Spotlight ``text`` as data from ``source`` and record that the conversation read it."""
    if source not in sources:
        sources.append(source)
    return wrap_untrusted(text, source=source, boundary=state.get("boundary") or secrets.token_hex(8))


def _artifact(result: Any) -> Any:
    return result.model_dump(mode="json") if hasattr(result, "model_dump") else result


@traced_tool
def _run_approved(
    deps: Deps, tool: Tool[Any, Any], g: GatedCall, ctx: ToolContext, state: AgentState, sources: list[str]
) -> ToolMessage:
    """The outcome of an approval this turn proposed, executed by the one executor (or already
    executed by it when the approver decided)."""
    step_writes.flush()  # the lifecycle writes its own audit entries: keep the chain in order
    rec = deps.approvals.get(g["approval_id"])
    if rec.kind != AGENT_KIND:
        return _request_outcome(deps, tool, g, state, sources, rec)
    who = deps.directory.find(rec.decided_by or "")
    by = who.label if who else (rec.decided_by or "nobody")
    if rec.status == "rejected":
        reason = ""
        if rec.decision_reason:
            # Written by another person: data for the model, never instructions.
            reason = " Reason given: " + _untrusted(rec.decision_reason, f"approver:{rec.decided_by}", state, sources)
        return _tool_error(g, f"{tool.name} was REJECTED by {by}; nothing was changed.{reason}")
    if rec.status in ("expired", "withdrawn", "stale", "pending"):
        why = rec.decision_reason or ""
        if why:
            why = _untrusted(why, f"approval:{rec.id}", state, sources)
        return _tool_error(g, f"{tool.name} was not executed: the approval request is {rec.status}. {why}".strip())
    # The approval binds tool + exact args + the target version it was shown with.
    emit({"type": "progress", "text": tool.progress or f"running {tool.name}…"})
    done = deps.lifecycle.execute(rec.id, payload_hash_now=payload_hash(tool.name, g["args"], rec.target_version))
    if done.outcome == "stale":
        return _tool_error(
            g,
            f"{tool.name} was not executed: the record changed after it was approved. "
            "Re-read it and propose the change again if it is still needed.",
        )
    if done.outcome in ("executed", "failed"):
        return _stored_result(g, tool, state, sources, done.record)
    if done.outcome == "not_yet":
        return _tool_error(g, f"{tool.name} not executed yet; the approval still stands; try again.")
    return _tool_error(g, f"{tool.name} {done.message}.")


def _request_outcome(
    deps: Deps, tool: Tool[Any, Any], g: GatedCall, state: AgentState, sources: list[str], rec: ApprovalRecord
) -> ToolMessage:
    """A business request this turn filed: auto-approved ones run now through the executor;
    the model hears what was filed, and who decides, in the system's own words."""
    if rec.status == "approved":
        rec = deps.lifecycle.execute(rec.id).record
    # The request tool's own function describes what was filed (it files nothing itself).
    principal = deps.directory.get(rec.requester_id)
    body = tool.fn(
        tool.parse_args(g["args"]),
        ToolContext(principal=principal, extras={"approval": rec, "created": not g.get("filed_before")}),
    )
    # System text only: the route, ids and amounts our own follow-up wrote. The request's fields
    # are the model's own arguments; nothing another person wrote is in it.
    text = _result_text(body)
    return ToolMessage(content=text, tool_call_id=g["id"], name=tool.name, artifact=_artifact(body))


def _stored_result(
    g: GatedCall, tool: Tool[Any, Any], state: AgentState, sources: list[str], rec: ApprovalRecord
) -> ToolMessage:
    """The one result of an executed write, whoever ran it. What the remote system returned
    (record names, error texts) was written by others: it reaches the model as data and taints
    the conversation."""
    source = f"{tool.family or tool.name}:{g['id']}"
    if rec.status == "failed":
        err = str((rec.result or {}).get("error", "unknown error"))
        return _tool_error(g, f"{tool.name} was approved but failed: {_untrusted(err, source, state, sources)}")
    text = json.dumps({"status": "executed", "approved_by": rec.decided_by, "result": rec.result}, default=str)
    text = _untrusted(text, source, state, sources)
    return ToolMessage(content=text, tool_call_id=g["id"], name=tool.name, artifact=rec.result)
