"""The demo company's routing rules, pinned case by case (routes, auto-approvals, flags).

Each case names a requester from the demo directory (Larkspur Systems), a request, and the
expected outcome. A stage is written ``covers=approvers``: ``manager=u_raj``,
``finance=u_dana|u_finn``, ``manager+cfo=u_marcus`` (a later stage merged into an earlier one
because the same person approves both). Today is Monday 2026-11-23 in every case.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from policies.directory import Directory, Principal
from policies.errors import UnknownPrincipal
from policies.requests import parse_request
from policies.routing import (
    DEFAULT_POLICY,
    RouteDecision,
    RoutingError,
    RoutingPolicy,
    UnsupportedCurrency,
    escalate_stage,
    explain,
    next_level,
    simulate,
)

TODAY = date(2026, 11, 23)  # a Monday
WEEKDAY = "2026-11-19"  # Thursday
SATURDAY = "2026-11-21"
SUNDAY = "2026-11-22"


# ---------------------------------------------------------------------------- request builders


def expense(
    amount: str,
    category: str = "meals",
    *,
    receipt: bool = True,
    day: str = WEEKDAY,
    currency: str = "USD",
    attendees: int | None = None,
) -> dict[str, Any]:
    req: dict[str, Any] = {
        "kind": "expense",
        "amount": amount,
        "currency": currency,
        "category": category,
        "date": day,
        "description": "test expense",
        "has_receipt": receipt,
    }
    if attendees is not None:
        req["attendees"] = attendees
    return req


def purchase(unit_price: str, quantity: int = 1, category: str = "software") -> dict[str, Any]:
    return {
        "kind": "purchase",
        "item": "thing",
        "quantity": quantity,
        "unit_price": unit_price,
        "category": category,
        "justification": "needed for work",
    }


def time_off(start: str, end: str, type_: str = "vacation") -> dict[str, Any]:
    return {"kind": "time_off", "start": start, "end": end, "type": type_}


def discount(percent: str, deal_amount: str | None = "50000") -> dict[str, Any]:
    req: dict[str, Any] = {
        "kind": "discount",
        "deal_id": "deal-42",
        "discount_percent": percent,
        "reason": "renewal at risk",
    }
    if deal_amount is not None:
        req["deal_amount"] = deal_amount
    return req


def access(system: str, level: str = "read") -> dict[str, Any]:
    return {"kind": "access", "system": system, "access_level": level, "justification": "my job"}


# ---------------------------------------------------------------------------- directories


def away(**who: str | None) -> Callable[[Directory], Directory]:
    """A directory where each named person is away (until 2026-12-04) with the given delegate."""

    def build(base: Directory) -> Directory:
        people = []
        for p in base:
            if p.id in who:
                p = replace(p, away_until=date(2026, 12, 4), delegate=who[p.id])
            people.append(p)
        return Directory(people, base.company)

    return build


# ---------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    id: str
    requester: str
    request: dict[str, Any]
    route: list[str] = field(default_factory=list)  # empty: auto-approved
    flags: set[str] = field(default_factory=set)
    fired: set[str] = field(default_factory=set)  # rule ids that must have fired (subset)
    amount_usd: str | None = None
    directory: Callable[[Directory], Directory] | None = None
    policy: str = "demo"
    default_route: bool = False

    @property
    def auto(self) -> bool:
        return not self.route


FIN = "finance=u_dana|u_finn"

CASES = [
    # ------------------------------------------------------------------ expenses: auto-approval
    Case("exp-20-meal-receipt-auto", "u_alice", expense("20"), fired={"expense-auto"}),
    # At $25 or less no receipt is required (no flag), but without one nothing is automatic.
    Case(
        "exp-20-meal-no-receipt-manager",
        "u_alice",
        expense("20", receipt=False),
        ["manager=u_raj"],
        fired={"expense-no-receipt"},
    ),
    Case("exp-25-no-receipt-boundary-no-flag", "u_alice", expense("25", "travel", receipt=False), ["manager=u_raj"]),
    Case(
        "exp-25.01-no-receipt-flagged",
        "u_alice",
        expense("25.01", "travel", receipt=False),
        ["manager=u_raj"],
        {"missing_receipt"},
    ),
    Case("exp-100-office-receipt-boundary-auto", "u_alice", expense("100", "office_supplies"), fired={"expense-auto"}),
    Case("exp-100.01-office-manager", "u_alice", expense("100.01", "office_supplies"), ["manager=u_raj"]),
    Case("exp-10-other-category-manager", "u_alice", expense("10", "other"), ["manager=u_raj"]),
    Case("exp-50-training-manager", "u_alice", expense("50", "training"), ["manager=u_raj"]),
    Case("exp-60-weekday-travel-auto", "u_alice", expense("60", "travel")),
    Case("exp-30-weekend-meal-auto", "u_alice", expense("30", "meals", day=SATURDAY)),
    # ------------------------------------------------------------------ expenses: amount tiers
    Case("exp-1000-travel-manager-only", "u_alice", expense("1000", "travel"), ["manager=u_raj"]),
    Case("exp-1000.01-finance", "u_alice", expense("1000.01", "travel"), ["manager=u_raj", FIN]),
    Case("exp-10000-finance-no-cfo", "u_alice", expense("10000", "training"), ["manager=u_raj", FIN]),
    Case(
        "exp-10000.01-cfo",
        "u_alice",
        expense("10000.01", "training"),
        ["manager=u_raj", FIN, "cfo=u_marcus"],
        fired={"expense-cfo"},
    ),
    Case("exp-client-ent-250-manager", "u_bob", expense("250", "client_entertainment"), ["manager=u_raj"]),
    Case(
        "exp-client-ent-250.01-finance",
        "u_bob",
        expense("250.01", "client_entertainment"),
        ["manager=u_raj", FIN],
        fired={"expense-client-entertainment"},
    ),
    # ------------------------------------------------------------------ expenses: exception flags
    Case(
        "exp-weekend-travel-flag",
        "u_alice",
        expense("60", "travel", day=SATURDAY),
        ["manager=u_raj"],
        {"weekend_travel"},
        fired={"expense-auto", "expense-weekend-travel"},
    ),
    Case(
        "exp-weekend-lodging-flag",
        "u_devon",
        expense("300", "lodging", day=SUNDAY),
        ["manager=u_carmen"],
        {"weekend_travel"},
    ),
    Case("exp-meal-84-alone-cap", "u_alice", expense("84"), ["manager=u_raj"], {"meal_cap"}),
    Case("exp-meal-84-two-people-auto", "u_alice", expense("84", attendees=2)),
    Case("exp-meal-300-four-at-cap", "u_alice", expense("300", attendees=4), ["manager=u_raj"]),
    Case("exp-meal-301-four-over-cap", "u_alice", expense("301", attendees=4), ["manager=u_raj"], {"meal_cap"}),
    Case(
        "exp-500-missing-receipt",
        "u_alice",
        expense("500", "travel", receipt=False),
        ["manager=u_raj"],
        {"missing_receipt"},
    ),
    Case(
        "exp-2000-missing-receipt-weekend",
        "u_erin",
        expense("2000", "lodging", receipt=False, day=SUNDAY),
        ["manager=u_tom", FIN],
        {"missing_receipt", "weekend_travel"},
    ),
    # ------------------------------------------------------------------ expenses: currency
    Case("exp-eur-92-under-limit-auto", "u_alice", expense("92", "software", currency="EUR"), amount_usd="99.36"),
    Case(
        "exp-eur-95-over-limit",
        "u_alice",
        expense("95", "software", currency="EUR"),
        ["manager=u_raj"],
        amount_usd="102.60",
    ),
    Case(
        "exp-gbp-8000-cfo",
        "u_alice",
        expense("8000", "training", currency="gbp"),
        ["manager=u_raj", FIN, "cfo=u_marcus"],
        amount_usd="10160.00",
    ),
    # ------------------------------------------------------------------ purchases
    Case("pur-2499.99-manager", "u_erin", purchase("2499.99"), ["manager=u_tom"]),
    Case("pur-2500-procurement", "u_erin", purchase("1250", 2), ["manager=u_tom", "procurement=u_omar"]),
    Case("pur-25000-no-cfo", "u_erin", purchase("25000", category="services"), ["manager=u_tom", "procurement=u_omar"]),
    Case(
        "pur-25000.01-cfo",
        "u_erin",
        purchase("25000.01", category="furniture"),
        ["manager=u_tom", "procurement=u_omar", "cfo=u_marcus"],
    ),
    Case(
        "pur-3-laptops-it",
        "u_tom",
        purchase("1800", 3, "it_hardware"),
        ["manager=u_grace", "it=u_ken", "procurement=u_omar"],
        amount_usd="5400.00",
    ),
    Case("pur-monitor-it-small", "u_erin", purchase("300", 1, "it_hardware"), ["manager=u_tom", "it=u_ken"]),
    # ------------------------------------------------------------------ time off
    Case("pto-3-days-7-ahead-auto", "u_alice", time_off("2026-11-30", "2026-12-02"), fired={"timeoff-auto"}),
    Case("pto-2-days-6-ahead-manager", "u_alice", time_off("2026-11-29", "2026-12-01"), ["manager=u_raj"]),
    Case("pto-4-days-manager", "u_alice", time_off("2027-01-04", "2027-01-07"), ["manager=u_raj"]),
    Case("pto-10-business-days-manager", "u_alice", time_off("2027-01-04", "2027-01-15"), ["manager=u_raj"]),
    Case(
        "pto-11-business-days-hr",
        "u_alice",
        time_off("2027-01-04", "2027-01-18"),
        ["manager=u_raj", "hr=u_hannah"],
        fired={"timeoff-hr"},
    ),
    # Dec 22 – Jan 2 is 12 calendar days but only 3 business days: the office is closed from
    # Christmas to New Year and those days do not count (handbook, time-off policy).
    Case("pto-dec22-jan2-closure-auto", "u_erin", time_off("2026-12-22", "2027-01-02"), fired={"timeoff-auto"}),
    Case("pto-dec21-jan2-closure-4-days", "u_erin", time_off("2026-12-21", "2027-01-02"), ["manager=u_tom"]),
    Case(
        "parental-short-notice",
        "u_ivan",
        time_off("2027-01-04", "2027-04-23", "parental"),
        ["manager=u_hannah", "hr=u_olivia"],
        {"parental_leave_notice", "separation_of_duties"},
    ),
    Case(
        "parental-8-weeks-notice",
        "u_erin",
        time_off("2027-02-01", "2027-05-21", "parental"),
        ["manager=u_tom", "hr=u_hannah"],
    ),
    Case("sick-today-manager", "u_erin", time_off("2026-11-23", "2026-11-23", "sick"), ["manager=u_tom"]),
    # ------------------------------------------------------------------ discounts (never automatic)
    Case("disc-5-manager", "u_alice", discount("5"), ["manager=u_raj"]),
    Case("disc-10-manager", "u_alice", discount("10"), ["manager=u_raj"]),
    Case("disc-10.5-vp", "u_alice", discount("10.5"), ["manager=u_raj", "vp_sales=u_sofia"]),
    Case("disc-20-vp", "u_devon", discount("20"), ["manager=u_carmen", "vp_sales=u_sofia"]),
    Case(
        "disc-20.5-cfo",
        "u_devon",
        discount("20.5"),
        ["manager=u_carmen", "vp_sales=u_sofia", "cfo=u_marcus"],
    ),
    Case("disc-deal-100k-no-finance", "u_alice", discount("5", "100000"), ["manager=u_raj"]),
    Case("disc-deal-100k.01-finance", "u_alice", discount("5", "100000.01"), ["manager=u_raj", FIN]),
    Case(
        "disc-deal-amount-unknown",
        "u_alice",
        discount("5", None),
        ["manager=u_raj", FIN],
        {"deal_amount_unknown"},
    ),
    # ------------------------------------------------------------------ access
    Case("acc-crm-read", "u_erin", access("crm"), ["manager=u_tom", "it=u_ken"]),
    Case(
        "acc-payroll-owner",
        "u_erin",
        access("payroll"),
        ["manager=u_tom", "it=u_ken", "system_owner=u_marcus"],
        fired={"access-payroll"},
    ),
    Case(
        "acc-production-db-owner",
        "u_alice",
        access("Production_DB", "write"),
        ["manager=u_raj", "it=u_ken", "system_owner=u_grace"],
    ),
    # Grace is both Tom's manager and the owner of production_db: one person decides one stage,
    # so the owner stage goes up the chain (the CEO).
    Case(
        "acc-production-db-merged",
        "u_tom",
        access("production_db"),
        ["manager=u_grace", "it=u_ken", "system_owner=u_olivia"],
        {"separation_of_duties"},
    ),
    Case(
        "acc-payroll-by-finance",
        "u_dana",
        access("payroll"),
        ["manager=u_marcus", "it=u_ken", "system_owner=u_olivia"],
        {"separation_of_duties"},
    ),
    # The owner of payroll asks for payroll access: his manager (the CEO) is the manager stage;
    # the chain has nobody left, so the owner stage goes to a fallback approver (an exec).
    Case(
        "sod-payroll-owner-own-access",
        "u_marcus",
        access("payroll", "admin"),
        ["manager=u_olivia", "it=u_ken", "system_owner=u_sofia"],
        {"separation_of_duties"},
    ),
    # ------------------------------------------------------------------ separation of duties
    # Raj's manager is the VP Sales: she decides one stage; the other goes up the chain.
    Case(
        "sod-raj-discount-15",
        "u_raj",
        discount("15"),
        ["manager=u_sofia", "vp_sales=u_olivia"],
        {"separation_of_duties"},
    ),
    # The VP Sales cannot approve her own discount; her manager (the CEO) is the manager stage and
    # the chain runs out: the fallback approver (the CFO) decides the VP stage. Two people.
    Case(
        "sod-sofia-own-discount",
        "u_sofia",
        discount("15"),
        ["manager=u_olivia", "vp_sales=u_marcus"],
        {"separation_of_duties"},
    ),
    # Dana is a finance approver; Finn reports to her: the finance stage goes above her manager.
    Case(
        "sod-dana-expense-finance",
        "u_dana",
        expense("5000", "training"),
        ["manager=u_marcus", "finance=u_olivia"],
        {"separation_of_duties"},
    ),
    Case(
        "sod-dana-expense-cfo-merged",
        "u_dana",
        expense("12000", "training"),
        ["manager=u_marcus", "finance=u_olivia", "cfo=u_sofia"],
        {"separation_of_duties"},
    ),
    # Finn is removed from the finance group; Dana (his manager) decides the manager stage, so
    # finance goes up the chain to the CFO.
    Case(
        "sod-finn-expense",
        "u_finn",
        expense("5000", "training"),
        ["manager=u_dana", "finance=u_marcus"],
        {"separation_of_duties"},
    ),
    # The CFO's own purchase: three stages, three different people (CEO, then two execs).
    Case(
        "sod-cfo-own-purchase",
        "u_marcus",
        purchase("30000", category="services"),
        ["manager=u_olivia", "procurement=u_sofia", "cfo=u_grace"],
        {"separation_of_duties"},
    ),
    Case(
        "sod-procurement-own-purchase",
        "u_omar",
        purchase("5000", category="furniture"),
        ["manager=u_marcus", "procurement=u_olivia"],
        {"separation_of_duties"},
    ),
    Case(
        "sod-it-admin-own-access",
        "u_ken",
        access("github", "admin"),
        ["manager=u_grace", "it=u_olivia"],
        {"separation_of_duties"},
    ),
    Case(
        "sod-hr-director-long-leave",
        "u_hannah",
        time_off("2027-01-04", "2027-01-22"),
        ["manager=u_olivia", "hr=u_marcus"],
        {"separation_of_duties"},
    ),
    # The CEO has no manager: the policy's fallback approver (the CFO) approves.
    Case("sod-ceo-expense-fallback", "u_olivia", expense("500", "other"), ["manager=u_marcus"], {"no_approver"}),
    # ------------------------------------------------------------------ delegation
    Case(
        "deleg-manager-away",
        "u_alice",
        expense("500", "other"),
        ["manager=u_carmen"],
        {"delegated"},
        directory=away(u_raj="u_carmen"),
    ),
    # Raj's delegate is the requester herself: no delegation, the away manager stays (flagged).
    Case(
        "deleg-delegate-is-requester",
        "u_alice",
        expense("500", "other"),
        ["manager=u_raj"],
        {"approver_away"},
        directory=away(u_raj="u_alice"),
    ),
    Case(
        "deleg-cfo-away",
        "u_alice",
        expense("15000", "training"),
        ["manager=u_raj", FIN, "cfo=u_marcus"],
        {"approver_away"},
        directory=away(u_marcus="u_dana"),
    ),
    # Dana away without a delegate: Finn alone covers the "any one of" finance stage.
    Case(
        "deleg-finance-member-away-no-delegate",
        "u_alice",
        expense("5000", "training"),
        ["manager=u_raj", "finance=u_finn"],
        directory=away(u_dana=None),
    ),
    Case(
        "deleg-it-admin-away",
        "u_erin",
        access("crm"),
        ["manager=u_tom", "it=u_grace"],
        {"delegated"},
        directory=away(u_ken="u_grace"),
    ),
    # A delegate who reports to the requester is not eligible either.
    Case(
        "deleg-delegate-reports-to-requester",
        "u_tom",
        expense("500", "other"),
        ["manager=u_grace"],
        {"approver_away"},
        directory=away(u_grace="u_erin"),
    ),
    # ------------------------------------------------------------------ default route
    Case(
        "default-no-rule-matched",
        "u_erin",
        access("crm"),
        ["manager=u_tom", FIN],
        {"default_route"},
        policy="no_access_rules",
        default_route=True,
    ),
    Case(
        "default-no-rule-never-auto",
        "u_alice",
        access("crm"),
        ["manager=u_raj", FIN],
        {"default_route"},
        policy="no_access_rules",
        default_route=True,
    ),
    # An auto-approve rule fired, but a flag-only rule blocked it and set no route.
    Case(
        "default-auto-blocked-by-flag",
        "u_alice",
        expense("60", "travel", day=SATURDAY),
        ["manager=u_raj", FIN],
        {"weekend_travel", "default_route"},
        policy="flag_only_weekend",
        default_route=True,
    ),
]


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory.load()


@pytest.fixture(scope="module")
def policies(directory: Directory) -> dict[str, RoutingPolicy]:
    raw = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    no_access = dict(raw, rules=[r for r in raw["rules"] if not r["id"].startswith("access-")])
    flag_only = dict(raw)
    rules = []
    for r in raw["rules"]:
        if r["id"] == "expense-weekend-travel":
            r = {k: v for k, v in r.items() if k != "require"}
        rules.append(r)
    flag_only["rules"] = rules
    return {
        "demo": RoutingPolicy.load(DEFAULT_POLICY, directory=directory),
        "no_access_rules": RoutingPolicy.from_text(yaml.safe_dump(no_access), directory=directory),
        "flag_only_weekend": RoutingPolicy.from_text(yaml.safe_dump(flag_only), directory=directory),
    }


def _route(case: Case, directory: Directory, policies: dict[str, RoutingPolicy]) -> tuple[RouteDecision, Directory]:
    d = case.directory(directory) if case.directory else directory
    decision = policies[case.policy].route(parse_request(case.request), d.get(case.requester), d, today=TODAY)
    return decision, d


def _stage_text(decision: RouteDecision) -> list[str]:
    return ["+".join(s.covers) + "=" + "|".join(s.approvers) for s in decision.stages]


# ---------------------------------------------------------------------------- the table test


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_routing_table(case: Case, directory: Directory, policies: dict[str, RoutingPolicy]) -> None:
    decision, d = _route(case, directory, policies)

    assert _stage_text(decision) == case.route, explain(decision, d)
    assert decision.auto_approved is case.auto
    assert set(decision.flag_codes()) == case.flags, explain(decision, d)
    assert case.fired <= {r.id for r in decision.fired}
    assert decision.default_route_used is case.default_route
    if case.amount_usd is not None:
        assert decision.amount_usd == Decimal(case.amount_usd)

    # Invariants that hold for every request.
    if decision.auto_approved:
        assert not decision.stages and not decision.flags
        assert any(r.effect == "auto-approve" for r in decision.fired)
    else:
        assert decision.stages, "a request that is not auto-approved always has a route"
    for stage in decision.stages:
        assert stage.approvers, f"empty stage {stage.name}"
        assert case.requester not in stage.approvers, "nobody approves their own request"
        if d.get(case.requester).manager is not None:  # everyone reports to the CEO
            assert not any(d.is_above(case.requester, a) for a in stage.approvers), "subordinate approver"
    if decision.kind == "discount":
        assert not decision.auto_approved


# ---------------------------------------------------------------------------- explanations and shape


def _decide(policy: RoutingPolicy, directory: Directory, who: str, request: dict[str, Any]) -> RouteDecision:
    return policy.route(parse_request(request), directory.get(who), directory, today=TODAY)


def test_decision_is_json_serialisable_and_round_trips(
    directory: Directory, policies: dict[str, RoutingPolicy]
) -> None:
    decision = _decide(policies["demo"], directory, "u_dana", expense("12000", "travel", currency="EUR", day=SATURDAY))
    data = json.loads(decision.model_dump_json())
    assert data["policy_version"] == "2026-11-01"
    assert data["amount_usd"] == "12960.00"
    assert data["facts"]["weekend"] is True and data["facts"]["currency"] == "EUR"
    assert [s["name"] for s in data["stages"]] == ["manager", "finance", "cfo"]
    assert {f["code"] for f in data["flags"]} == {"weekend_travel", "separation_of_duties"}
    assert "static rate 1.08" in data["notes"][0]
    again = RouteDecision.model_validate_json(decision.model_dump_json())
    assert again.model_dump(mode="json") == data
    assert again.stages == decision.stages and again.flags == decision.flags


def test_decision_is_frozen(directory: Directory, policies: dict[str, RoutingPolicy]) -> None:
    decision = _decide(policies["demo"], directory, "u_alice", expense("20"))
    with pytest.raises(Exception, match="frozen"):
        decision.auto_approved = False


def test_explain_names_route_flags_and_rules(directory: Directory, policies: dict[str, RoutingPolicy]) -> None:
    decision = _decide(policies["demo"], directory, "u_dana", expense("5000", "lodging", day=SUNDAY))
    text = explain(decision, directory)
    assert "needs approval, 2 stage(s)" in text
    assert "1. manager: any one of Marcus Reid (u_marcus)" in text
    assert "2. finance [escalated]: any one of Olivia Hart (u_olivia)" in text
    assert "weekend_travel: weekend travel must be justified" in text
    assert "Finn Osei reports to Dana Whitfield" in text
    assert "expense-finance: kind = expense; amount_usd 5000.00 > 1000" in text

    auto = explain(_decide(policies["demo"], directory, "u_alice", expense("84", attendees=2)))
    assert "AUTO-APPROVED" in auto and "expense-auto" in auto and "u_alice" in auto


def test_stage_reason_and_sla_come_from_the_policy(directory: Directory, policies: dict[str, RoutingPolicy]) -> None:
    decision = _decide(policies["demo"], directory, "u_alice", expense("1500", "training"))
    finance = decision.stages[1]
    assert finance.name == "finance" and finance.mode == "any" and finance.sla_hours == 72
    assert finance.required_by == ("expense-finance",)
    assert finance.reason == "expense-finance (amount_usd 1500.00 > 1000)"


def test_unknown_currency_is_refused_not_guessed(directory: Directory, policies: dict[str, RoutingPolicy]) -> None:
    with pytest.raises(UnsupportedCurrency, match=r"no exchange rate for 'CHF'.*supported: AUD, CAD, EUR"):
        _decide(policies["demo"], directory, "u_alice", expense("20", currency="CHF"))


def test_time_off_facts(directory: Directory, policies: dict[str, RoutingPolicy]) -> None:
    facts = policies["demo"].facts(
        parse_request(time_off("2026-12-22", "2027-01-02")), directory.get("u_erin"), today=TODAY
    )
    assert (facts["days"], facts["business_days"], facts["notice_days"]) == (12, 3, 29)


def test_all_of_stage_keeps_everyone_but_the_requester(directory: Directory) -> None:
    text = DEFAULT_POLICY.read_text(encoding="utf-8").replace(
        "{name: finance,      mode: any,", "{name: finance,      mode: all,"
    )
    policy = RoutingPolicy.from_text(text, directory=directory)
    alice = _decide(policy, directory, "u_alice", expense("5000", "training"))
    assert alice.stages[1].mode == "all" and alice.stages[1].approvers == ("u_dana", "u_finn")
    finn = _decide(policy, directory, "u_finn", expense("5000", "training"))
    # Dana decides the manager stage, so she cannot also be the whole "all" finance stage.
    assert _stage_text(finn) == ["manager=u_dana", "finance=u_marcus"]


@pytest.mark.parametrize(
    ("requester", "request_", "why"),
    [
        ("u_sofia", discount("15"), "the VP Sales' own large discount"),
        ("u_hannah", time_off("2027-01-04", "2027-01-22"), "the HR head's own long leave"),
        ("u_raj", discount("15"), "a manager whose manager is also the VP stage"),
        ("u_marcus", purchase("30000", category="services"), "the CFO's own large purchase"),
        ("u_tom", access("production_db"), "the manager who is also the system owner"),
    ],
)
def test_one_person_decides_at_most_one_stage(
    directory: Directory, policies: dict[str, RoutingPolicy], requester: str, request_: dict, why: str
) -> None:
    decision = _decide(policies["demo"], directory, requester, request_)
    people = [a for s in decision.stages for a in s.approvers]
    assert len(decision.stages) >= 2, why
    assert len(people) == len(set(people)), f"{why}: {_stage_text(decision)}"
    assert requester not in people
    assert "separation_of_duties" in decision.flag_codes()


def test_nobody_eligible_is_an_error_not_an_empty_stage() -> None:
    solo = Directory(
        [
            Principal(
                id="u_solo",
                name="Solo Founder",
                email="solo@x.example",
                department="Executive",
                roles=frozenset({"cfo"}),
            )
        ]
    )
    policy = RoutingPolicy.load(DEFAULT_POLICY)  # no directory: references are not checked
    with pytest.raises(RoutingError, match="no eligible approver"):
        policy.route(parse_request(expense("500", "other")), solo.get("u_solo"), solo, today=TODAY)


def test_shipped_policy_loads_with_the_directory(directory: Directory) -> None:
    policy = RoutingPolicy.load(DEFAULT_POLICY, directory=directory)
    assert policy.version == "2026-11-01"
    assert policy.stages[0].name == "manager"
    assert {r.id for r in policy.rules} >= {"expense-auto", "purchase-cfo", "timeoff-hr", "discount-cfo"}
    assert policy.default_route[0].stage == "manager"


# ---------------------------------------------------------------------------- the condition language

CONDITIONS_POLICY = """\
version: test-1
fx_to_usd: {as_of: 2026-11-01, rates: {USD: 1, EUR: 1.08}}
stages: [{name: manager, approvers: [manager]}]
fallback_approvers: [role:cfo]
default_route: {require: [manager], flag: {code: default_route, message: none matched}}
rules:
  - {id: every-kind, when: {kind: [expense, purchase, time_off, discount, access]}, require: [manager]}
  - {id: sales, when: {department: Sales}, flag: {code: dept_sales, message: m}}
  - {id: eng-cc, when: {cost_center: [CC-610, CC-620]}, flag: {code: eng_cc, message: m}}
  - {id: role-any, when: {requester_role: [cfo, it_admin]}, flag: {code: role_any, message: m}}
  - {id: role-none, when: {requester_role: {none_of: [employee]}}, flag: {code: not_employee, message: m}}
  - {id: foreign, when: {kind: expense, currency: {not_in: [USD]}}, flag: {code: foreign, message: m}}
  - id: cloud-admin
    when: {kind: access, access_level: admin, system: {in: [aws, github]}}
    flag: {code: cloud_admin, message: m}
  - {id: ongoing, when: {kind: access, duration_days: {missing: true}}, flag: {code: ongoing, message: m}}
  - {id: parental, when: {kind: time_off, time_off_type: parental}, flag: {code: parental, message: m}}
  - {id: three, when: {kind: purchase, quantity: 3}, flag: {code: three, message: m}}
  - {id: mid, when: {kind: discount, discount_percent: {gte: 5, lt: 15}}, flag: {code: mid, message: m}}
