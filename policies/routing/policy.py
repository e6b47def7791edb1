"""The compiled routing policy: stages, rules, facts, and ``route()``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from policies.directory import Directory, Principal
from policies.requests import (
    AccessRequest,
    AnyRequest,
    DiscountRequest,
    ExpenseRequest,
    PurchaseRequest,
    TimeOffRequest,
)
from policies.routing.approvers import _resolve_stages
from policies.routing.compiler import _Compiler
from policies.routing.facts import AGGREGATED_FACTS, Rule, StageDef, StageRequirement
from policies.routing.model import (
    _CENT,
    DEFAULT_POLICY,
    FiredRule,
    Flag,
    RouteDecision,
    RoutingFileError,
    UnsupportedCurrency,
)

# --------------------------------------------------------------------------------------------
# The compiled policy


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
        return _Compiler(text, source, directory).compile(cls)

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


def load_default(directory: Directory | None = None) -> RoutingPolicy:
    """The demo company's policy (``policies/routing.yaml``)."""
    return RoutingPolicy.load(DEFAULT_POLICY, directory=directory)
