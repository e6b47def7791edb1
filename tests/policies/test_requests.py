"""Request kinds: what the model must fill, what it may not invent, and what to ask for."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from policies.requests import (
    REQUEST_KINDS,
    AccessRequest,
    DiscountRequest,
    ExpenseRequest,
    PurchaseRequest,
    TimeOffRequest,
    field_question,
    missing_fields,
    parse_request,
    request_model,
)

VALID: dict[str, dict[str, Any]] = {
    "expense": {
        "kind": "expense",
        "amount": "84.00",
        "category": "client_entertainment",
        "date": "2026-11-22",
        "description": "client lunch with Acme",
        "has_receipt": True,
        "attendees": 2,
        "merchant": "Bistro 9",
    },
    "purchase": {
        "kind": "purchase",
        "item": "14-inch laptop, 32 GB",
        "quantity": 3,
        "unit_price": "1799.99",
        "category": "it_hardware",
        "justification": "three new hires start in December",
        "needed_by": "2026-12-01",
    },
    "time_off": {"kind": "time_off", "start": "2026-12-22", "end": "2027-01-02", "type": "vacation"},
    "discount": {"kind": "discount", "deal_id": "9001", "discount_percent": 15, "reason": "Acme renewal at risk"},
    "access": {"kind": "access", "system": "payroll", "access_level": "read", "justification": "year-end audit"},
}
CLASSES = {
    "expense": ExpenseRequest,
    "purchase": PurchaseRequest,
    "time_off": TimeOffRequest,
    "discount": DiscountRequest,
    "access": AccessRequest,
}


def with_(kind_: str, /, **changes: Any) -> dict[str, Any]:
    return {**VALID[kind_], **changes}


def errors_of(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        parse_request(data)
    return str(info.value)


@pytest.mark.parametrize("kind", REQUEST_KINDS)
def test_union_picks_the_model_for_the_kind(kind: str) -> None:
    request = parse_request(VALID[kind])
    assert type(request) is CLASSES[kind] is request_model(kind)
    assert request.kind == kind


@pytest.mark.parametrize("kind", REQUEST_KINDS)
def test_every_field_is_described_and_extras_are_refused(kind: str) -> None:
    schema = request_model(kind).model_json_schema()
    assert schema["additionalProperties"] is False
    undocumented = [name for name, prop in schema["properties"].items() if not prop.get("description")]
    assert undocumented == []
    assert "Extra inputs are not permitted" in errors_of(with_(kind, invented_field=1))


def test_money_defaults_and_normalisation() -> None:
    expense = parse_request(with_("expense", currency=" eur "))
    assert isinstance(expense, ExpenseRequest)
    assert expense.money() == (Decimal("84.00"), "EUR")
    assert parse_request(VALID["discount"]).money() is None  # deal amount not known yet
    purchase = parse_request(VALID["purchase"])
    assert isinstance(purchase, PurchaseRequest)
    assert purchase.total == Decimal("5399.97") and purchase.money() == (Decimal("5399.97"), "USD")
    assert parse_request(VALID["time_off"]).money() is None


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        pytest.param(with_("expense", amount="0"), "greater than 0", id="zero-amount"),
        pytest.param(with_("expense", amount="-5"), "greater than 0", id="negative-amount"),
        pytest.param(with_("expense", amount="10.005"), "decimal places", id="sub-cent"),
        pytest.param(with_("expense", currency="EURO"), "pattern", id="currency-four-letters"),
        pytest.param(with_("expense", category="snacks"), "meals", id="unknown-category"),
        pytest.param(with_("expense", attendees=0), "greater than or equal to 1", id="no-attendees"),
        pytest.param(with_("expense", description="   "), "at least 1 character", id="blank-description"),
        pytest.param(with_("purchase", quantity=0), "greater than or equal to 1", id="zero-quantity"),
        pytest.param(with_("purchase", category="snacks"), "it_hardware", id="purchase-category"),
        pytest.param(with_("time_off", end="2026-12-01"), "end (2026-12-01) is before start", id="end-before-start"),
        pytest.param(with_("time_off", type="sabbatical"), "vacation", id="unknown-leave-type"),
        pytest.param(with_("discount", discount_percent=0), "greater than 0", id="zero-discount"),
        pytest.param(with_("discount", discount_percent="60.01"), "less than or equal to 60", id="over-60"),
        pytest.param(with_("discount", deal_id=""), "at least 1 character", id="empty-deal-id"),
        pytest.param(with_("access", access_level="root"), "admin", id="unknown-level"),
        pytest.param(with_("access", system="prod db!"), "pattern", id="bad-system-name"),
        pytest.param(with_("access", duration_days=400), "less than or equal to 365", id="too-long"),
        pytest.param(with_("expense", kind="refund"), "does not match any of the expected tags", id="unknown-kind"),
    ],
)
def test_invalid_values_are_refused(data: dict[str, Any], problem: str) -> None:
    assert problem in errors_of(data)


def test_boundaries_that_are_allowed() -> None:
    assert parse_request(with_("discount", discount_percent=60)).discount_percent == 60  # type: ignore[union-attr]
    one_day = parse_request(with_("time_off", end="2026-12-22"))
    assert isinstance(one_day, TimeOffRequest) and one_day.start == one_day.end == date(2026, 12, 22)
    access = parse_request(with_("access", system="Production_DB"))
    assert isinstance(access, AccessRequest) and access.system == "production_db"


@pytest.mark.parametrize(
    ("kind", "partial", "missing"),
    [
        ("expense", {}, ["amount", "category", "date", "description", "has_receipt"]),
        ("expense", {"amount": 84, "description": "client lunch"}, ["category", "date", "has_receipt"]),
        # A blank string or an explicit null is not an answer.
        ("expense", {**VALID["expense"], "description": "  ", "date": None}, ["date", "description"]),
        # has_receipt=False is an answer, not a missing field.
        ("expense", {**VALID["expense"], "has_receipt": False}, []),
        ("purchase", {"item": "laptop", "quantity": 3}, ["unit_price", "category", "justification"]),
        ("time_off", {"start": "2026-12-22"}, ["end", "type"]),
        # deal_amount is filled from the CRM by the tool, never asked for.
        ("discount", {"deal_id": "9001"}, ["discount_percent", "reason"]),
        ("access", {"system": "crm"}, ["access_level", "justification"]),
    ],
)
def test_missing_fields_lists_what_to_ask(kind: str, partial: dict[str, Any], missing: list[str]) -> None:
    assert missing_fields(kind, partial) == missing


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown request kind 'refund'; use one of: expense, purchase"):
        missing_fields("refund", {})


def test_field_question_uses_the_description() -> None:
    assert "receipt" in field_question("expense", "has_receipt")
    with pytest.raises(ValueError, match="no field 'colour'"):
        field_question("expense", "colour")
