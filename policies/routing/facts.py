"""The facts routing rules can test, and the compiled pieces of a policy (conditions, stages, rules)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from policies.requests import (
    REQUEST_KINDS,
    AccessLevel,
    ExpenseCategory,
    PurchaseCategory,
    TimeOffType,
)
from policies.routing.model import Flag

# Facts rules can test


@dataclass(frozen=True)
class _Fact:
    type: Literal["number", "string", "bool", "roles"]
    kinds: frozenset[str] | None  # None: every kind
    doc: str
    values: tuple[str, ...] | None = None  # allowed values, when closed


_MONEY_KINDS = frozenset({"expense", "purchase", "discount"})
FACTS: Mapping[str, _Fact] = {
    "kind": _Fact("string", None, "request kind", REQUEST_KINDS),
    "amount_usd": _Fact("number", _MONEY_KINDS, "amount at stake in USD (purchase: quantity × price)"),
    "currency": _Fact("string", _MONEY_KINDS, "currency the request was made in"),
    "department": _Fact("string", None, "requester's department"),
    "cost_center": _Fact("string", None, "requester's cost center"),
    "requester_role": _Fact("roles", None, "requester's roles (matches if any listed role is held)"),
    "category": _Fact(
        "string",
        frozenset({"expense", "purchase"}),
        "expense or purchase category",
        tuple(dict.fromkeys([*ExpenseCategory, *PurchaseCategory])),
    ),
    "has_receipt": _Fact("bool", frozenset({"expense"}), "a receipt is attached"),
    "weekend": _Fact("bool", frozenset({"expense"}), "the expense date is a Saturday or Sunday"),
    "attendees": _Fact("number", frozenset({"expense"}), "people the expense paid for (default 1)"),
    "per_person_usd": _Fact("number", frozenset({"expense"}), "amount_usd / attendees"),
    "quantity": _Fact("number", frozenset({"purchase"}), "units to buy"),
    "days": _Fact("number", frozenset({"time_off"}), "calendar days off, inclusive"),
    "business_days": _Fact("number", frozenset({"time_off"}), "Mon–Fri days off, minus policy holidays"),
    "notice_days": _Fact("number", frozenset({"time_off"}), "days between today and the first day off"),
    "time_off_type": _Fact("string", frozenset({"time_off"}), "vacation, sick, ...", tuple(TimeOffType)),
    "discount_percent": _Fact("number", frozenset({"discount"}), "requested discount in percent"),
    "deal_amount": _Fact("number", frozenset({"discount"}), "deal amount in USD (missing if unknown)"),
    "system": _Fact("string", frozenset({"access"}), "system access is requested for"),
    "access_level": _Fact("string", frozenset({"access"}), "read, write or admin", tuple(AccessLevel)),
    "duration_days": _Fact("number", frozenset({"access"}), "days of access (missing: ongoing)"),
}

# Facts that add up across a requester's requests of one kind within the policy's
# ``auto_approve_period_days`` (split-request detection): what one asks for in pieces is routed
# as the total. A discount adds up per deal.
AGGREGATED_FACTS: Mapping[str, frozenset[str]] = {
    "amount_usd": frozenset({"expense", "purchase"}),
    "quantity": frozenset({"purchase"}),
    "days": frozenset({"time_off"}),
    "business_days": frozenset({"time_off"}),
    "discount_percent": frozenset({"discount"}),
}

_NUM_OPS = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "eq": "="}


@dataclass(frozen=True)
class _Condition:
    fact: str
    op: str  # gt gte lt lte eq | in not_in | any_of none_of | is | missing
    value: Any

    def test(self, facts: Mapping[str, Any]) -> bool:
        v = facts.get(self.fact)
        if self.op == "missing":
            return (v is None) is self.value
        if v is None:  # a condition on a fact the request does not have never holds
            return False
        match self.op:
            case "gt":
                return bool(v > self.value)
            case "gte":
                return bool(v >= self.value)
            case "lt":
                return bool(v < self.value)
            case "lte":
                return bool(v <= self.value)
            case "eq":
                return bool(v == self.value)
            case "in":
                return v in self.value
            case "not_in":
                return v not in self.value
            case "any_of":
                return bool(set(v) & self.value)
            case "none_of":
                return not (set(v) & self.value)
            case "is":
                return v is self.value
        raise AssertionError(self.op)  # pragma: no cover - ops are validated at load

    def describe(self, facts: Mapping[str, Any]) -> str:
        v = facts.get(self.fact)
        shown = ", ".join(sorted(v)) if isinstance(v, frozenset) else _show(v)
        if self.op in _NUM_OPS:
            return f"{self.fact} {shown} {_NUM_OPS[self.op]} {_show(self.value)}"
        if self.op == "missing":
            return f"{self.fact} {'is missing' if self.value else f'is {shown}'}"
        if self.op == "is":
            return f"{self.fact} is {shown}"
        listed = ", ".join(sorted(self.value))
        if self.op == "in" and len(self.value) == 1:
            return f"{self.fact} = {listed}"
        if self.op == "in":
            return f"{self.fact} = {shown} (one of {listed})"
        if self.op == "not_in":
            return f"{self.fact} = {shown} (none of {listed})"
        word = "has any of" if self.op == "any_of" else "has none of"
        return f"{self.fact} [{shown}] {word} [{listed}]"


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        return f"{v:f}"
    return str(v)


@dataclass(frozen=True)
class StageDef:
    name: str
    mode: Literal["any", "all"]
    approvers: tuple[str, ...]  # approver specs: manager | role:X | person:ID | department_head:DEPT
    sla_hours: int | None
    description: str


@dataclass(frozen=True)
class StageRequirement:
    stage: str
    approvers: tuple[str, ...] | None = None  # overrides the stage's approvers for this rule


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    conditions: tuple[_Condition, ...]
    auto_approve: bool
    require: tuple[StageRequirement, ...]
    flag: Flag | None
    line: int

    def matches(self, facts: Mapping[str, Any]) -> bool:
        return all(c.test(facts) for c in self.conditions)

    def effect(self) -> str:
        parts = []
        if self.auto_approve:
            parts.append("auto-approve")
        if self.require:
            parts.append("requires " + " → ".join(r.stage for r in self.require))
        if self.flag:
            parts.append(f"flag {self.flag.code}")
        return "; ".join(parts)
