"""What approvers see of a request: its title, the system's summary line, current and proposed
values, free text quoted with its source, and the wording of a split-request flag."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from agent.approvals import Taint
from policies.requests import (
    AccessRequest,
    AnyRequest,
    DiscountRequest,
    ExpenseRequest,
    PurchaseRequest,
    TimeOffRequest,
)
from policies.routing import RouteDecision

CENT = Decimal("0.01")


def route_shape(decision: RouteDecision) -> tuple[Any, ...]:
    return (decision.auto_approved, tuple(s.name for s in decision.stages))


def totals_text(totals: Mapping[str, Any]) -> str:
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


def money(amount: Decimal, currency: str) -> str:
    return f"${amount:,.2f}" if currency == "USD" else f"{amount:,.2f} {currency}"


def title(req: AnyRequest) -> str:
    match req:
        case ExpenseRequest():
            return f"Expense {money(req.amount, req.currency)} — {req.category.value.replace('_', ' ')}"
        case PurchaseRequest():
            return f"Purchase {req.quantity} unit(s), {money(req.total, req.currency)} — {req.category.value}"
        case TimeOffRequest():
            return f"Time off {req.start:%b %d} – {req.end:%b %d} ({req.type.value})"
        case DiscountRequest():
            return f"Discount {req.discount_percent:f}% on deal {req.deal_id}"
        case AccessRequest():
            return f"Access: {req.access_level.value} to {req.system}"
    raise AssertionError(req)  # pragma: no cover


def summary(req: AnyRequest, decision: RouteDecision) -> str:
    """The system's own line about a request: values it checked, never the requester's free
    text (that is quoted on the card with its source, see :func:`quoted_fields`)."""
    match req:
        case ExpenseRequest():
            receipt = "receipt attached" if req.has_receipt else "no receipt"
            category = req.category.value.replace("_", " ")
            return f"{category} expense of {money(req.amount, req.currency)} on {req.date}, {receipt}"
        case PurchaseRequest():
            price, total = money(req.unit_price, req.currency), money(req.total, req.currency)
            return f"{req.quantity} unit(s) at {price} = {total} ({req.category.value})"
        case TimeOffRequest():
            days = decision.facts.get("business_days")
            return f"{req.type.value} from {req.start} to {req.end} ({days} business days)"
        case DiscountRequest():
            base = f" on {money(req.deal_amount, req.currency)}" if req.deal_amount is not None else ""
            return f"{req.discount_percent:f}% discount{base} for deal {req.deal_id}"
        case AccessRequest():
            span = f" for {req.duration_days} days" if req.duration_days else ""
            return f"{req.access_level.value} access to {req.system}{span}"
    raise AssertionError(req)  # pragma: no cover


def current_values(req: AnyRequest) -> dict[str, Any]:
    if isinstance(req, DiscountRequest) and req.deal_amount is not None:
        return {"amount": f"{req.deal_amount:f}"}
    return {}


def proposed_values(req: AnyRequest) -> dict[str, Any]:
    if isinstance(req, DiscountRequest):
        out: dict[str, Any] = {"discount_percent": f"{req.discount_percent:f}"}
        if req.deal_amount is not None:
            after = (req.deal_amount * (100 - req.discount_percent) / 100).quantize(CENT, rounding=ROUND_HALF_UP)
            out["amount"] = f"{after:f}"
        return out
    # Free text is quoted on the card with its source (FREE_TEXT), not listed as a change.
    free = set(FREE_TEXT.get(req.kind, ()))
    return {k: v for k, v in req.model_dump(mode="json").items() if v is not None and k != "kind" and k not in free}
