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

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from policies.approvers import RoutingError, StageNeed, next_level, resolve_route
from policies.directory import Directory, Principal
from policies.errors import PolicyError, PolicyFileError
from policies.requests import (
    REQUEST_KINDS,
    AccessLevel,
    AccessRequest,
    AnyRequest,
    DiscountRequest,
    ExpenseCategory,
    ExpenseRequest,
    PurchaseCategory,
    PurchaseRequest,
    TimeOffRequest,
    TimeOffType,
    parse_request,
)

DEFAULT_POLICY = Path(__file__).with_name("routing.yaml")

_CENT = Decimal("0.01")


# --------------------------------------------------------------------------------------------
# Errors


class RoutingFileError(PolicyFileError):
    """A routing policy file is invalid. ``problems`` holds ``(line, message)`` pairs."""

    def __init__(self, path: str, problems: Sequence[tuple[int, str]]) -> None:
        self.path = path
        self.problems = sorted(problems)
        super().__init__("\n".join(f"{path}:{line}: {msg}" for line, msg in self.problems))


class UnsupportedCurrency(PolicyError):
    """The request's currency is not in the policy's FX table; ask for another currency."""


# --------------------------------------------------------------------------------------------
# What routing returns (pydantic, frozen: serialisable for ``simulate --json`` and the tool)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Flag(_Out):
    """An exception an approver should see (or the reason a request was not auto-approved)."""

    code: str = Field(description="Stable machine code, e.g. 'missing_receipt'.")
    message: str = Field(description="Why, in words, e.g. 'receipt required above $25'.")
    rule: str | None = Field(default=None, description="Id of the rule that raised it, if any.")
    stage: str | None = Field(default=None, description="Stage it concerns (delegation, separation of duties).")


class Stage(_Out):
    """One step of the route: ``any`` one of the approvers, or ``all`` of them, must approve."""

    name: str = Field(description="Stage name from the policy: manager, finance, cfo, ...")
    mode: Literal["any", "all"] = Field(description="'any': one approval suffices; 'all': everyone.")
    approvers: tuple[str, ...] = Field(description="Directory ids of the people who may approve.")
    reason: str = Field(description="Which rules required this stage and why.")
    required_by: tuple[str, ...] = Field(description="Ids of the rules that required it.")
    covers: tuple[str, ...] = Field(
        description="Stage names this stage satisfies (itself; stages are never merged: one person, one stage)."
    )
    sla_hours: int | None = Field(default=None, description="Hours before reminding/escalating, from the policy.")
    escalated: bool = Field(default=False, description="True when approvers came from escalation, not the rule.")
    notes: tuple[str, ...] = Field(default=(), description="Delegation and separation-of-duties adjustments.")


class FiredRule(_Out):
    id: str = Field(description="Rule id.")
    why: str = Field(description="The conditions that held, with the request's values.")
    effect: str = Field(description="What the rule did: auto-approve, requires ..., flag ...")


class RouteDecision(_Out):
    """The full, explained outcome of routing one request. Nothing is stored by routing."""

    policy_version: str
    kind: str
    requester: str = Field(description="Directory id of the requester.")
    auto_approved: bool
    stages: tuple[Stage, ...]
    flags: tuple[Flag, ...]
    fired: tuple[FiredRule, ...]
    default_route_used: bool
    amount_usd: Decimal | None = Field(description="Amount at stake in USD (static FX), if any.")
    facts: dict[str, Any] = Field(description="Every fact rules could test, as computed.")
    notes: tuple[str, ...] = Field(default=(), description="E.g. how the amount was converted to USD.")

    @property
    def approvers(self) -> frozenset[str]:
        return frozenset(a for s in self.stages for a in s.approvers)

    def flag_codes(self) -> list[str]:
        return [f.code for f in self.flags]


# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# The file's shape (validated by pydantic; semantic checks follow in _Compiler)


def _date_to_str(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.date) else v


DateStr = Annotated[str, BeforeValidator(_date_to_str)]


class _FileModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _FlagSpec(_FileModel):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    message: str = Field(min_length=1)


