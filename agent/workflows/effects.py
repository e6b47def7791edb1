"""The follow-up of each request kind once approved (a ledger entry, a purchase order, time off,
an access grant, a discount applied to the deal), written once per request, and the effect
(:class:`FollowUp`) through which the lifecycle's executor runs it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from agent.approvals import Check, EffectFailed, Proposal, Taint
from agent.workflows.texts import CENT
from connectors.appdb import ApprovalRecord, AuditLog
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
from policies.directory import Directory
from policies.errors import NotPermitted, PolicyError
from policies.requests import (
    AccessRequest,
    DiscountRequest,
    ExpenseRequest,
    PurchaseRequest,
    TimeOffRequest,
    parse_request,
)
from policies.routing import Flag, RouteDecision, RoutingPolicy

# The follow-up each kind runs once approved (the approval's ``action``).
FOLLOW_UPS: Mapping[str, str] = {
    "expense": "record_expense",
    "purchase": "create_purchase_order",
    "time_off": "record_time_off",
    "discount": "apply_deal_discount",
    "access": "grant_access",
}


class RequestDesk(Protocol):
    """What a follow-up uses of the workflow service: the rows it writes, the policy and CRM it
    reads, and the service's own checks (a discount's deal rights, routing a request again)."""

    policy: RoutingPolicy
    directory: Directory
    audit: AuditLog
    follow_ups: FollowUpStore
    crm: Any

    def now(self) -> dt.datetime: ...

    def prepare(
        self,
        requester_id: str,
        request: Mapping[str, Any],
        *,
        thread_id: str | None = None,
        dedupe_key: str | None = None,
        taint: Taint | None = None,
        extra_flags: Sequence[Flag] = (),
    ) -> tuple[Proposal, RouteDecision]: ...

    def follow_up_rows(self, kind: str, approval_id: str | None = None) -> list[dict[str, Any]]: ...

    def _check_deal_rights(self, requester_id: str, deal_id: str) -> Deal: ...

    def _follow_up(self, rec: ApprovalRecord) -> dict[str, Any]: ...


def follow_up(desk: RequestDesk, rec: ApprovalRecord) -> dict[str, Any]:
    """Write an approved request's follow-up (once: a retry returns the row written before)."""
    req = parse_request(rec.args)
    now = desk.now()
    match req:
        case ExpenseRequest():
            amount_usd = desk.policy.to_usd(req.amount, req.currency)
            row = desk.follow_ups.insert_once(
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
            row = desk.follow_ups.insert_once(
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
            row = desk.follow_ups.insert_once(
                time_off,
                rec.id,
                employee_id=rec.requester_id,
                start_date=req.start,
                end_date=req.end,
                type=req.type.value,
                business_days=desk.policy.business_days(req.start, req.end),
                created_at=now,
            )
            return {"table": "time_off", "id": row["id"], "business_days": row["business_days"]}
        case AccessRequest():
            expires = None if req.duration_days is None else now.date() + dt.timedelta(days=req.duration_days)
            row = desk.follow_ups.insert_once(
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
            return apply_discount(desk, rec, req, now)
    raise AssertionError(rec.kind)  # pragma: no cover - every kind has a follow-up


def apply_discount(desk: RequestDesk, rec: ApprovalRecord, req: DiscountRequest, now: dt.datetime) -> dict[str, Any]:
    """Record the discount, set the deal's new amount and note on the deal who approved it."""
    if desk.crm is None:
        raise ValueError("no CRM is configured, so the discount cannot be applied to the deal")
    # The amount it was approved on: the lifecycle checked the deal has not changed since.
    before = req.deal_amount
    if before is None:
        amount = desk.crm.fetch("deals", req.deal_id).amount
        if amount is None:
            raise ValueError(f"deal {req.deal_id} has no amount to discount")
        before = amount
    after = (before * (100 - req.discount_percent) / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    row = desk.follow_ups.insert_once(
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
    desk.crm.update_deal(req.deal_id, amount=Decimal(row["amount_after"]))
    approvers = sorted({v.approver_id for v in rec.votes if v.decision == "approve"})
    names = ", ".join(p.name if (p := desk.directory.find(a)) else a for a in approvers) or "policy"
    body = (
        f"Discount of {row['discount_percent']}% approved ({rec.id}; approved by {names}): amount "
        f"{row['amount_before']} → {row['amount_after']} {req.currency}. "
        f"Reason given by the requester: “{req.reason}”"
    )
    note = desk.crm.add_note(
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


class FollowUp:
    """One request kind's follow-up as an :class:`~agent.approvals.Effect`: what the lifecycle's
    executor runs once the request is approved. A discount's deal is re-checked first (the
    requester's right to change it, and its version: a changed deal is never overwritten; the
    request is routed again on the deal's current amount)."""

    def __init__(self, service: RequestDesk, kind: str) -> None:
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