"""


@pytest.mark.parametrize(
    ("requester", "request_", "expected"),
    [
        pytest.param("u_alice", expense("20"), {"dept_sales"}, id="department"),
        pytest.param("u_casey", expense("20", currency="EUR"), {"eng_cc", "not_employee", "foreign"}, id="contractor"),
        pytest.param("u_marcus", expense("20"), {"role_any"}, id="role-any-of"),
        pytest.param("u_ken", access("github", "admin"), {"eng_cc", "role_any", "cloud_admin", "ongoing"}, id="admin"),
        pytest.param(
            "u_erin", {**access("github", "admin"), "duration_days": 30}, {"eng_cc", "cloud_admin"}, id="duration-given"
        ),
        pytest.param("u_erin", access("crm", "admin"), {"eng_cc", "ongoing"}, id="system-not-listed"),
        pytest.param("u_ivan", time_off("2027-02-01", "2027-05-01", "parental"), {"parental"}, id="leave-type"),
        pytest.param("u_omar", purchase("10", 3), {"three"}, id="number-eq"),
        pytest.param("u_omar", purchase("10", 4), set(), id="number-eq-miss"),
        pytest.param("u_bob", discount("5"), {"dept_sales", "mid"}, id="range-low-inclusive"),
        pytest.param("u_bob", discount("15"), {"dept_sales"}, id="range-high-exclusive"),
    ],
)
def test_condition_operators(
    directory: Directory, requester: str, request_: dict[str, Any], expected: set[str]
) -> None:
    policy = RoutingPolicy.from_text(CONDITIONS_POLICY, directory=directory)
    decision = _decide(policy, directory, requester, request_)
    assert set(decision.flag_codes()) == expected
    assert not decision.default_route_used and decision.stages[0].name == "manager"


# ---------------------------------------------------------------------------- SLA escalation helpers


@pytest.mark.parametrize(
    ("requester", "approvers", "dir_", "expected"),
    [
        pytest.param("u_alice", ["u_raj"], None, ["u_sofia"], id="manager-up"),
        pytest.param("u_alice", ["u_dana", "u_finn"], None, ["u_marcus"], id="group-up"),
        pytest.param("u_alice", ["u_olivia"], None, [], id="top"),
        pytest.param("u_sofia", ["u_raj"], None, ["u_olivia"], id="skips-the-requester"),
        pytest.param("u_alice", ["u_raj"], away(u_sofia="u_carmen"), ["u_carmen"], id="delegate"),
        pytest.param("u_alice", ["u_raj"], away(u_sofia="u_alice"), ["u_sofia"], id="delegate-is-requester"),
    ],
)
def test_next_level(
    directory: Directory,
    requester: str,
    approvers: list[str],
    dir_: Callable[[Directory], Directory] | None,
    expected: list[str],
) -> None:
    d = dir_(directory) if dir_ else directory
    assert next_level(approvers, d.get(requester), d, today=TODAY) == expected


def test_escalate_stage_widens_the_stage(directory: Directory, policies: dict[str, RoutingPolicy]) -> None:
    decision = _decide(policies["demo"], directory, "u_alice", expense("5000", "training"))
    manager, finance = decision.stages
    up = escalate_stage(finance, directory.get("u_alice"), directory, today=TODAY)
    assert up is not None
    assert (up.name, up.mode, up.approvers, up.escalated) == ("finance", "any", ("u_dana", "u_finn", "u_marcus"), True)
    assert up.notes[-1] == "SLA lapsed: escalated to Marcus Reid"
    top = escalate_stage(
        manager.model_copy(update={"approvers": ("u_olivia",)}), directory.get("u_alice"), directory, today=TODAY
    )
    assert top is None


# ---------------------------------------------------------------------------- simulate


def test_simulate_routes_a_json_payload(directory: Directory, policies: dict[str, RoutingPolicy]) -> None:
    payload = json.loads(
        json.dumps({"requester": "u_alice", "today": "2026-11-01", "request": time_off("2026-11-30", "2026-12-02")})
    )
    decision = simulate(payload, policies["demo"], directory, today=TODAY)
    assert decision.auto_approved and decision.facts["notice_days"] == 29
    # Without "today" the caller's date is used: 7 days' notice is still enough.
    del payload["today"]
    assert simulate(payload, policies["demo"], directory, today=TODAY).auto_approved


def test_simulate_rejects_bad_payloads(directory: Directory, policies: dict[str, RoutingPolicy]) -> None:
    with pytest.raises(ValueError, match="requester"):
        simulate({"request": expense("20")}, policies["demo"], directory, today=TODAY)
    with pytest.raises(UnknownPrincipal):
        simulate({"requester": "u_nobody", "request": expense("20")}, policies["demo"], directory, today=TODAY)
    with pytest.raises(ValidationError):
        simulate({"requester": "u_alice", "request": {"kind": "expense"}}, policies["demo"], directory, today=TODAY)
