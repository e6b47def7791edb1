"""Business request workflows: what each request kind is, routes to and does once approved.

An employee's request (expense, purchase, time off, deal discount, access; see
``policies/requests.py``) is routed by the YAML policy (``policies/routing/``, approvers by
``policies/approvers.py``) and runs on the one approval lifecycle (``agent/approvals.py``) the
agent's writes use: the same proposal, decision, claim and executor. This module contributes
what is specific to requests: :meth:`WorkflowService.prepare` (validate, check the requester's
rights, detect split requests, flag untrusted content, route) and each kind's follow-up as an
effect (:class:`FollowUp`) that the lifecycle's executor runs exactly once::

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
import math
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import Engine, Table

from agent.approvals import Check, EffectFailed, Lifecycle, Proposal, Taint
from agent.notify import Notifier, NullNotifier
from agent.views import approval_view
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
from connectors.crm.model import Deal, NewNote
from connectors.errors import ConnectorError, ConnectorUnavailable
from policies.access import AccessPolicy, may_change_deal
from policies.approvers import next_level
from policies.directory import Directory
from policies.errors import NotPermitted, PolicyError
from policies.requests import (
    AccessRequest,
    AnyRequest,
    DiscountRequest,
    ExpenseRequest,
    PurchaseRequest,
    TimeOffRequest,
    parse_request,
)
from policies.routing import AGGREGATED_FACTS, Flag, RouteDecision, RoutingPolicy

Clock = Callable[[], dt.datetime]

# The follow-up each kind runs once approved (the approval's ``action``).
FOLLOW_UPS: Mapping[str, str] = {
    "expense": "record_expense",
    "purchase": "create_purchase_order",
    "time_off": "record_time_off",
    "discount": "apply_deal_discount",
    "access": "grant_access",
}
_CENT = Decimal("0.01")

# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Submission:
    record: ApprovalRecord
    decision: RouteDecision
    created: bool = True  # False: the same request was already submitted (same dedupe key)


@dataclass(frozen=True)
class TickReport:
    expired: tuple[str, ...] = ()
    reminded: tuple[str, ...] = ()
    escalated: tuple[str, ...] = ()
    followed_up: tuple[str, ...] = ()  # approved requests whose follow-up ran during the sweep

    def to_json(self) -> dict[str, list[str]]:
        return {k: list(getattr(self, k)) for k in ("expired", "reminded", "escalated", "followed_up")}


@dataclass(frozen=True)
class Stats:
    since: dt.datetime | None
    total: int
    by_kind: Mapping[str, int]
    by_status: Mapping[str, int]
    auto_approved: int
    auto_approval_rate: float | None  # auto-approved / submitted; None with no requests
    decided: int  # decided by people (approved or rejected)
    p50_hours: float | None  # time from submission to a person's final decision
    p90_hours: float | None
    overdue: int  # pending past their current stage's SLA
    overdue_ids: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "total": self.total,
            "by_kind": dict(self.by_kind),
            "by_status": dict(self.by_status),
            "auto_approved": self.auto_approved,
            "auto_approval_rate": self.auto_approval_rate,
            "decided": self.decided,
            "time_to_decision_hours": {"p50": self.p50_hours, "p90": self.p90_hours},
            "overdue": self.overdue,
            "overdue_ids": list(self.overdue_ids),
        }


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


class TravellingClock:
    """A clock that can be moved forward (evals and demos); real time plus an offset."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._base = start
        self._offset = dt.timedelta()
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            base = self._base or dt.datetime.now(dt.UTC)
            return base + self._offset

    def advance(self, delta: dt.timedelta) -> None:
        with self._lock:
            self._offset += delta


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
            req = req.model_copy(update={"deal_amount": amount.quantize(_CENT) if amount is not None else None})
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
            if _route_shape(whole) != _route_shape(alone):
                ids = ", ".join(r.id for r in related)
                split = Flag(
                    code="split_request",
                    message=(
                        f"together with {len(related)} recent {req.kind} request(s) by the same person ({ids}) "
                        f"this is over the limit for one request: {_totals_text(totals)} in "
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
            title=_title(req),
            summary=_summary(req, decision),
            reason=(
                f"auto-approved by {', '.join(auto_rules)}"
                if decision.auto_approved
                else "; ".join(f"{s.name}: {s.reason}" for s in decision.stages)
            ),
            stages=tuple(StageSpec(s.name, tuple(s.approvers), s.mode, s.reason) for s in decision.stages),
            thread_id=thread_id,
            target_version=target_version,
            current=_current(req),
            proposed=_proposed(req),
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

    def _follow_up(self, rec: ApprovalRecord) -> dict[str, Any]:
        req = parse_request(rec.args)
        now = self.now()
        match req:
            case ExpenseRequest():
                amount_usd = self.policy.to_usd(req.amount, req.currency)
                row = self._insert_once(
                    ledger_entries,
                    rec.id,
                    employee_id=rec.requester_id,
                    amount=f"{req.amount:f}",
                    currency=req.currency,
                    amount_usd=f"{amount_usd:f}",
                    category=req.category.value,
                    spent_on=req.date,
                    description=req.description,
                    merchant=req.merchant,
                    has_receipt=int(req.has_receipt),
                    created_at=now,
                )
                return {"table": "ledger_entries", "id": row["id"], "amount_usd": row["amount_usd"]}
            case PurchaseRequest():
                row = self._insert_once(
                    purchase_orders,
                    rec.id,
                    requester_id=rec.requester_id,
                    item=req.item,
                    quantity=req.quantity,
                    unit_price=f"{req.unit_price:f}",
                    currency=req.currency,
                    total=f"{req.total:f}",
                    category=req.category.value,
                    vendor=req.vendor,
                    needed_by=req.needed_by,
                    status="open",
                    created_at=now,
                )
                return {"table": "purchase_orders", "id": row["id"], "po": f"PO-{row['id']:05d}"}
            case TimeOffRequest():
                row = self._insert_once(
                    time_off,
                    rec.id,
                    employee_id=rec.requester_id,
                    start_date=req.start,
                    end_date=req.end,
                    type=req.type.value,
                    business_days=self.policy.business_days(req.start, req.end),
                    created_at=now,
                )
                return {"table": "time_off", "id": row["id"], "business_days": row["business_days"]}
            case AccessRequest():
                expires = None if req.duration_days is None else now.date() + dt.timedelta(days=req.duration_days)
                row = self._insert_once(
                    access_grants,
                    rec.id,
                    principal_id=rec.requester_id,
                    system=req.system,
                    access_level=req.access_level.value,
                    expires_on=expires,
                    created_at=now,
                )
                return {"table": "access_grants", "id": row["id"], "expires_on": str(row["expires_on"] or "")}
            case DiscountRequest():
                return self._apply_discount(rec, req, now)
        raise AssertionError(rec.kind)  # pragma: no cover - every kind has a follow-up

    def _apply_discount(self, rec: ApprovalRecord, req: DiscountRequest, now: dt.datetime) -> dict[str, Any]:
        if self.crm is None:
            raise ValueError("no CRM is configured, so the discount cannot be applied to the deal")
        # The amount it was approved on: the lifecycle checked the deal has not changed since.
        before = req.deal_amount
        if before is None:
            amount = self.crm.fetch("deals", req.deal_id).amount
            if amount is None:
                raise ValueError(f"deal {req.deal_id} has no amount to discount")
            before = amount
        after = (before * (100 - req.discount_percent) / 100).quantize(_CENT, rounding=ROUND_HALF_UP)
        row = self._insert_once(
            discount_applications,
            rec.id,
            deal_id=req.deal_id,
            discount_percent=f"{req.discount_percent:f}",
            amount_before=f"{before:f}",
            amount_after=f"{after:f}",
            created_at=now,
        )
        # Setting the amount is idempotent (same value on a retry); the note carries the
        # approval's idempotency key, so a retry finds it instead of adding a second one.
        self.crm.update_deal(req.deal_id, amount=Decimal(row["amount_after"]))
        approvers = sorted({v.approver_id for v in rec.votes if v.decision == "approve"})
        names = ", ".join(p.name if (p := self.directory.find(a)) else a for a in approvers) or "policy"
        body = (
            f"Discount of {row['discount_percent']}% approved ({rec.id}; approved by {names}): amount "
            f"{row['amount_before']} → {row['amount_after']} {req.currency}. "
            f"Reason given by the requester: “{req.reason}”"
        )
        note = self.crm.add_note(
            NewNote(
                parent_kind="deals",
                parent_id=req.deal_id,
                body=body,
                timestamp=now.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            ),
            idempotency_key=rec.idempotency_key,
        )
        return {
            "deal_id": req.deal_id,
            "amount_before": row["amount_before"],
            "amount_after": row["amount_after"],
            "note_id": note.id,
        }

    def _insert_once(self, table: Table, approval_id: str, **values: Any) -> dict[str, Any]:
        """Insert the follow-up row for ``approval_id``, or return the one written before."""
        return self.follow_ups.insert_once(table, approval_id, **values)

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

    def stage_sla(self, rec: ApprovalRecord) -> dt.timedelta:
        """The current stage's SLA from the route stored with the request (policy default else);
        an agent write's from ``write_sla`` in the access policy, by tool and stake."""
        if rec.kind == AGENT_KIND:
            from policies.write_sla import stake_usd

            return self.access.write_sla.sla_for(rec.action, stake_usd(rec.current, rec.proposed, rec.args))
        stages = ((rec.request or {}).get("route") or {}).get("stages") or []
        hours = stages[rec.current_stage].get("sla_hours") if rec.current_stage < len(stages) else None
        return dt.timedelta(hours=hours) if hours else self.default_sla

    def tick(self) -> TickReport:
        """Expire requests past their deadline, remind approvers once a stage has waited its SLA,
        escalate to the next level after twice the SLA, and finish follow-ups left behind (a
        crash between approval and follow-up). Every action is audited and notified; running
        it concurrently or repeatedly does each action once."""
        now = self.now()
        expired: list[str] = []
        reminded: list[str] = []
        escalated: list[str] = []
        for rec in self._business(self.store.list(status="pending", limit=10_000)):
            if rec.expired(now):
                done = self.store.expire(rec.id)
                if done is not None:
                    expired.append(rec.id)
                    self.audit.append(
                        "request_expired",
                        actor="system",
                        thread_id=rec.thread_id,
                        approval_id=rec.id,
                        data={
                            "stage": _stage_name(rec),
                            "expires_at": rec.expires_at.isoformat() if rec.expires_at else None,
                        },
                    )
                    self.notifier.approval_decided(approval_view(done, self.directory))
                continue
            sla = self.stage_sla(rec)
            waited = now - rec.stage_started_at
            if waited >= 2 * sla and self._escalate(rec, sla, waited):
                escalated.append(rec.id)
            elif waited >= sla and self._remind(rec, sla, waited):
                reminded.append(rec.id)
        # Agent writes get the same reminders and escalation (issue #14); their expiry stays
        # with the runtime (approval_ttl_hours), their SLA comes from write_sla (access.yaml).
        for rec in self.store.list(status="pending", kind=AGENT_KIND, limit=10_000):
            if rec.expired(now):
                continue
            sla = self.stage_sla(rec)
            waited = now - rec.stage_started_at
            if waited >= 2 * sla and self._escalate(rec, sla, waited):
                escalated.append(rec.id)
            elif waited >= sla and self._remind(rec, sla, waited):
                reminded.append(rec.id)
        # Approved requests whose follow-up never ran (a crash between approval and execution),
        # and executions whose worker died (lease lapsed): the one executor finishes them.
        followed = [e.record.id for e in self.lifecycle.finish_pending_work(kinds=tuple(FOLLOW_UPS)) if e.done]
        return TickReport(tuple(expired), tuple(reminded), tuple(escalated), tuple(followed))

    def _escalate(self, rec: ApprovalRecord, sla: dt.timedelta, waited: dt.timedelta) -> bool:
        stage = rec.stage
        assert stage is not None
        requester = self.directory.get(rec.requester_id)
        above = next_level(stage.approvers, requester, self.directory, today=self.now().date())
        if not above:  # nobody higher up: keep reminding the stage instead
            return self._remind(rec, sla, waited)
        done = self.store.escalate(rec.id, add_approvers=above, seen_version=rec.version)
        if done is None:  # decided or escalated concurrently
            return False
        self.audit.append(
            "request_escalated",
            actor="system",
            thread_id=rec.thread_id,
            approval_id=rec.id,
            data={
                "stage": stage.name,
                "added_approvers": list(above),
                "sla_hours": sla.total_seconds() / 3600,
                "waited_hours": round(waited.total_seconds() / 3600, 1),
            },
        )
        self.notifier.approval_reminder(approval_view(done, self.directory), escalated=True)
        return True

    def _remind(self, rec: ApprovalRecord, sla: dt.timedelta, waited: dt.timedelta) -> bool:
        # The unique row is the lock: exactly one sweep reminds for this stage wait.
        if not self.follow_ups.claim_reminder(rec.id, rec.current_stage, rec.stage_started_at, self.now()):
            return False
        done = self.store.note_reminder(rec.id, seen_version=rec.version)
        if done is None or done.status != "pending":
            return False
        done = self._delegate_if_away(done)
        stage = rec.stage
        self.audit.append(
            "request_reminder",
            actor="system",
            thread_id=rec.thread_id,
            approval_id=rec.id,
            data={
                "stage": stage.name if stage else None,
                "approvers": list(rec.approvers_now()),
                "sla_hours": sla.total_seconds() / 3600,
                "waited_hours": round(waited.total_seconds() / 3600, 1),
            },
        )
        self.notifier.approval_reminder(approval_view(done, self.directory), escalated=False)
        return True

    def _delegate_if_away(self, rec: ApprovalRecord) -> ApprovalRecord:
        """Delegation honoured by reminders: an away approver's delegate joins the stage and is
        reminded too (agent/workflows/sweeper.py has the rule)."""
        from agent.workflows.sweeper import away_delegates

        delegates = away_delegates(rec, self.directory, today=self.now().date())
        if not delegates:
            return rec
        done = self.store.escalate(rec.id, add_approvers=delegates, seen_version=rec.version)
        if done is None:
            return rec
        self.audit.append(
            "request_delegated",
            actor="system",
            thread_id=rec.thread_id,
            approval_id=rec.id,
            data={"stage": _stage_name(rec), "added_approvers": delegates, "why": "approver away"},
        )
        return done

    @staticmethod
    def _business(recs: Sequence[ApprovalRecord]) -> list[ApprovalRecord]:
        return [r for r in recs if r.kind != AGENT_KIND and r.kind in FOLLOW_UPS]

    # -- stats -----------------------------------------------------------------------------

    def stats(self, since: dt.datetime | None = None) -> Stats:
        """Volume by kind, auto-approval rate, time to a person's decision (p50/p90), overdue."""
        now = self.now()
        recs = self._business(self.store.stats_rows(since))
        auto = [r for r in recs if (r.decided_by or "").startswith("policy:")]
        hours = [
            (r.decided_at - r.created_at).total_seconds() / 3600
            for r in recs
            if r.decided_at is not None
            and r.decided_by is not None
            and not r.decided_by.startswith(("policy:", "system:"))
            and r.status not in ("withdrawn", "expired", "stale")
        ]
        overdue = [r.id for r in recs if r.status == "pending" and now - r.stage_started_at > self.stage_sla(r)]
        return Stats(
            since=since,
            total=len(recs),
            by_kind=dict(sorted(Counter(r.kind for r in recs).items())),
            by_status=dict(sorted(Counter(r.status for r in recs).items())),
            auto_approved=len(auto),
            auto_approval_rate=(len(auto) / len(recs)) if recs else None,
            decided=len(hours),
            p50_hours=_round(percentile(hours, 50)),
            p90_hours=_round(percentile(hours, 90)),
            overdue=len(overdue),
            overdue_ids=tuple(sorted(overdue)),
        )


class FollowUp:
    """One request kind's follow-up as an :class:`~agent.approvals.Effect`: what the lifecycle's
    executor runs once the request is approved. A discount's deal is re-checked first (the
    requester's right to change it, and its version: a changed deal is never overwritten; the
    request is routed again on the deal's current amount)."""

    def __init__(self, service: WorkflowService, kind: str) -> None:
        self.service = service
        self.kind = kind

    def check(self, rec: ApprovalRecord) -> Check | None:
        if self.kind != "discount":
            return None
        svc = self.service
        if svc.follow_up_rows("discount", rec.id):
            return None  # an earlier attempt of this very approval changed the deal
        deal_id = str(rec.args.get("deal_id"))
        try:
            deal = svc._check_deal_rights(rec.requester_id, deal_id)
        except NotPermitted as exc:
            return Check("refused", str(exc))
        if rec.target_version is not None and deal.version != rec.target_version:
            before = rec.current.get("amount")
            now = None if deal.amount is None else str(deal.amount)
            change = f" (amount {before} → {now})" if before != now else ""
            return Check("stale", f"deal {deal_id} changed after the discount was approved{change}")
        return None

    def run(self, rec: ApprovalRecord, idempotency_key: str) -> Any:
        try:
            return self.service._follow_up(rec)
        except ConnectorUnavailable as exc:
            raise EffectFailed(f"{exc}", retryable=True) from exc
        except (ConnectorError, PolicyError, ValueError) as exc:
            raise EffectFailed(str(exc)) from exc

    def reroute(self, rec: ApprovalRecord, reason: str) -> Proposal | None:
        """The same request, routed on the target's current values; its card says why."""
        request = {k: v for k, v in rec.args.items() if k != "deal_amount"}
        try:
            proposal, _ = self.service.prepare(
                rec.requester_id,
                request,
                thread_id=rec.thread_id,
                dedupe_key=f"{rec.dedupe_key}:reroute:{rec.id}",
                taint=Taint(tuple(rec.untrusted_sources), tuple(rec.tainted_arguments), rec.injection_score),
                extra_flags=[
                    Flag(
                        code="rerouted",
                        message=f"routed again: {reason}; the earlier approval ({rec.id}) was for the old values",
                    )
                ],
            )
        except (PolicyError, ConnectorError, ValueError) as exc:
            self.service.audit.append(
                "request_reroute_failed", actor="system", approval_id=rec.id, data={"error": str(exc)}
            )
            return None
        return proposal


def _route_shape(decision: RouteDecision) -> tuple[Any, ...]:
    return (decision.auto_approved, tuple(s.name for s in decision.stages))


def _totals_text(totals: Mapping[str, Any]) -> str:
    parts = []
    for name, value in totals.items():
        parts.append(f"${value:,.2f}" if name == "amount_usd" else f"{name.replace('_', ' ')} {value}")
    return ", ".join(parts)


# Free-text fields of each kind: quoted on cards with their source, never as the system's words.
FREE_TEXT: Mapping[str, tuple[str, ...]] = {
    "expense": ("description", "merchant"),
    "purchase": ("item", "vendor", "justification"),
    "time_off": ("note",),
    "discount": ("reason",),
    "access": ("system", "justification"),
}


def quoted_fields(req: AnyRequest, taint: Taint | None = None) -> list[dict[str, str]]:
    """The request's free text, each with where it came from: ``from the requester`` unless the
    taint trace found the value in untrusted content (then ``from <source>``)."""
    traced: dict[str, str] = {}
    for entry in taint.fields if taint else ():
        path, _, rest = entry.partition("=")
        source = rest.rsplit("(from ", 1)[-1].rstrip(")") if "(from " in rest else "untrusted content"
        traced[path.rsplit(".", 1)[-1]] = source
    out = []
    for name in FREE_TEXT.get(req.kind, ()):
        value = getattr(req, name, None)
        if value:
            source = f"from {traced[name]}" if name in traced else "from the requester"
            if taint is not None and taint.sources and name not in traced:
                source += " (the conversation held untrusted content)"
            out.append({"field": name, "text": str(value), "source": source})
    return out


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def _stage_name(rec: ApprovalRecord) -> str | None:
    stage = rec.stages[rec.current_stage] if rec.current_stage < len(rec.stages) else None
    return stage.name if stage else None


# --------------------------------------------------------------------------------------------
# Titles and what approvers see


def _money(amount: Decimal, currency: str) -> str:
    return f"${amount:,.2f}" if currency == "USD" else f"{amount:,.2f} {currency}"


def _title(req: AnyRequest) -> str:
    match req:
        case ExpenseRequest():
            return f"Expense {_money(req.amount, req.currency)} — {req.category.value.replace('_', ' ')}"
        case PurchaseRequest():
            return f"Purchase {req.quantity} unit(s), {_money(req.total, req.currency)} — {req.category.value}"
        case TimeOffRequest():
            return f"Time off {req.start:%b %d} – {req.end:%b %d} ({req.type.value})"
        case DiscountRequest():
            return f"Discount {req.discount_percent:f}% on deal {req.deal_id}"
        case AccessRequest():
            return f"Access: {req.access_level.value} to {req.system}"
    raise AssertionError(req)  # pragma: no cover


def _summary(req: AnyRequest, decision: RouteDecision) -> str:
    """The system's own line about a request: values it checked, never the requester's free
    text (that is quoted on the card with its source, see :func:`quoted_fields`)."""
    match req:
        case ExpenseRequest():
            receipt = "receipt attached" if req.has_receipt else "no receipt"
            category = req.category.value.replace("_", " ")
            return f"{category} expense of {_money(req.amount, req.currency)} on {req.date}, {receipt}"
        case PurchaseRequest():
            price, total = _money(req.unit_price, req.currency), _money(req.total, req.currency)
            return f"{req.quantity} unit(s) at {price} = {total} ({req.category.value})"
        case TimeOffRequest():
            days = decision.facts.get("business_days")
            return f"{req.type.value} from {req.start} to {req.end} ({days} business days)"
        case DiscountRequest():
            base = f" on {_money(req.deal_amount, req.currency)}" if req.deal_amount is not None else ""
            return f"{req.discount_percent:f}% discount{base} for deal {req.deal_id}"
        case AccessRequest():
            span = f" for {req.duration_days} days" if req.duration_days else ""
            return f"{req.access_level.value} access to {req.system}{span}"
    raise AssertionError(req)  # pragma: no cover


def _current(req: AnyRequest) -> dict[str, Any]:
    if isinstance(req, DiscountRequest) and req.deal_amount is not None:
        return {"amount": f"{req.deal_amount:f}"}
    return {}


def _proposed(req: AnyRequest) -> dict[str, Any]:
    if isinstance(req, DiscountRequest):
        out: dict[str, Any] = {"discount_percent": f"{req.discount_percent:f}"}
        if req.deal_amount is not None:
            after = (req.deal_amount * (100 - req.discount_percent) / 100).quantize(_CENT, rounding=ROUND_HALF_UP)
            out["amount"] = f"{after:f}"
        return out
    # Free text is quoted on the card with its source (FREE_TEXT), not listed as a change.
    free = set(FREE_TEXT.get(req.kind, ()))
    return {k: v for k, v in req.model_dump(mode="json").items() if v is not None and k != "kind" and k not in free}


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
