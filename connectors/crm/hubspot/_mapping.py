"""Neutral model ↔ HubSpot: property names, object types, filters, sorts, creates.

:class:`HubSpotMapping` turns anything that speaks the HubSpot API (:class:`HubSpotApi`: the
REST client, the in-memory fake) into a :class:`~connectors.crm.CrmConnector`. This module is
the only place that knows ``dealname``, ``hubspot_owner_id``, ``hs_note_body``...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from connectors.crm.hubspot._api import HubSpotApi
from connectors.crm.hubspot._models import CrmRecord
from connectors.crm.model import (
    FILTER_FIELDS,
    MODELS,
    Condition,
    CrmObject,
    Deal,
    Kind,
    NewNote,
    NewTask,
    Note,
    Page,
    Sort,
    Task,
)
from connectors.errors import InvalidRequest

OWNER_PROPERTY = "hubspot_owner_id"

# Neutral field → HubSpot property, per object type (HubSpot's object types are the neutral kinds).
PROPERTY_OF: dict[str, dict[str, str]] = {
    "contacts": {
        "first_name": "firstname",
        "last_name": "lastname",
        "email": "email",
        "phone": "phone",
        "job_title": "jobtitle",
        "company_name": "company",
        "city": "city",
        "country": "country",
        "lifecycle_stage": "lifecyclestage",
    },
    "companies": {
        "name": "name",
        "domain": "domain",
        "industry": "industry",
        "city": "city",
        "country": "country",
        "region": "region",
        "tier": "tier",
        "employees": "numberofemployees",
        "phone": "phone",
        "description": "description",
        "lifecycle_stage": "lifecyclestage",
    },
    "deals": {
        "name": "dealname",
        "amount": "amount",
        "stage": "dealstage",
        "pipeline": "pipeline",
        "close_date": "closedate",
        "deal_type": "dealtype",
        "description": "description",
    },
    "notes": {"body": "hs_note_body", "timestamp": "hs_timestamp"},
    "tasks": {
        "subject": "hs_task_subject",
        "body": "hs_task_body",
        "status": "hs_task_status",
        "priority": "hs_task_priority",
        "task_type": "hs_task_type",
        "due_at": "hs_timestamp",
    },
}
_OPERATOR: dict[str, str] = {
    "EQ": "EQ",
    "NEQ": "NEQ",
    "GT": "GT",
    "GTE": "GTE",
    "LT": "LT",
    "LTE": "LTE",
    "CONTAINS": "CONTAINS_TOKEN",
    "HAS_VALUE": "HAS_PROPERTY",
    "NO_VALUE": "NOT_HAS_PROPERTY",
    "IN": "IN",
}


def hubspot_property(kind: str, field: str) -> str:
    """The HubSpot property of a neutral field; ``InvalidRequest`` naming the valid fields."""
    if field == "owner_id":
        return OWNER_PROPERTY
    try:
        return PROPERTY_OF[kind][field]
    except KeyError:
        if kind not in PROPERTY_OF:
            raise InvalidRequest(f"unknown object type {kind!r}; use one of {', '.join(PROPERTY_OF)}") from None
        known = ", ".join(FILTER_FIELDS[cast(Kind, kind)])
        raise InvalidRequest(f"{kind} have no field {field!r}; fields: {known}") from None


def _properties(kind: str) -> list[str]:
    if kind not in PROPERTY_OF:
        raise InvalidRequest(f"unknown object type {kind!r}; use one of {', '.join(PROPERTY_OF)}")
    return [*PROPERTY_OF[kind].values(), OWNER_PROPERTY]


def _decimal(value: str | None) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    number = _decimal(value)
    return None if number is None else int(number)


def to_model(record: CrmRecord) -> CrmObject:
    """A HubSpot record as the neutral model."""
    kind = record.object_type
    props = record.properties
    values: dict[str, Any] = {f: props.get(p) for f, p in PROPERTY_OF[kind].items()}
    if kind == "deals":
        values["amount"] = _decimal(values["amount"])
        values["close_date"] = _day(values["close_date"])
    elif kind == "companies":
        values["employees"] = _int(values["employees"])
    return MODELS[cast(Kind, kind)](
        id=record.id,
        owner_id=props.get(OWNER_PROPERTY) or None,
        created_at=record.created_at,
        updated_at=record.updated_at,
        associations={cast(Kind, k): tuple(v) for k, v in record.associations.items()},
        **values,
    )


def _text(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def to_filter(kind: str, condition: Condition) -> tuple[str, str, Any]:
    """A neutral condition as a HubSpot search filter."""
    prop = hubspot_property(kind, condition.field)
    operator = _OPERATOR.get(condition.operator)
    if operator is None:
        raise InvalidRequest(f"unknown operator {condition.operator!r}; use one of {', '.join(_OPERATOR)}")
    value: Any = condition.value
    if isinstance(value, (list, tuple)):
        value = [_text(v) for v in value]
    elif value is not None:
        value = _text(value)
    return prop, operator, value


class HubSpotMapping:
    """The neutral :class:`~connectors.crm.CrmConnector` over a HubSpot API (mix into one)."""

    def _hubspot(self) -> HubSpotApi:
        return cast(HubSpotApi, self)

    def fetch(self, kind: Kind, id: str, *, related: Sequence[Kind] = ()) -> CrmObject:
        return to_model(self._hubspot().get(kind, id, _properties(kind), list(related)))

    def fetch_many(self, kind: Kind, ids: Sequence[str]) -> list[CrmObject]:
        return [to_model(r) for r in self._hubspot().get_many(kind, list(ids), _properties(kind))]

    def find(
        self,
        kind: Kind,
        *,
        text: str | None = None,
        where: Sequence[Condition] = (),
        order_by: Sort | None = None,
        limit: int = 10,
        after: str | None = None,
    ) -> Page:
        filters = [to_filter(kind, c) for c in where]
        sorts = None
        if order_by is not None:
            sorts = [(hubspot_property(kind, order_by.field), "DESCENDING" if order_by.descending else "ASCENDING")]
        page = self._hubspot().search(
            kind, query=text, filters=filters, properties=_properties(kind), sorts=sorts, limit=limit, after=after
        )
        return Page(tuple(to_model(r) for r in page.records), page.total, page.next_after)

    def linked(self, kind: Kind, id: str, to_kind: Kind) -> list[str]:
        return self._hubspot().associations(kind, id, to_kind)

    def update_deal(
        self, id: str, *, stage: str | None = None, amount: Decimal | None = None, owner_id: str | None = None
    ) -> Deal:
        props: dict[str, str | None] = {}
        if stage is not None:
            props["dealstage"] = stage
        if amount is not None:
            props["amount"] = _amount_text(amount)
        if owner_id is not None:
            props[OWNER_PROPERTY] = owner_id
        if not props:
            raise InvalidRequest("nothing to update: give stage, amount and/or owner_id")
        self._hubspot().update("deals", id, props)
        return cast(Deal, self.fetch("deals", id))

    def add_note(self, note: NewNote, *, idempotency_key: str | None = None) -> Note:
        props: dict[str, str | None] = {"hs_note_body": note.body, "hs_timestamp": note.timestamp}
        if note.owner_id:
            props[OWNER_PROPERTY] = note.owner_id
        return cast(Note, self._create("notes", props, note.parent_kind, note.parent_id, idempotency_key))

    def add_task(self, task: NewTask, *, idempotency_key: str | None = None) -> Task:
        props: dict[str, str | None] = {
            "hs_task_subject": task.subject,
            "hs_task_body": task.body,
            "hs_task_status": task.status,
            "hs_task_priority": task.priority,
            "hs_task_type": "TODO",
            "hs_timestamp": task.due_at,
        }
        if task.owner_id:
            props[OWNER_PROPERTY] = task.owner_id
        props = {k: v for k, v in props.items() if v is not None}
        return cast(Task, self._create("tasks", props, task.parent_kind, task.parent_id, idempotency_key))

    def _create(
        self, kind: str, props: Mapping[str, str | None], parent_kind: str, parent_id: str, key: str | None
    ) -> CrmObject:
        api = self._hubspot()
        try:
            record = api.create(kind, props, [(parent_kind, parent_id)], idempotency_key=key)
        except InvalidRequest:
            # HubSpot answers 400 for an association to a missing record; the neutral contract
            # says "not found" (checked only on failure: no extra request when all is well).
            api.get(parent_kind, parent_id, [])  # raises RecordNotFound if it is missing
            raise
        return to_model(record)


def _amount_text(amount: Decimal) -> str:
    # HubSpot stores numbers as text: "240000", not "240000.00"
    return str(int(amount)) if amount == amount.to_integral_value() else format(amount.normalize(), "f")


__all__ = ["OWNER_PROPERTY", "PROPERTY_OF", "HubSpotMapping", "hubspot_property", "to_filter", "to_model"]