class _StageSpec(_FileModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    mode: Literal["any", "all"] = "any"
    approvers: list[str]
    sla_hours: int | None = Field(default=None, gt=0)
    description: str = ""


class _RuleSpec(_FileModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    when: dict[str, Any]
    auto_approve: bool = False
    require: list[Any] | None = None
    flag: _FlagSpec | None = None


class _DefaultRouteSpec(_FileModel):
    require: list[Any]
    flag: _FlagSpec


class _FxSpec(_FileModel):
    as_of: DateStr
    rates: dict[str, Decimal]


class _PolicySpec(_FileModel):
    version: DateStr
    description: str = ""
    fx_to_usd: _FxSpec
    holidays: list[dt.date] = []
    stages: list[_StageSpec]
    rules: list[_RuleSpec]
    default_route: _DefaultRouteSpec
    fallback_approvers: list[str]
    auto_approve_period_days: int = Field(default=30, gt=0, le=366)


# --------------------------------------------------------------------------------------------
# The compiled policy


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


@dataclass(frozen=True)
class RoutingPolicy:
    version: str
    source: str
    description: str
    fx_rates: Mapping[str, Decimal]
    fx_as_of: str
    holidays: frozenset[dt.date]
    stages: tuple[StageDef, ...]
    rules: tuple[Rule, ...]
    default_route: tuple[StageRequirement, ...]
    default_flag: Flag
    fallback_approvers: tuple[str, ...]
    auto_approve_period_days: int = 30

    # ---- loading -------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path = DEFAULT_POLICY, directory: Directory | None = None) -> RoutingPolicy:
        """Load and validate a policy file. With ``directory``, roles, people and departments
        named in the file must exist in it. Raises :class:`RoutingFileError` (a
        ``PolicyFileError``) naming the file, the line and the problem."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RoutingFileError(str(path), [(0, "routing policy file not found")]) from None
        return cls.from_text(text, source=str(path), directory=directory)

    @classmethod
    def from_text(cls, text: str, *, source: str = "<string>", directory: Directory | None = None) -> RoutingPolicy:
        return _Compiler(text, source, directory).compile()

    def stage(self, name: str) -> StageDef:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage {name!r} in routing policy {self.version}")

    # ---- facts ---------------------------------------------------------------------------

    def to_usd(self, amount: Decimal, currency: str) -> Decimal:
        """``amount`` in USD at the policy's static rate, rounded to cents."""
        try:
            rate = self.fx_rates[currency.upper()]
        except KeyError:
            known = ", ".join(sorted(self.fx_rates))
            raise UnsupportedCurrency(
                f"no exchange rate for {currency!r} in routing policy {self.version} "
                f"(supported: {known}); ask for the amount in one of those currencies"
            ) from None
        return (amount * rate).quantize(_CENT, rounding=ROUND_HALF_UP)

    def business_days(self, start: dt.date, end: dt.date) -> int:
        n = 0
        day = start
        while day <= end:
            if day.weekday() < 5 and day not in self.holidays:
                n += 1
            day += dt.timedelta(days=1)
        return n

    def facts(self, request: AnyRequest, requester: Principal, *, today: dt.date) -> dict[str, Any]:
        """Every fact rules may test, computed from the request, the requester and ``today``.
        Facts that do not apply to the request's kind are absent."""
        f: dict[str, Any] = {
            "kind": request.kind,
            "department": requester.department,
            "cost_center": requester.cost_center,
            "requester_role": frozenset(requester.roles),
        }
        money = request.money()
        if money is not None:
            f["amount_usd"] = self.to_usd(*money)
            f["currency"] = money[1]
        elif isinstance(request, DiscountRequest):
            f["currency"] = request.currency
        match request:
            case ExpenseRequest():
                attendees = request.attendees or 1
                f["category"] = request.category.value
                f["has_receipt"] = request.has_receipt
                f["weekend"] = request.date.weekday() >= 5
                f["attendees"] = attendees
                f["per_person_usd"] = (f["amount_usd"] / attendees).quantize(_CENT, rounding=ROUND_HALF_UP)
            case PurchaseRequest():
                f["category"] = request.category.value
                f["quantity"] = request.quantity
            case TimeOffRequest():
                f["days"] = (request.end - request.start).days + 1
                f["business_days"] = self.business_days(request.start, request.end)
                f["notice_days"] = (request.start - today).days
                f["time_off_type"] = request.type.value
            case DiscountRequest():
                f["discount_percent"] = request.discount_percent
                if money is not None:
                    f["deal_amount"] = f["amount_usd"]
            case AccessRequest():
                f["system"] = request.system
                f["access_level"] = request.access_level.value
                if request.duration_days is not None:
                    f["duration_days"] = request.duration_days
        return f

    # ---- routing -------------------------------------------------------------------------

    def route(
        self,
        request: AnyRequest,
        requester: Principal,
        directory: Directory,
        *,
        today: dt.date,
        totals: Mapping[str, Any] | None = None,
        extra_flags: Sequence[Flag] = (),
    ) -> RouteDecision:
        """Decide the route for ``request`` by ``requester``. Pure: stores nothing.

        ``totals``: facts summed over the requester's recent requests of this kind (see
        :data:`AGGREGATED_FACTS`); rules test those instead of this request's alone, so a split
        request is routed like the whole. ``extra_flags``: exceptions the caller found (untrusted
        content, a split request, a re-route); like every flag they block auto-approval.

        Raises :class:`UnsupportedCurrency` when the amount cannot be converted to USD and
        :class:`RoutingError` when the directory has nobody eligible for a stage."""
        facts = self.facts(request, requester, today=today)
        for name, total in (totals or {}).items():
            if name in AGGREGATED_FACTS and name in facts:
                facts[name] = total
        fired: list[FiredRule] = []
        flags: list[Flag] = list(extra_flags)
        needs: dict[str, list[tuple[str, str, tuple[str, ...] | None]]] = {}
        auto_rules: list[str] = []
        routing_rule_fired = False
        for rule in self.rules:
            if not rule.matches(facts):
                continue
            why = "; ".join(c.describe(facts) for c in rule.conditions)
            fired.append(FiredRule(id=rule.id, why=why, effect=rule.effect()))
            # Stage reasons leave out the kind test: the stage already belongs to that request.
            short = " and ".join(c.describe(facts) for c in rule.conditions if c.fact != "kind")
            if rule.auto_approve:
                auto_rules.append(rule.id)
            if rule.require or rule.auto_approve:
                routing_rule_fired = True
            for req in rule.require:
                needs.setdefault(req.stage, []).append((rule.id, short, req.approvers))
            if rule.flag is not None:
                flags.append(rule.flag)

        auto = bool(auto_rules) and not flags and not needs
        default_used = False
        if not auto and not needs:
            default_used = True
            message = (
                self.default_flag.message
                if not routing_rule_fired
                else "auto-approval blocked by the flags above and no rule set a route; sent to the default route"
            )
            flags.append(self.default_flag.model_copy(update={"message": message}))
            for req in self.default_route:
                needs.setdefault(req.stage, []).append(("default_route", message, req.approvers))

        notes: list[str] = []
        money = request.money()
        if money is not None and money[1] != "USD":
            rate = self.fx_rates[money[1]]
            notes.append(
                f"{money[0]:f} {money[1]} ≈ ${facts['amount_usd']:,.2f} at the policy's static rate "
                f"{rate:f} USD/{money[1]} (as of {self.fx_as_of}); thresholds are in USD"
            )

        stages = [] if auto else _resolve_stages(self, needs, requester, directory, today, flags)
        return RouteDecision(
            policy_version=self.version,
            kind=request.kind,
            requester=requester.id,
            auto_approved=auto,
            stages=tuple(stages),
            flags=tuple(flags),
            fired=tuple(fired),
            default_route_used=default_used,
            amount_usd=facts.get("amount_usd"),
            facts={k: sorted(v) if isinstance(v, frozenset) else v for k, v in facts.items()},
            notes=tuple(notes),
        )


# --------------------------------------------------------------------------------------------
# Approver resolution lives in policies/approvers.py (one resolution for every route).


def _resolve_stages(
    policy: RoutingPolicy,
    needs: Mapping[str, list[tuple[str, str, tuple[str, ...] | None]]],
    requester: Principal,
    directory: Directory,
    today: dt.date,
    flags: list[Flag],
) -> list[Stage]:
    wanted: list[StageNeed] = []
    for sdef in policy.stages:
        if sdef.name not in needs:
            continue
        reqs = needs[sdef.name]
        specs: list[str] = []
        for _, _, override in reqs:
            specs.extend(s for s in (override or sdef.approvers) if s not in specs)
        wanted.append(
            StageNeed(
                name=sdef.name,
                specs=tuple(specs),
                mode=sdef.mode,
                reason="; ".join(dict.fromkeys(f"{r} ({why})" if why else r for r, why, _ in reqs)),
                required_by=tuple(dict.fromkeys(r for r, _, _ in reqs)),
                sla_hours=sdef.sla_hours,
            )
        )
    res = resolve_route(wanted, requester, directory, today=today, fallback=policy.fallback_approvers)
    flags.extend(Flag(code=a.code, message=a.message, stage=a.stage) for a in res.adjustments)
    return [
        Stage(
            name=s.name,
            mode=s.mode,
            approvers=s.approvers,
            reason=s.reason,
            required_by=s.required_by,
            covers=(s.name,),
            sla_hours=s.sla_hours,
            escalated=s.escalated,
            notes=s.notes,
        )
        for s in res.stages
    ]


def escalate_stage(stage: Stage, requester: Principal, directory: Directory, *, today: dt.date) -> Stage | None:
    """``stage`` one level up (for SLA escalation): any one of the original approvers or the
    next level may approve. ``None`` when nobody is above the current approvers."""
    above = next_level(stage.approvers, requester, directory, today=today)
    if not above:
        return None
    names = ", ".join((directory.find(a) or Principal(a, a, "")).name for a in above)
    return stage.model_copy(
        update={
            "mode": "any",
            "approvers": (*stage.approvers, *above),
            "escalated": True,
            "notes": (*stage.notes, f"SLA lapsed: escalated to {names}"),
        }
    )


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
# Loading: YAML → pydantic → semantic checks, with every problem mapped to a line


Loc = tuple[str | int, ...]


class _Compiler:
    def __init__(self, text: str, source: str, directory: Directory | None) -> None:
        self.text = text
        self.source = source
        self.directory = directory
        self.root: yaml.Node | None = None
        self.problems: list[tuple[int, str]] = []
        self.raw: Any = None

    # -- problem reporting

    def line(self, loc: Loc) -> int:
        """1-based line of the deepest node of ``loc`` found in the YAML (mapping keys point at
        the key), 1 when nothing matches."""
        node = self.root
        line = 1 if node is None else node.start_mark.line + 1
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if k.value == str(part):
                        line = k.start_mark.line + 1
                        node = v
                        break
                else:
                    return line
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line

    def where(self, loc: Loc) -> str:
        """'rule 'x': ' / 'stage 'y': ' prefix for problems inside a named rule or stage."""
        if len(loc) >= 2 and loc[0] in ("rules", "stages") and isinstance(loc[1], int):
            items = self.raw.get(loc[0]) if isinstance(self.raw, dict) else None
            item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
            key = "id" if loc[0] == "rules" else "name"
            name = item.get(key) if isinstance(item, dict) else None
            what = "rule" if loc[0] == "rules" else "stage"
            return f"{what} {name!r}: " if name is not None else f"{loc[0]}[{loc[1]}]: "
        return ""

    def problem(self, loc: Loc, message: str) -> None:
        self.problems.append((self.line(loc), self.where(loc) + message))

    def fail_if_problems(self) -> None:
        if self.problems:
            raise RoutingFileError(self.source, self.problems)

    # -- steps

    def compile(self) -> RoutingPolicy:
        try:
            self.root = yaml.compose(self.text, Loader=yaml.SafeLoader)
            self.raw = yaml.safe_load(self.text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            raise RoutingFileError(self.source, [(line, f"not valid YAML: {exc.problem or exc}")]) from exc
        except yaml.YAMLError as exc:
            raise RoutingFileError(self.source, [(1, f"not valid YAML: {exc}")]) from exc
        if not isinstance(self.raw, dict):
            raise RoutingFileError(self.source, [(1, "expected a mapping with version, stages, rules, ...")])
        self._duplicate_keys(self.root, ())
        self.fail_if_problems()

        try:
            spec = _PolicySpec.model_validate(self.raw)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                self.problem(loc, _pydantic_message(loc, err))
            self.fail_if_problems()
            raise AssertionError("unreachable") from exc  # pragma: no cover
        return self._semantics(spec)

    def _duplicate_keys(self, node: yaml.Node | None, loc: Loc) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for k, v in node.value:
                if k.value in seen:
                    self.problems.append((k.start_mark.line + 1, f"duplicate key {k.value!r}"))
                seen.add(k.value)
                self._duplicate_keys(v, (*loc, k.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                self._duplicate_keys(v, (*loc, i))

    def _semantics(self, spec: _PolicySpec) -> RoutingPolicy:
        fx: dict[str, Decimal] = {}
        for code, rate in spec.fx_to_usd.rates.items():
            if len(code) != 3 or not code.isalpha() or not code.isupper():
                self.problem(("fx_to_usd", "rates", code), f"{code!r} is not an ISO-4217 code like EUR")
            elif rate <= 0:
                self.problem(("fx_to_usd", "rates", code), f"rate for {code} must be positive")
            fx[code] = rate
        if fx.get("USD") != 1:
            self.problem(("fx_to_usd", "rates"), "rates must include USD: 1")

        stage_index: dict[str, int] = {}
        stages: list[StageDef] = []
        for i, s in enumerate(spec.stages):
            if s.name in stage_index:
                self.problem(("stages", i, "name"), f"duplicate stage name {s.name!r}")
            stage_index.setdefault(s.name, i)
            if not s.approvers:
                self.problem(("stages", i, "approvers"), "empty approvers: say who approves this stage")
            for j, a in enumerate(s.approvers):
                self._check_approver(("stages", i, "approvers", j), a)
            stages.append(StageDef(s.name, s.mode, tuple(s.approvers), s.sla_hours, s.description))
        if not stages:
            self.problem(("stages",), "no stages declared")
        if not spec.fallback_approvers:
            self.problem(("fallback_approvers",), "empty: say who approves for people with no manager")
        for j, a in enumerate(spec.fallback_approvers):
            self._check_approver(("fallback_approvers", j), a)

        seen_ids: set[str] = set()
        rules: list[Rule] = []
        for i, r in enumerate(spec.rules):
            loc: Loc = ("rules", i)
            if r.id in seen_ids:
                self.problem((*loc, "id"), f"duplicate rule id {r.id!r}")
            seen_ids.add(r.id)
            conditions = self._conditions((*loc, "when"), r.when)
            require = self._require((*loc, "require"), r.require, stage_index, allow_none=True)
            if not (r.auto_approve or require or r.flag):
                self.problem(loc, "does nothing: give it auto_approve, require or flag")
            if r.auto_approve and (require or r.flag):
                self.problem((*loc, "auto_approve"), "an auto-approve rule cannot also require stages or flag")
            flag = Flag(code=r.flag.code, message=r.flag.message, rule=r.id) if r.flag else None
            rules.append(Rule(r.id, r.description, conditions, r.auto_approve, require, flag, self.line(loc)))

        default_require = self._require(
            ("default_route", "require"), spec.default_route.require, stage_index, allow_none=False
        )
        try:
            holidays = frozenset(spec.holidays)
        except TypeError:  # pragma: no cover
            holidays = frozenset()
        self.fail_if_problems()
        return RoutingPolicy(
            version=spec.version,
            source=self.source,
            description=spec.description,
            fx_rates=fx,
            fx_as_of=spec.fx_to_usd.as_of,
            holidays=holidays,
            stages=tuple(stages),
            rules=tuple(rules),
            default_route=default_require,
            default_flag=Flag(code=spec.default_route.flag.code, message=spec.default_route.flag.message),
            fallback_approvers=tuple(spec.fallback_approvers),
            auto_approve_period_days=spec.auto_approve_period_days,
        )

    # -- pieces

    def _known(self, what: str) -> set[str] | None:
        d = self.directory
        if d is None:
            return None
        if what == "role":
            return {r for p in d for r in p.roles}
        if what == "person":
            return {p.id for p in d}
        if what == "department":
            return {p.department for p in d if p.department}
        if what == "cost_center":
            return {p.cost_center for p in d if p.cost_center}
        raise AssertionError(what)  # pragma: no cover

    def _check_approver(self, loc: Loc, spec: Any) -> None:
        forms = "manager, role:ROLE, person:USER_ID or department_head:DEPARTMENT"
        if not isinstance(spec, str):
            self.problem(loc, f"approver {spec!r} must be a string: {forms}")
            return
        kind, sep, arg = spec.partition(":")
        if spec == "manager":
            return
        if not sep or kind not in ("role", "person", "department_head") or not arg:
            self.problem(loc, f"bad approver {spec!r}; use {forms}")
            return
        known = self._known(kind if kind != "department_head" else "department")
        if known is not None and arg not in known:
            label = {"role": "role", "person": "person", "department_head": "department"}[kind]
            self.problem(loc, f"unknown {label} {arg!r} (known {label}s: {', '.join(sorted(known))})")

    def _require(
        self, loc: Loc, items: list[Any] | None, index: Mapping[str, int], *, allow_none: bool
    ) -> tuple[StageRequirement, ...]:
        if items is None:
            return ()
        if not items:
            self.problem(loc, "empty stage list: name at least one stage, or drop 'require'")
            return ()
        out: list[StageRequirement] = []
        last = -1
        prev = ""
        for j, item in enumerate(items):
            iloc = (*loc, j)
            override: tuple[str, ...] | None = None
            if isinstance(item, dict):
                extra = set(item) - {"stage", "approvers"}
                if extra or "stage" not in item:
                    self.problem(iloc, "a stage with approvers looks like {stage: NAME, approvers: [...]}")
                    continue
                name = item["stage"]
                raw_approvers = item.get("approvers")
                if not isinstance(raw_approvers, list) or not raw_approvers:
                    self.problem((*iloc, "approvers"), "approvers must be a non-empty list")
                    continue
                for k, a in enumerate(raw_approvers):
                    self._check_approver((*iloc, "approvers", k), a)
                override = tuple(str(a) for a in raw_approvers)
            else:
                name = item
            if not isinstance(name, str) or name not in index:
                self.problem(iloc, f"unknown stage {name!r} (declared stages: {', '.join(index)})")
                continue
            pos = index[name]
            if pos <= last:
                self.problem(
                    iloc,
                    f"stages must follow the declared order ({' → '.join(index)}): {name!r} cannot come after {prev!r}",
                )
                continue
            last, prev = pos, name
            out.append(StageRequirement(name, override))
        return tuple(out)

    def _conditions(self, loc: Loc, when: Mapping[str, Any]) -> tuple[_Condition, ...]:
        if not when:
            self.problem(loc, "'when' is empty: say which requests the rule applies to (at least kind)")
            return ()
        out: list[_Condition] = []
        kinds: set[str] = set(REQUEST_KINDS)
        if "kind" in when:
            kv = when["kind"]
            kinds = set(kv if isinstance(kv, list) else [kv]) & set(REQUEST_KINDS) or kinds
        for name, value in when.items():
            floc = (*loc, name)
            fact = FACTS.get(name)
            if fact is None:
                self.problem(floc, f"unknown condition {name!r} (known: {', '.join(FACTS)})")
                continue
            if fact.kinds is not None and not (kinds & fact.kinds):
                self.problem(
                    floc,
                    f"{name!r} does not apply to kind {', '.join(sorted(kinds))} "
                    f"(it applies to: {', '.join(sorted(fact.kinds))})",
                )
                continue
            out.extend(self._condition(floc, name, fact, value))
        return tuple(out)

    def _condition(self, loc: Loc, name: str, fact: _Fact, value: Any) -> list[_Condition]:
        if isinstance(value, dict) and "missing" in value:
            if set(value) != {"missing"} or not isinstance(value["missing"], bool):
                self.problem(loc, "use {missing: true} or {missing: false} on its own")
                return []
            return [_Condition(name, "missing", value["missing"])]
        if fact.type == "number":
            return self._number(loc, name, value)
        if fact.type == "bool":
            if not isinstance(value, bool):
                self.problem(loc, f"{name} takes true or false, got {value!r}")
                return []
            return [_Condition(name, "is", value)]
        ops = ("any_of", "none_of") if fact.type == "roles" else ("in", "not_in")
        if isinstance(value, dict):
            bad = [k for k in value if k not in ops]
            if bad:
                self.problem((*loc, bad[0]), f"bad operator {bad[0]!r} for {name}; use one of: {', '.join(ops)}")
                return []
            if len(value) != 1:
                self.problem(loc, f"use exactly one operator for {name}: {' or '.join(ops)}")
                return []
            op, names = next(iter(value.items()))
            nloc = (*loc, op)
        else:
            op, names, nloc = ops[0], value, loc
        names = names if isinstance(names, list) else [names]
        if not names or not all(isinstance(n, str) for n in names):
            self.problem(nloc, f"{name} takes a name or a list of names (quote values like 'on' or 100)")
            return []
        allowed: Iterable[str] | None = fact.values
        what = name
        if name == "requester_role":
            allowed, what = self._known("role"), "role"
        elif name in ("department", "cost_center"):
            allowed = self._known(name)
        if allowed is not None:
            allowed = set(allowed)
            bad_names = [n for n in names if n not in allowed]
            if bad_names:
                self.problem(
                    nloc,
                    f"unknown {what} {', '.join(map(repr, bad_names))} (known {what}s: {', '.join(sorted(allowed))})",
                )
                return []
        return [_Condition(name, op, frozenset(names))]

    def _number(self, loc: Loc, name: str, value: Any) -> list[_Condition]:
        def num(v: Any, where: Loc) -> Decimal | None:
            if isinstance(v, bool) or not isinstance(v, int | float | Decimal):
                self.problem(where, f"{name} needs a number, got {v!r}")
                return None
            return Decimal(str(v))

        if not isinstance(value, dict):
            n = num(value, loc)
            return [] if n is None else [_Condition(name, "eq", n)]
        bad = [k for k in value if k not in _NUM_OPS]
        if bad:
            self.problem((*loc, bad[0]), f"bad operator {bad[0]!r} for {name}; use gt, gte, lt, lte or eq")
            return []
        if not value:
            self.problem(loc, f"{name}: empty range")
            return []
        out = []
        for op, v in value.items():
            n = num(v, (*loc, op))
            if n is not None:
                out.append(_Condition(name, op, n))
        lows = [c.value for c in out if c.op in ("gt", "gte", "eq")]
        highs = [c.value for c in out if c.op in ("lt", "lte", "eq")]
        if lows and highs and max(lows) > min(highs):
            self.problem(loc, f"{name}: the range can never match ({_range_text(out)})")
            return []
        return out


def _range_text(conds: Sequence[_Condition]) -> str:
    return ", ".join(f"{_NUM_OPS[c.op]} {_show(c.value)}" for c in conds)


def _pydantic_message(loc: Loc, err: Mapping[str, Any]) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    # Inside a rule/stage the prefix already names it; show the field path relative to it.
    if len(loc) >= 2 and loc[0] in ("rules", "stages") and isinstance(loc[1], int):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[2:]).lstrip(".")
    kind = err.get("type")
    if kind == "extra_forbidden":
        return f"unknown field {loc[-1]!r}" if loc else "unknown field"
    if kind == "missing":
        return f"missing required field {loc[-1]!r}" if loc else "missing required field"
    # pydantic speaks Python ("a valid dictionary or instance of _RuleSpec"); the file is YAML.
    msg = re.sub(r" or instance of \w+", "", str(err.get("msg", "invalid"))).replace("dictionary", "mapping")
    got = err.get("input")
    detail = f" (got {got!r})" if got is not None and not isinstance(got, dict | list) else ""
    return f"{path}: {msg}{detail}" if path else f"{msg}{detail}"


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


def load_default(directory: Directory | None = None) -> RoutingPolicy:
    """The demo company's policy (``policies/routing.yaml``)."""
    return RoutingPolicy.load(DEFAULT_POLICY, directory=directory)


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
