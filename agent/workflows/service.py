"""Business request workflows: what each request kind is, routes to and does once approved.

An employee's request (expense, purchase, time off, deal discount, access; see
``policies/requests.py``) is routed by the YAML policy (``policies/routing/``, approvers by
``policies/approvers.py``) and runs on the one approval lifecycle (``agent/approvals.py``) the
agent's writes use: the same proposal, decision, claim and executor. This module contributes
what is specific to requests: :meth:`WorkflowService.prepare` (validate, check the requester's
rights, detect split requests, flag untrusted content, route) and each kind's follow-up as an
effect (:class:`FollowUp`, ``agent/workflows/effects.py``) that the lifecycle's executor runs
exactly once. Beside it: what approvers see (``texts.py``), the SLA sweep (``sla.py``), the
statistics (``stats.py``)::

    svc = WorkflowService(store, audit, directory, policy, notifier, crm=crm)
    sub = svc.submit("u_alice", {"kind": "expense", "amount": 840, ...}, thread_id="t1")
    rt.decide(sub.record.id, approver_id="u_raj", approve=True)    # stage 1 (manager)
    rt.decide(sub.record.id, approver_id="u_finn", approve=True)   # stage 2 → the executor runs it
    svc.tick()   # expiry, reminders after the stage SLA, escalation after twice the SLA
    svc.stats()  # volume by kind, auto-approval rate, time to decision, overdue

Lifecycle: ``pending`` (in review; ``current_stage`` says which stage) → ``approved`` →
``executing`` → ``executed`` | ``failed`` (retryable by an operator); or ``rejected`` /
``expired`` / ``withdrawn`` / ``stale`` (the target changed: routed again). Follow-up rows are
unique per request and CRM calls carry the request's idempotency key, so a retry finds what the
first attempt wrote.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import Engine

from agent.approvals import Lifecycle, Proposal, Taint
from agent.notify import Notifier, NullNotifier
from agent.views import approval_view
from agent.workflows.effects import FOLLOW_UPS, FollowUp, follow_up
from agent.workflows.sla import TickReport, business, stage_sla, tick
from agent.workflows.stats import Stats, TravellingClock, compute_stats, percentile
from agent.workflows.texts import (
    CENT,
    FREE_TEXT,
    current_values,
    proposed_values,
    quoted_fields,
    route_shape,
    summary,
    title,
    totals_text,
)
from connectors.appdb import ApprovalRecord, ApprovalStore, AuditLog, StageSpec
from connectors.appdb.approvals import AGENT_KIND, DEFAULT_TTL
from connectors.appdb.follow_ups import (
    FollowUpStore,
    access_grants,
    discount_applications,
    ledger_entries,
    purchase_orders,
    time_off,
)
from connectors.crm.model import Deal
from policies.access import AccessPolicy, may_change_deal
from policies.directory import Directory
from policies.errors import NotPermitted
from policies.requests import AnyRequest, DiscountRequest, parse_request
from policies.routing import AGGREGATED_FACTS, Flag, RouteDecision, RoutingPolicy

Clock = Callable[[], dt.datetime]

# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Submission:
    record: ApprovalRecord
    decision: RouteDecision
    created: bool = True  # False: the same request was already submitted (same dedupe key)


# --------------------------------------------------------------------------------------------
# The service


class WorkflowService:
    """Files business requests on the one approval lifecycle (agent/approvals.py) and provides
    the follow-up of each kind as an effect that lifecycle runs once a request is approved.

    ``clock`` defaults to the store's clock: stage timers and expiry are stored by the store, so
    SLA checks must read the same time.
    """

    def __init__(
        self,
        store: ApprovalStore,
        audit: AuditLog,
        directory: Directory,
        policy: RoutingPolicy,
        notifier: Notifier | None = None,
        *,
        crm: Any = None,
        access: AccessPolicy | None = None,
        lifecycle: Lifecycle | None = None,
        clock: Clock | None = None,
        ttl: dt.timedelta = DEFAULT_TTL,
        default_sla: dt.timedelta = dt.timedelta(hours=48),
    ) -> None:
        self.store = store
        self.audit = audit
        self.directory = directory
        self.policy = policy
        self.notifier: Notifier = notifier or NullNotifier()
        self.crm = crm
        self.access = access or AccessPolicy.load()
        self.lifecycle = lifecycle or Lifecycle(store, audit, directory, self.notifier)
        self._clock = clock
        self.ttl = ttl
        self.default_sla = default_sla
        self.engine: Engine = store.engine
        self.follow_ups = FollowUpStore(self.engine)
        for kind, action in FOLLOW_UPS.items():
            self.lifecycle.register(action, FollowUp(self, kind))

    def now(self) -> dt.datetime:
        return (self._clock or self.store.clock)()

    # -- propose ---------------------------------------------------------------------------

    def validate(self, request: BaseModel | Mapping[str, Any]) -> AnyRequest:
        """The request as its pydantic model (``pydantic.ValidationError`` if invalid); a
        discount's deal amount is read from the CRM (``RecordNotFound`` for an unknown deal)."""
        req = parse_request(request.model_dump() if isinstance(request, BaseModel) else dict(request))
        if isinstance(req, DiscountRequest) and self.crm is not None:
            # The CRM is the source of truth for the deal's size (it decides whether Finance
            # must approve), whatever amount the request claimed.
            deal = self._deal(req.deal_id)
            amount = deal.amount
            req = req.model_copy(update={"deal_amount": amount.quantize(CENT) if amount is not None else None})
        return req

    def route(self, request: AnyRequest, requester_id: str) -> RouteDecision:
        return self.policy.route(request, self.directory.get(requester_id), self.directory, today=self.now().date())

    def prepare(
        self,
        requester_id: str,
        request: BaseModel | Mapping[str, Any],
        *,
        thread_id: str | None = None,
        dedupe_key: str | None = None,
        taint: Taint | None = None,
        extra_flags: Sequence[Flag] = (),
    ) -> tuple[Proposal, RouteDecision]:
        """Validate and route a request into a :class:`Proposal`, storing nothing.

        The route sees everything that makes a request exceptional: untrusted content it was
        built from, the requester's related requests of the period (split requests), a
        re-route after its target changed. Each is a flag, and flags block auto-approval.

        Raises ``UnknownPrincipal``, ``pydantic.ValidationError`` (a ``ValueError``),
        ``UnsupportedCurrency`` / ``RoutingError`` (``PolicyError``), ``NotPermitted`` (a
        discount on a deal the requester may not change), ``RecordNotFound`` (a deal)."""
        requester = self.directory.get(requester_id)
        req = self.validate(request)
        taint = taint or Taint()
        target_version = None
        if isinstance(req, DiscountRequest):
            target_version = self._check_deal_rights(requester_id, req.deal_id).version
        flags: list[Flag] = list(extra_flags)
        if taint.tainted:
            where = ", ".join(taint.sources) or "untrusted content"
            flags.append(
                Flag(
                    code="untrusted_content",
                    message=f"built while the assistant held untrusted content ({where}); a person must check it",
                )
            )
        today = self.now().date()
        alone = self.policy.route(req, requester, self.directory, today=today, extra_flags=flags)
        related, totals = self._related(requester_id, req, today)
        decision = alone
        if related:
            whole = self.policy.route(req, requester, self.directory, today=today, totals=totals, extra_flags=flags)
            if route_shape(whole) != route_shape(alone):
                ids = ", ".join(r.id for r in related)
                split = Flag(
                    code="split_request",
                    message=(
                        f"together with {len(related)} recent {req.kind} request(s) by the same person ({ids}) "
                        f"this is over the limit for one request: {totals_text(totals)} in "
                        f"{self.policy.auto_approve_period_days} days"
                    ),
                )
                decision = self.policy.route(
                    req, requester, self.directory, today=today, totals=totals, extra_flags=[*flags, split]
                )
        args = req.model_dump(mode="json")
        auto_rules = [r.id for r in decision.fired if "auto-approve" in r.effect]
        proposal = Proposal(
            dedupe_key=dedupe_key or f"request:{uuid.uuid4().hex}",
            kind=req.kind,
            requester_id=requester_id,
            action=FOLLOW_UPS[req.kind],
            args=args,
            title=title(req),
            summary=summary(req, decision),
            reason=(
                f"auto-approved by {', '.join(auto_rules)}"
                if decision.auto_approved
                else "; ".join(f"{s.name}: {s.reason}" for s in decision.stages)
            ),
            stages=tuple(StageSpec(s.name, tuple(s.approvers), s.mode, s.reason) for s in decision.stages),
            thread_id=thread_id,
            target_version=target_version,
            current=current_values(req),
            proposed=proposed_values(req),
            flags=tuple(f"{f.code}: {f.message}" for f in decision.flags),
            taint=taint,
            request={
                "request": args,
                "route": decision.model_dump(mode="json"),
                "related": [r.id for r in related],
                "quoted": quoted_fields(req, taint),
            },
            ttl=self.ttl,
            auto_approved_by=f"policy:{','.join(auto_rules)}" if decision.auto_approved else None,
        )
        return proposal, decision

    def submit(
        self,
        requester_id: str,
        request: BaseModel | Mapping[str, Any],
        *,
        thread_id: str | None = None,
        dedupe_key: str | None = None,
        taint: Taint | None = None,
    ) -> Submission:
        """Propose a request on the lifecycle; an auto-approved one is executed now (by the same
        executor as every other approved action). Raises what :meth:`prepare` raises."""
        proposal, decision = self.prepare(
            requester_id, request, thread_id=thread_id, dedupe_key=dedupe_key, taint=taint
        )
        rec, created = self.lifecycle.propose(proposal)
        if not created:
            return Submission(rec, decision, created=False)
        self.audit_submitted(rec, decision)
        if rec.status == "approved":
            rec = self.lifecycle.execute(rec.id).record
        return Submission(rec, decision, created=True)

    def audit_submitted(self, rec: ApprovalRecord, decision: RouteDecision) -> None:
        self.audit.append(
            "request_submitted",
            actor=rec.requester_id,
            thread_id=rec.thread_id,
            approval_id=rec.id,
            data={
                "kind": rec.kind,
                "policy_version": decision.policy_version,
                "rules_fired": [r.id for r in decision.fired],
                "flags": decision.flag_codes(),
                "stages": [{"name": s.name, "approvers": list(s.approvers)} for s in decision.stages],
                "auto_approved": decision.auto_approved,
                "default_route": decision.default_route_used,
            },
        )
        if decision.auto_approved:
            self.audit.append(
                "request_auto_approved",
                actor=rec.decided_by or "policy",
                thread_id=rec.thread_id,
                approval_id=rec.id,
                data={"rules": [r.id for r in decision.fired if "auto-approve" in r.effect]},
            )

    def _related(
        self, requester_id: str, req: AnyRequest, today: dt.date
    ) -> tuple[list[ApprovalRecord], dict[str, Any]]:
        """The requester's requests of this kind in the policy's period that still count (not
        rejected, withdrawn, expired or stale), and the facts summed over them plus this one."""
        since = self.now() - dt.timedelta(days=self.policy.auto_approve_period_days)
        recs = [
            r
            for r in self.store.list(requester_id=requester_id, kind=req.kind, limit=500)
            if r.created_at >= since and r.status not in ("rejected", "withdrawn", "expired", "stale")
        ]
        if isinstance(req, DiscountRequest):
            recs = [r for r in recs if str(r.args.get("deal_id")) == req.deal_id]
        names = [n for n, kinds in AGGREGATED_FACTS.items() if req.kind in kinds]
        if not recs or not names:
            return [], {}
        requester = self.directory.get(requester_id)
        totals = {n: v for n, v in self.policy.facts(req, requester, today=today).items() if n in names}
        for r in recs:
            facts = ((r.request or {}).get("route") or {}).get("facts") or {}
            for n in names:
                if n in totals and facts.get(n) is not None:
                    totals[n] = totals[n] + type(totals[n])(str(facts[n]))
        return recs, totals

    # -- execution-time rules of a discount's target ------------------------------------------

    def _deal(self, deal_id: str) -> Deal:
        if self.crm is None:
            raise NotPermitted("no CRM is configured, so a discount cannot be checked or applied")
        return cast(Deal, self.crm.fetch("deals", deal_id))

    def _check_deal_rights(self, requester_id: str, deal_id: str) -> Deal:
        """The deal as read now; ``NotPermitted`` unless the requester may change it (access.yaml
        roles, and the deal's owner or someone above them)."""
        deal = self._deal(deal_id)
        owner_id = None
        crm_owner = deal.owner_id
        if crm_owner:
            owner = next((o for o in self.crm.owners() if o.id == crm_owner), None)
            person = self.directory.by_email(owner.email) if owner and owner.email else None
            owner_id = person.id if person else None
        why = may_change_deal(self.directory.get(requester_id), owner_id, self.access, self.directory)
        if why:
            raise NotPermitted(f"a discount on deal {deal_id} cannot be requested: {why}")
        return deal

    # -- follow-ups (the effects of approved requests) -------------------------------------------

    def follow_up_rows(self, kind: str, approval_id: str | None = None) -> list[dict[str, Any]]:
        """Rows a kind's follow-up wrote (all, or one request's)."""
        return self.follow_ups.rows(kind, approval_id)

    # -- requester actions -------------------------------------------------------------------

    def withdraw(self, approval_id: str, *, by: str, reason: str | None = None) -> ApprovalRecord | None:
        """The requester takes a pending request back (``PermissionError`` for anyone else);
        None when it is no longer pending."""
        rec = self.store.withdraw(approval_id, by=by, reason=reason)
        if rec is None:
            return None
        self.audit.append(
            "request_withdrawn", actor=by, thread_id=rec.thread_id, approval_id=rec.id, data={"reason": reason}
        )
        self.notifier.approval_decided(approval_view(rec, self.directory))
        return rec

    def my_requests(self, requester_id: str, status: str | None = None, limit: int = 50) -> list[ApprovalRecord]:
        recs = self.store.list(requester_id=requester_id, status=status, limit=limit * 2)
        return [r for r in recs if r.kind != AGENT_KIND][:limit]

    # -- the sweep -------------------------------------------------------------------------

    # -- the sweep (agent/workflows/sla.py) and stats (agent/workflows/stats.py) ------------

    def stage_sla(self, rec: ApprovalRecord) -> dt.timedelta:
        """The current stage's SLA from the route stored with the request (policy default else);
        an agent write's from ``write_sla`` in the access policy, by tool and stake."""
        return stage_sla(self, rec)

    def tick(self) -> TickReport:
        """Expire requests past their deadline, remind approvers once a stage has waited its SLA,
        escalate to the next level after twice the SLA, and finish follow-ups left behind (a
        crash between approval and follow-up). Every action is audited and notified; running
        it concurrently or repeatedly does each action once."""
        return tick(self)

    def stats(self, since: dt.datetime | None = None) -> Stats:
        """Volume by kind, auto-approval rate, time to a person's decision (p50/p90), overdue."""
        recs = business(self.store.stats_rows(since))
        return compute_stats(recs, since=since, now=self.now(), stage_sla=self.stage_sla)

    # -- follow-ups (agent/workflows/effects.py) --------------------------------------------

    def _follow_up(self, rec: ApprovalRecord) -> dict[str, Any]:
        return follow_up(self, rec)


