"""The vendor-neutral CRM model: what Chamberlain's tools and workflows read and write.

Deals, contacts, companies, notes and tasks with neutral field names (``name``, ``amount``,
``stage``, ``owner_id``, ``close_date``...). A connector (HubSpot, Salesforce-shaped, ...) maps
these to its own objects and property names; nothing outside its package knows those names.

Ids are the CRM's own (opaque strings); timestamps are ISO-8601 UTC text as the CRM gave them,
so that a record's :attr:`CrmObject.version` compares exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import ClassVar, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["contacts", "companies", "deals", "notes", "tasks"]
KINDS: tuple[Kind, ...] = ("contacts", "companies", "deals", "notes", "tasks")

# Neutral search operators. CONTAINS matches a whole word (case-insensitive); HAS_VALUE /
# NO_VALUE test presence; IN takes a list; GT.. compare numbers and dates (YYYY-MM-DD).
Operator = Literal["EQ", "NEQ", "GT", "GTE", "LT", "LTE", "CONTAINS", "HAS_VALUE", "NO_VALUE", "IN"]
OPERATORS: tuple[Operator, ...] = ("EQ", "NEQ", "GT", "GTE", "LT", "LTE", "CONTAINS", "HAS_VALUE", "NO_VALUE", "IN")

TaskStatus = Literal["NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"]
TaskPriority = Literal["NONE", "LOW", "MEDIUM", "HIGH"]


class CrmObject(BaseModel):
    """Fields every CRM object has."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: ClassVar[Kind]

    id: str = Field(description="The CRM's id of the record (opaque).")
    owner_id: str | None = Field(None, description="Id of the CRM user who owns it (see owners()).")
    created_at: str = Field(description="ISO-8601 UTC creation time.")
    updated_at: str = Field(description="ISO-8601 UTC time of the last change.")
    associations: dict[Kind, tuple[str, ...]] = Field(
        default_factory=dict, description="Associated ids by kind; filled only when asked for."
    )

    @property
    def version(self) -> str:
        """Opaque version of the record as read now: changes on every update, so an approval
        bound to it notices a record edited after approval."""
        return self.updated_at

    def values(self) -> dict[str, str]:
        """The kind's own fields that have a value, as text (neutral names)."""
        out: dict[str, str] = {}
        for name in FIELDS[self.kind]:
            v = getattr(self, name)
            if v is None or v == "":
                continue
            out[name] = v.isoformat() if isinstance(v, date) else str(v)
        return out


class Contact(CrmObject):
    kind: ClassVar[Kind] = "contacts"
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    job_title: str | None = None
    company_name: str | None = Field(None, description="The company as typed on the contact.")
    city: str | None = None
    country: str | None = None
    lifecycle_stage: str | None = None


class Company(CrmObject):
    kind: ClassVar[Kind] = "companies"
    name: str | None = None
    domain: str | None = None
    industry: str | None = None
    city: str | None = None
    country: str | None = None
    region: str | None = None
    tier: str | None = None
    employees: int | None = None
    phone: str | None = None
    description: str | None = None
    lifecycle_stage: str | None = None


class Deal(CrmObject):
    kind: ClassVar[Kind] = "deals"
    name: str | None = None
    amount: Decimal | None = Field(None, description="In the deal's currency.")
    stage: str | None = Field(None, description="Stage id within the deal's pipeline.")
    pipeline: str | None = Field(None, description="Pipeline id.")
    close_date: date | None = None
    deal_type: str | None = None
    description: str | None = None


class Note(CrmObject):
    kind: ClassVar[Kind] = "notes"
    body: str | None = None
    timestamp: str | None = Field(None, description="ISO-8601 UTC time the note is about.")


class Task(CrmObject):
    kind: ClassVar[Kind] = "tasks"
    subject: str | None = None
    body: str | None = None
    status: str | None = None
    priority: str | None = None
    task_type: str | None = None
    due_at: str | None = Field(None, description="ISO-8601 UTC due time.")


