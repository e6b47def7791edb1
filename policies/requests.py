"""Business request kinds: what an employee can ask for, as pydantic models the model fills.

Five kinds, told apart by the ``kind`` field (a discriminated union, :data:`BusinessRequest`):

- ``expense``   money already spent, to be reimbursed (``ExpenseRequest``)
- ``purchase``  something the company should buy (``PurchaseRequest``)
- ``time_off``  leave between two dates (``TimeOffRequest``)
- ``discount``  a discount on a CRM deal; applied to the deal once approved (``DiscountRequest``)
- ``access``    access to an internal system (``AccessRequest``)

The model fills these through the ``submit_request`` tool. Required fields have no default:
:func:`missing_fields` lists the ones a partial request still lacks, so the assistant asks the
user instead of guessing. Amounts are ``Decimal`` in the request's own currency; conversion to
USD for routing uses the policy's static FX table (see ``policies/routing/``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, model_validator

Currency = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$"),
    Field(description="ISO-4217 currency code, three letters (USD, EUR, GBP, ...)."),
]
Money = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class ExpenseCategory(StrEnum):
    MEALS = "meals"
    TRAVEL = "travel"
    LODGING = "lodging"
    CLIENT_ENTERTAINMENT = "client_entertainment"
    OFFICE_SUPPLIES = "office_supplies"
    SOFTWARE = "software"
    TRAINING = "training"
    OTHER = "other"


class PurchaseCategory(StrEnum):
    IT_HARDWARE = "it_hardware"
    SOFTWARE = "software"
    FURNITURE = "furniture"
    SERVICES = "services"
    OTHER = "other"


class TimeOffType(StrEnum):
    VACATION = "vacation"
    SICK = "sick"
    PERSONAL = "personal"
    PARENTAL = "parental"


class AccessLevel(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


# Systems people usually ask for; the field accepts any lower_snake_case name so a new system
# does not need a code change (routing rules decide what is restricted).
KNOWN_SYSTEMS: tuple[str, ...] = (
    "crm",
    "warehouse",
    "payroll",
    "production_db",
    "github",
    "aws",
    "google_drive",
    "slack",
    "jira",
    "netsuite",
)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def money(self) -> tuple[Decimal, str] | None:
        """The amount at stake and its currency, or ``None`` when the kind has no amount."""
        return None


class ExpenseRequest(_Request):
    """Reimbursement of money the requester already spent for work."""

    kind: Literal["expense"] = Field(default="expense", description="Always 'expense'.")
    amount: Money = Field(description="Total amount spent, in `currency`, e.g. 84.50. Ask the user; never estimate.")
    currency: Currency = Field(default="USD", description="ISO-4217 code of `amount`; USD unless the user says.")
    category: ExpenseCategory = Field(
        description="What the money was for. client_entertainment = meals/events with customers."
    )
    date: dt.date = Field(description="The day the money was spent (YYYY-MM-DD), e.g. 'yesterday' resolved.")
    description: ShortText = Field(description="One line saying what it was and why it was for work.")
    has_receipt: bool = Field(description="Whether the user has an itemised receipt to attach. Ask; do not assume.")
    attendees: int | None = Field(
        default=None,
        ge=1,
        le=500,
        description="For meals/entertainment: how many people it paid for, including the requester.",
    )
    merchant: ShortText | None = Field(default=None, description="Where the money was spent, if known.")

    def money(self) -> tuple[Decimal, str]:
        return self.amount, self.currency


class PurchaseRequest(_Request):
    """Something the company should buy."""

    kind: Literal["purchase"] = Field(default="purchase", description="Always 'purchase'.")
    item: ShortText = Field(description="What to buy, specific enough to order (model, edition, size).")
    quantity: int = Field(ge=1, le=100_000, description="How many units.")
    unit_price: Money = Field(description="Price of one unit in `currency`, before tax.")
    currency: Currency = Field(default="USD", description="ISO-4217 code of `unit_price`; USD unless the user says.")
    category: PurchaseCategory = Field(description="it_hardware for laptops, monitors, servers, phones.")
    vendor: ShortText | None = Field(default=None, description="Preferred supplier, if the user named one.")
    justification: LongText = Field(description="Why the company needs it (the business reason).")
    needed_by: dt.date | None = Field(default=None, description="Date it is needed by, if the user gave one.")

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity

    def money(self) -> tuple[Decimal, str]:
        return self.total, self.currency


class TimeOffRequest(_Request):
    """Leave from work between two dates, both included."""

    kind: Literal["time_off"] = Field(default="time_off", description="Always 'time_off'.")
    start: dt.date = Field(description="First day off (YYYY-MM-DD).")
    end: dt.date = Field(description="Last day off, inclusive (YYYY-MM-DD); same as start for one day.")
    type: TimeOffType = Field(description="vacation, sick, personal or parental. Ask if unclear.")
    note: ShortText | None = Field(default=None, description="Anything the approver should know.")

    @model_validator(mode="after")
    def _end_not_before_start(self) -> TimeOffRequest:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start}); end is the last day off")
        return self


class DiscountRequest(_Request):
    """A discount on a CRM deal; once approved it is written to the deal."""

    kind: Literal["discount"] = Field(default="discount", description="Always 'discount'.")
    deal_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] = Field(
        description="The CRM deal id (look it up with the CRM tools; never invent one)."
    )
    discount_percent: Decimal = Field(
        gt=0, le=60, max_digits=5, decimal_places=2, description="Discount off list, in percent (0-60]."
    )
    deal_amount: Decimal | None = Field(
        default=None,
        ge=0,
        max_digits=14,
        decimal_places=2,
        description="Deal amount before discount. Filled from the CRM by the tool; leave empty.",
    )
    currency: Currency = Field(default="USD", description="ISO-4217 code of `deal_amount`.")
    reason: LongText = Field(description="Why the discount is needed (competition, volume, renewal risk).")

    def money(self) -> tuple[Decimal, str] | None:
        return None if self.deal_amount is None else (self.deal_amount, self.currency)


class AccessRequest(_Request):
    """Access to an internal system."""

    kind: Literal["access"] = Field(default="access", description="Always 'access'.")
    system: Annotated[
        str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[A-Za-z][A-Za-z0-9_]{1,39}$")
    ] = Field(description="System name in lower_snake_case, e.g. " + ", ".join(KNOWN_SYSTEMS) + ".")
    access_level: AccessLevel = Field(description="read, write or admin: the least the user needs.")
    justification: LongText = Field(description="What the user needs the access for.")
    duration_days: int | None = Field(
        default=None, ge=1, le=365, description="How long the access is needed, in days; empty if ongoing."
    )


AnyRequest = ExpenseRequest | PurchaseRequest | TimeOffRequest | DiscountRequest | AccessRequest
"""Any request model instance (for type hints)."""

BusinessRequest = Annotated[AnyRequest, Field(discriminator="kind")]
"""Any request kind; validate a dict with :func:`parse_request`."""

REQUEST_MODELS: Mapping[str, type[_Request]] = {
    "expense": ExpenseRequest,
    "purchase": PurchaseRequest,
    "time_off": TimeOffRequest,
    "discount": DiscountRequest,
    "access": AccessRequest,
}
REQUEST_KINDS: tuple[str, ...] = tuple(REQUEST_MODELS)

_ADAPTER: TypeAdapter[Any] = TypeAdapter(BusinessRequest)


def request_model(kind: str) -> type[_Request]:
    """The model class for ``kind``; ``ValueError`` naming the known kinds otherwise."""
    try:
        return REQUEST_MODELS[kind]
    except KeyError:
        raise ValueError(f"unknown request kind {kind!r}; use one of: {', '.join(REQUEST_KINDS)}") from None


def parse_request(data: Mapping[str, Any]) -> AnyRequest:
    """Validate a dict (with ``kind``) into its request model; raises ``pydantic.ValidationError``."""
    result: Any = _ADAPTER.validate_python(dict(data))
    return result


def missing_fields(kind: str, partial: Mapping[str, Any]) -> list[str]:
    """Required fields of ``kind`` that ``partial`` does not give (absent, None or blank), in
    schema order, so the assistant can ask for exactly those. ``kind`` itself is never listed."""
    model = request_model(kind)
    out: list[str] = []
    for name, info in model.model_fields.items():
        if name == "kind" or not info.is_required():
            continue
        value = partial.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            out.append(name)
    return out


def field_question(kind: str, name: str) -> str:
    """The description of one field, to phrase a question to the user."""
    model = request_model(kind)
    try:
        return model.model_fields[name].description or name
    except KeyError:
        raise ValueError(f"{kind} requests have no field {name!r}") from None


__all__ = [
    "KNOWN_SYSTEMS",
    "REQUEST_KINDS",
    "REQUEST_MODELS",
    "AccessLevel",
    "AccessRequest",
    "AnyRequest",
    "BusinessRequest",
    "DiscountRequest",
    "ExpenseCategory",
    "ExpenseRequest",
    "PurchaseCategory",
    "PurchaseRequest",
    "TimeOffRequest",
    "TimeOffType",
    "field_question",
    "missing_fields",
    "parse_request",
    "request_model",
]