# --------------------------------------------------------------------------------------------
# Wiring


def attach(
    runtime: Any, settings: Any, *, crm: Any = None, clock: Clock | None = None, policy: RoutingPolicy | None = None
) -> WorkflowService:
    """Build the service on a runtime's store, audit log, directory, notifier and lifecycle (the
    request kinds' follow-ups become effects of the runtime's one executor). ``clock`` (evals)
    replaces the store's clock too, so stage timers and SLA checks agree."""
    from policies.routing import DEFAULT_POLICY

    if clock is not None:
        runtime.approvals.use_clock(clock)
    if policy is None:
        policy = RoutingPolicy.load(settings.routing_policy_path or DEFAULT_POLICY, directory=runtime.directory)
    return WorkflowService(
        runtime.approvals,
        runtime.audit,
        runtime.directory,
        policy,
        runtime.deps.notifier,
        crm=crm,
        access=runtime.deps.access,
        lifecycle=runtime.lifecycle,
    )


__all__ = [
    "FOLLOW_UPS",
    "FREE_TEXT",
    "FollowUp",
    "Stats",
    "Submission",
    "TickReport",
    "TravellingClock",
    "WorkflowService",
    "access_grants",
    "attach",
    "discount_applications",
    "ledger_entries",
    "percentile",
    "purchase_orders",
    "quoted_fields",
    "time_off",
]
