"""Routing for people: ``simulate`` (the CLI's dry run) and ``explain`` (a decision in words)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from policies.directory import Directory
from policies.requests import (
    parse_request,
)
from policies.routing.model import RouteDecision
from policies.routing.policy import RoutingPolicy


def simulate(
    payload: Mapping[str, Any], policy: RoutingPolicy, directory: Directory, *, today: dt.date
) -> RouteDecision:
    """Route a request described as JSON, storing nothing (``chamberlain approvals simulate``).

    ``payload``: ``{"requester": "u_alice", "request": {"kind": "expense", ...}}``, optionally
    with ``"today": "2026-11-23"`` to pin the date. Raises ``ValueError`` for a malformed
    payload, ``UnknownPrincipal`` for an unknown requester, ``pydantic.ValidationError`` for an
    invalid request, :class:`UnsupportedCurrency`."""
    if not isinstance(payload, Mapping) or "requester" not in payload or "request" not in payload:
        raise ValueError('expected {"requester": "u_...", "request": {"kind": ..., ...}}')
    request = payload["request"]
    if not isinstance(request, Mapping):
        raise ValueError("'request' must be an object with a 'kind' field")
    when = payload.get("today")
    day = dt.date.fromisoformat(str(when)) if when else today
    requester = directory.get(str(payload["requester"]))
    return policy.route(parse_request(request), requester, directory, today=day)


# --------------------------------------------------------------------------------------------
# Human-readable explanation


def explain(decision: RouteDecision, directory: Directory | None = None) -> str:
    """A multi-line explanation of a decision, for the CLI and for approvers."""

    def who(pid: str) -> str:
        p = directory.find(pid) if directory is not None else None
        return f"{p.name} ({pid})" if p else pid

    lines = [f"{decision.kind} request by {who(decision.requester)} — routing policy {decision.policy_version}"]
    if decision.amount_usd is not None:
        lines.append(f"Amount: ${decision.amount_usd:,.2f}")
    lines.extend(f"  note: {n}" for n in decision.notes)
    if decision.auto_approved:
        lines.append("Decision: AUTO-APPROVED (an auto-approve rule matched, no flags, no stage required)")
    else:
        suffix = " (default route)" if decision.default_route_used else ""
        lines.append(f"Decision: needs approval, {len(decision.stages)} stage(s){suffix}")
        for i, s in enumerate(decision.stages, 1):
            mode = "any one of" if s.mode == "any" else "all of"
            label = " + ".join(s.covers)
            sla = f", SLA {s.sla_hours} h" if s.sla_hours else ""
            esc = " [escalated]" if s.escalated else ""
            lines.append(f"  {i}. {label}{esc}: {mode} {', '.join(who(a) for a in s.approvers)}{sla}")
            lines.append(f"       because {s.reason}")
            lines.extend(f"       note: {n}" for n in s.notes)
    if decision.flags:
        lines.append("Flags:")
        lines.extend(f"  - {f.code}: {f.message}" for f in decision.flags)
    lines.append("Rules fired:" if decision.fired else "Rules fired: none")
    lines.extend(f"  - {r.id}: {r.why} → {r.effect}" for r in decision.fired)
    return "\n".join(lines)
