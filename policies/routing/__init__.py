"""Approval routing: which people must approve a business request, in which order, and why.

A :class:`RoutingPolicy` is loaded from a versioned YAML file (``policies/routing.yaml`` for the
demo company; its header documents the file format and the semantics). It is pure: no I/O beyond
reading that file, no clock (``today`` is passed in), no database.

    policy = RoutingPolicy.load(DEFAULT_POLICY, directory=directory)   # PolicyFileError if invalid
    decision = policy.route(request, requester, directory, today=date.today())
    decision.model_dump(mode="json")   # what ``simulate --json`` prints
    explain(decision, directory)       # the same, for people
    simulate({"requester": "u_alice", "request": {...}}, policy, directory, today=...)  # CLI
    next_level(stage.approvers, requester, directory, today=...)   # SLA escalation target

Semantics, in short:

1. Every rule whose conditions all hold *fires* (rules are ordered; order only affects how
   ``fired`` and ``flags`` are listed). A fired rule may require stages, add a flag, or say the
   request can be auto-approved.
2. The route is the union of the stages required by every fired rule, in the order the stages
   are declared in the file (manager → … → finance → cfo).
3. Auto-approved only when an auto-approve rule fired, no flag was raised and no fired rule
   requires a stage. Otherwise, if no stage is required, the ``default_route`` applies (flagged).
4. Approvers are resolved by the one approver resolution (``policies/approvers.py``): delegation
   (an away approver is replaced by their delegate) and separation of duties (the requester,
   people who report to the requester and anyone deciding an earlier stage never approve a
   stage; a stage left with nobody goes up the requester's chain, then to the fallback
   approvers). One person decides at most one stage. A stage is never empty.
5. ``totals`` (split requests) and ``extra_flags`` (untrusted content, re-routes) come from the
   caller; every flag blocks auto-approval.
"""

from __future__ import annotations

from policies.approvers import RoutingError, next_level
from policies.routing.approvers import escalate_stage
from policies.routing.explain import explain, simulate
from policies.routing.facts import AGGREGATED_FACTS, FACTS, Rule, StageDef, StageRequirement
from policies.routing.model import (
    DEFAULT_POLICY,
    FiredRule,
    Flag,
    RouteDecision,
    RoutingFileError,
    Stage,
    UnsupportedCurrency,
)
from policies.routing.policy import RoutingPolicy, load_default

__all__ = [
    "AGGREGATED_FACTS",
    "DEFAULT_POLICY",
    "FACTS",
    "FiredRule",
    "Flag",
    "RouteDecision",
    "RoutingError",
    "RoutingFileError",
    "RoutingPolicy",
    "Rule",
    "Stage",
    "StageDef",
    "StageRequirement",
    "UnsupportedCurrency",
    "escalate_stage",
    "explain",
    "load_default",
    "next_level",
    "simulate",
]
