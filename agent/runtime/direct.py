"""A person's direct tool call (``chamberlain sql run``, and any surface that calls one tool without
the model): the gate's permission check, the graph's audit entries, reads run, writes proposed."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from agent.approvals import Proposal, Taint
from agent.errors import InvalidInput, PermissionDenied
from agent.events import ApprovalView
from agent.graph.deps import Deps
from agent.views import approval_view
from connectors.appdb import StageSpec
from connectors.appdb.approvals import AGENT_KIND
from connectors.errors import ConnectorError
from policies.access import approval_route, decide_call
from policies.stages import second_approver_stage
from tools.base import Effect, ToolContext
from tools.errors import ToolError, ToolInputError

# The gate's denial is written for the model ("tell the user ..."); a person reads only the fact.
_MODEL_HINT = "; tell the user"


@dataclass(frozen=True)
class ToolCallResult:
    """What a direct call did: ``ran`` (a read; ``result`` is the tool's value) or ``proposed``
    (a write; ``approval`` is the request now waiting for its approvers)."""

    status: Literal["ran", "proposed"]
    result: Any = None
    approval: ApprovalView | None = None


def call_tool(
    deps: Deps,
    user_id: str,
    tool_name: str,
    args: Mapping[str, Any],
    *,
    thread_id: str = "",
    artifacts_dir: Path | None = None,
    dedupe_key: str | None = None,
    via: Mapping[str, Any] | None = None,
    taint: Taint | None = None,
    asker_unseen: bool = False,
) -> ToolCallResult:
    """Call ``tool_name`` as ``user_id``. Raises UnknownPrincipal for people not in the directory,
    PermissionDenied when the gate would deny the call, InvalidInput for arguments the tool's
    schema rejects, and the tool's own ToolError or ConnectorError when a read fails; a write
    never runs here, it waits for approval.
    ``artifacts_dir``: where the tool may write its files (CSV, charts); None writes none.
    ``dedupe_key``: a write proposed again with the same key returns the first request (a
    surface whose callers retry, e.g. an MCP client, derives it from the call); None: a new one.
    ``via``: the surface and client that made the call, added to every audit entry it writes.
    ``taint``: what untrusted content the caller had read, when the caller is itself an agent
    (an MCP client's model): a write's request carries it to the card, as the graph's do.
    ``asker_unseen``: the caller is an agent and the person's own words are not visible, so no
    sensitive argument of a write is known to come from them: the tool's rule for such an
    argument applies (``deny`` refuses, ``second_approver`` adds one, ``flag`` labels the card)."""
    principal = deps.directory.get(user_id)
    tool = deps.registry.get(tool_name)
    decision = decide_call(principal, tool_name, tool.effect.value if tool else None, deps.access)
    parsed: Any = None
    invalid = False
    if decision.kind != "deny" and tool is not None:
        try:
            parsed = tool.parse_args(dict(args))
        except ValidationError as exc:
            invalid = True
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "arguments"
            decision = decision.deny(f"invalid arguments for {tool.name}: {where}: {err['msg']}")
    shown_args = parsed.model_dump(mode="json") if parsed is not None else dict(args)
    unproven: list[str] = []
    if asker_unseen and tool is not None and tool.effect is Effect.WRITE and decision.kind != "deny":
        unproven = [a for a in tool.sensitive if shown_args.get(a) not in (None, "", [], {})]
        if unproven and tool.on_untrusted_sensitive == "deny":
            decision = decision.deny(
                f"policy refuses {tool.name} here: its {', '.join(unproven)} must come from the requester, "
                "and this caller cannot show what the requester said; ask through Chamberlain itself"
            )
    deps.audit.append(
        "policy_decision",
        actor=principal.id,
        thread_id=thread_id or None,
        data={
            "tool": tool_name,
            "args": shown_args,
            "decision": decision.kind,
            "reason": decision.reason,
            "direct": True,  # a person's own call, not the model's
            **({"via": dict(via)} if via else {}),
        },
    )
    if invalid:
        raise InvalidInput(decision.reason)
    if decision.kind == "deny" or tool is None:
        raise PermissionDenied(decision.reason.split(_MODEL_HINT, 1)[0])
    ctx = ToolContext(principal=principal, thread_id=thread_id, artifacts_dir=artifacts_dir)
    if tool.effect is Effect.WRITE:
        if unproven:  # on the card, one line per argument, as the graph labels them
            labels = tuple(
                f"{a} = “{shown_args[a]}”: chosen by the calling agent (the requester's own words are not visible)"
                for a in unproven
            )
            base = taint or Taint()
            taint = Taint(base.sources, (*labels, *base.fields), base.injection_score)
        second = bool(unproven) and tool.on_untrusted_sensitive == "second_approver"
        return _propose(deps, tool, shown_args, ctx, dedupe_key=dedupe_key, taint=taint, second_approver=second)
    try:
        result = tool.fn(parsed, ctx)
    except ToolInputError:
        raise  # the caller's own mistake, as in the graph: not a tool failure
    except (ToolError, ConnectorError) as exc:
        deps.audit.append(
            "tool_failed",
            actor=principal.id,
            thread_id=thread_id or None,
            data={"tool": tool.name, "error": str(exc), "direct": True, **({"via": dict(via)} if via else {})},
        )
        raise
    text = result.model_dump_json() if hasattr(result, "model_dump_json") else str(result)
    deps.audit.append(
        "tool_result",
        actor=principal.id,
        thread_id=thread_id or None,
        data={"tool": tool.name, "chars": len(text), "direct": True, **({"via": dict(via)} if via else {})},
    )
    return ToolCallResult("ran", result=result)


def _propose(
    deps: Deps,
    tool: Any,
    args: Mapping[str, Any],
    ctx: ToolContext,
    *,
    dedupe_key: str | None = None,
    taint: Taint | None = None,
    second_approver: bool = False,
) -> ToolCallResult:
    """A write becomes a request on the one lifecycle, routed like the model's, never run here."""
    taint = taint or Taint()
    if tool.plan is None:
        raise PermissionDenied(f"{tool.name} cannot be requested directly; ask Chamberlain instead")
    principal = ctx.principal
    dedupe_key = dedupe_key or f"direct:{principal.id}:{uuid.uuid4().hex[:12]}"
    ctx = ToolContext(
        principal=principal,
        thread_id=ctx.thread_id,
        artifacts_dir=ctx.artifacts_dir,
        # As the gate passes them: a business request routes a tainted one to people itself.
        extras={"dedupe_key": dedupe_key, **({"taint": taint} if taint.tainted else {})},
    )
    plan = tool.plan(tool.parse_args(dict(args)), ctx)
    if isinstance(plan.proposal, Proposal):  # a business request: routed by its own policy
        rec, created = deps.lifecycle.propose(plan.proposal)
        if created and plan.on_proposed is not None:
            plan.on_proposed(rec)
        return ToolCallResult("proposed", approval=approval_view(rec, deps.directory))
    # The graph's wording for the same facts, so every card reads them alike.
    flags = (["conversation read untrusted content"] if taint.sources else []) + (
        ["arguments not supplied by the requester"] if taint.fields else []
    )
    stages = approval_route(principal, tool.name, plan.facts, deps.access, deps.directory)
    if second_approver:
        stages = (*stages, second_approver_stage(deps.directory, principal.id, stages))
        if not stages[-1].approvers:
            raise PermissionDenied("a second, independent approver is required and the directory has none for you")
    rec, _created = deps.lifecycle.propose(
        Proposal(
            dedupe_key=dedupe_key,
            kind=AGENT_KIND,
            requester_id=principal.id,
            action=tool.name,
            args=dict(args),
            title=tool.name,
            summary=plan.summary,
            reason=stages[0].reason if stages else "every write needs a person's approval",
            stages=tuple(StageSpec(s.name, s.approvers, s.mode, s.reason) for s in stages),
            thread_id=ctx.thread_id or None,
            target_version=plan.target_version,
            current=dict(plan.current),
            proposed=dict(plan.proposed),
            taint=taint,
            flags=tuple(flags),
            ttl=timedelta(hours=deps.limits.approval_ttl_hours),
        )
    )
    return ToolCallResult("proposed", approval=approval_view(rec, deps.directory))


__all__ = ["ToolCallResult", "call_tool"]