MODELS: dict[Kind, type[CrmObject]] = {m.kind: m for m in (Contact, Company, Deal, Note, Task)}
_COMMON_FIELDS = frozenset({"id", "owner_id", "created_at", "updated_at", "associations"})
# The searchable/sortable fields of each kind (plus owner_id), in declaration order.
FIELDS: dict[Kind, tuple[str, ...]] = {
    k: tuple(n for n in m.model_fields if n not in _COMMON_FIELDS) for k, m in MODELS.items()
}
FILTER_FIELDS: dict[Kind, tuple[str, ...]] = {k: (*v, "owner_id") for k, v in FIELDS.items()}


class NewNote(BaseModel):
    """A note to create, associated with one parent record."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    parent_kind: Literal["deals", "companies", "contacts"]
    parent_id: str
    body: str = Field(min_length=1)
    timestamp: str = Field(description="ISO-8601 UTC, e.g. 2026-01-05T09:00:00.000Z.")
    owner_id: str | None = None


class NewTask(BaseModel):
    """A task to create, associated with one parent record."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    parent_kind: Literal["deals", "companies", "contacts"]
    parent_id: str
    subject: str = Field(min_length=1)
    body: str | None = None
    due_at: str = Field(description="ISO-8601 UTC, e.g. 2026-01-05T12:00:00.000Z.")
    priority: TaskPriority = "MEDIUM"
    status: TaskStatus = "NOT_STARTED"
    owner_id: str | None = None


class Condition(NamedTuple):
    """One search condition on a neutral field: ``Condition("stage", "EQ", "closedwon")``."""

    field: str
    operator: Operator
    value: str | tuple[str, ...] | None = None


class Sort(NamedTuple):
    field: str
    descending: bool = False


@dataclass(frozen=True)
class Page:
    """One page of search results; pass ``next_after`` back as ``after`` for the next page."""

    records: tuple[CrmObject, ...]
    total: int
    next_after: str | None = None


@dataclass(frozen=True)
class Stage:
    id: str  # e.g. "contractsent"
    label: str  # e.g. "Contract sent"
    display_order: int
    probability: float | None = None
    is_closed: bool = False


@dataclass(frozen=True)
class Pipeline:
    id: str  # e.g. "default"
    label: str
    display_order: int
    stages: tuple[Stage, ...] = ()

    def stage(self, id_or_label: str) -> Stage | None:
        """The stage with this id or (case-insensitive) label, if any."""
        wanted = id_or_label.strip().lower()
        for s in self.stages:
            if s.id.lower() == wanted or s.label.lower() == wanted:
                return s
        return None


@dataclass(frozen=True)
class Owner:
    """A CRM user who can own records; ``email`` maps an owner to a directory person."""

    id: str
    email: str
    first_name: str = ""
    last_name: str = ""

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email


class Link(NamedTuple):
    """An association between two records; it reads the same from either side."""

    from_kind: Kind
    from_id: str
    to_kind: Kind
    to_id: str


@dataclass(frozen=True)
class CrmContent:
    """A whole CRM's content in neutral terms (the demo company): each connector loads it its way."""

    owners: tuple[Owner, ...] = ()
    pipelines: tuple[Pipeline, ...] = ()
    records: tuple[CrmObject, ...] = ()
    links: tuple[Link, ...] = ()


__all__ = [
    "FIELDS",
    "FILTER_FIELDS",
    "KINDS",
    "MODELS",
    "OPERATORS",
    "Company",
    "Condition",
    "Contact",
    "CrmContent",
    "CrmObject",
    "Deal",
    "Kind",
    "Link",
    "NewNote",
    "NewTask",
    "Note",
    "Operator",
    "Owner",
    "Page",
    "Pipeline",
    "Sort",
    "Stage",
    "Task",
    "TaskPriority",
    "TaskStatus",
]
