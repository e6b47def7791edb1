"""The neutral :class:`~connectors.crm.CrmConnector` over a Salesforce org (SOQL, SObjects)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from connectors.crm.model import (
    FILTER_FIELDS,
    MODELS,
    Condition,
    CrmContent,
    CrmObject,
    Deal,
    Kind,
    NewNote,
    NewTask,
    Note,
    Owner,
    Page,
    Pipeline,
    Sort,
    Task,
)
from connectors.crm.salesforce._org import SalesforceOrg, make_id
from connectors.crm.salesforce._sobjects import (
    DATE_FIELDS,
    NUMBER_FIELDS,
    SOBJECTS,
    USER_PREFIX,
    SObjectType,
    to_neutral_value,
    to_salesforce_value,
)
from connectors.crm.salesforce._soql import AnyOf, Clause, Soql
from connectors.errors import InvalidRequest, RecordNotFound

_OPERATORS = {"EQ": "=", "NEQ": "!=", "GT": ">", "GTE": ">=", "LT": "<", "LTE": "<=", "CONTAINS": "LIKE", "IN": "IN"}
MAX_LIMIT = 200  # a page; SOQL's own LIMIT may be higher


def _sobject(kind: str) -> SObjectType:
    try:
        return SOBJECTS[cast(Kind, kind)]
    except KeyError:
        raise InvalidRequest(f"unknown object type {kind!r}; use one of {', '.join(SOBJECTS)}") from None


def _field(kind: str, name: str) -> str:
    if name == "owner_id":
        return "OwnerId"
    t = _sobject(kind)
    if name not in t.fields:
        raise InvalidRequest(f"{kind} have no field {name!r}; fields: {', '.join(FILTER_FIELDS[cast(Kind, kind)])}")
    return t.fields[name]


def _to_sf(sobject: str, field: str, value: Any) -> Any:
    if value is None:
        return None
    if field in NUMBER_FIELDS:
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise InvalidRequest(f"{field}: {value!r} is not a number") from None
    if field in DATE_FIELDS:
        text = value.isoformat() if isinstance(value, date) else str(value)[:10]
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise InvalidRequest(f"{field}: {value!r} is not a date (YYYY-MM-DD)") from None
    return to_salesforce_value(sobject, field, str(value))


def _to_model(kind: Kind, row: dict[str, Any], associations: dict[Kind, tuple[str, ...]] | None = None) -> CrmObject:
    t = SOBJECTS[kind]
    values: dict[str, Any] = {}
    for neutral, sf in t.fields.items():
        v = row.get(sf)
        if v is None or v == "":
            values[neutral] = None
        elif sf in NUMBER_FIELDS:
            values[neutral] = int(v) if neutral == "employees" else Decimal(str(v))
        elif sf in DATE_FIELDS:
            values[neutral] = date.fromisoformat(str(v))
        else:
            values[neutral] = to_neutral_value(t.name, sf, str(v))
    return MODELS[kind](
        id=row["Id"],
        owner_id=row.get("OwnerId"),
        created_at=row["CreatedDate"],
        updated_at=row["LastModifiedDate"],
        associations=associations or {},
        **values,
    )


class SalesforceMemoryCrm:
    """A Salesforce-shaped CRM held in memory: Accounts, Contacts, Opportunities, Notes, Tasks.

    Build it empty around an org, or :meth:`seeded` with the demo company (ids are Salesforce
    ids: the demo's deal 30001 is Opportunity ``006000000000030001``; see :meth:`demo_id`).
    """

    def __init__(self, org: SalesforceOrg | None = None) -> None:
        self.org = org or SalesforceOrg()

    # -- loading -----------------------------------------------------------------------------

    @staticmethod
    def demo_id(kind: Kind, demo_id: str) -> str:
        """The Salesforce id the demo record ``demo_id`` (e.g. deal "30001") gets here."""
        return make_id(SOBJECTS[kind].key_prefix, int(demo_id))

    @staticmethod
    def demo_user_id(demo_owner_id: str) -> str:
        return make_id(USER_PREFIX, int(demo_owner_id))

    @classmethod
    def seeded(cls, seed: int | None = None, *, api_limit: int | None = None) -> SalesforceMemoryCrm:
        """An org loaded with the demo company (``connectors.demo.crm_seed``)."""
        from connectors.demo.crm_seed import DEFAULT_SEED, demo_crm

        crm = cls(SalesforceOrg(api_limit=None))
        crm.load(demo_crm(DEFAULT_SEED if seed is None else seed))
        crm.org.api_limit = api_limit
        crm.org.api_calls = 0
        return crm

    def load(self, content: CrmContent) -> None:
        """Add neutral content (owners become Users, the pipeline the sales process)."""
        org = self.org
        for o in content.owners:
            org.add_user(self.demo_user_id(o.id), o.email, o.first_name, o.last_name)
        if content.pipelines:
            p = content.pipelines[0]
            org.sales_process, org.stages = (p.id, p.label), p.stages
        for r in content.records:
            t = SOBJECTS[r.kind]
            row = {sf: _to_sf(t.name, sf, getattr(r, f)) for f, sf in t.fields.items() if getattr(r, f) is not None}
            if r.owner_id:
                row["OwnerId"] = self.demo_user_id(r.owner_id)
            if r.kind == "notes":
                row["Title"] = (cast(Note, r).body or "note")[:80]
            row.update(CreatedDate=r.created_at, LastModifiedDate=r.updated_at)
            org.insert(t.name, row, id=self.demo_id(r.kind, r.id), audit_fields=True)
        for a_kind, a_id, b_kind, b_id in content.links:
            org.link(
                SOBJECTS[a_kind].name, self.demo_id(a_kind, a_id), SOBJECTS[b_kind].name, self.demo_id(b_kind, b_id)
            )

    # -- reads ---------------------------------------------------------------------------------

    def fetch(self, kind: Kind, id: str, *, related: Sequence[Kind] = ()) -> CrmObject:
        t = _sobject(kind)
        row = self.org.retrieve(t.name, id)
        assoc = {k: tuple(self.org.linked(t.name, id, _sobject(k).name)) for k in related}
        return _to_model(kind, row, {k: v for k, v in assoc.items() if v})

    def fetch_many(self, kind: Kind, ids: Sequence[str]) -> list[CrmObject]:
        return [_to_model(kind, row) for row in self.org.retrieve_many(_sobject(kind).name, list(ids))]

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
        t = _sobject(kind)
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        try:
            offset = int(after) if after else 0
        except ValueError:
            raise InvalidRequest(f"bad paging cursor {after!r}: pass a previous page's next_after") from None
        clauses: list[Clause | AnyOf] = [self._clause(kind, t, c) for c in where]
        for word in (text or "").split():
            clauses.append(AnyOf(tuple(Clause(f, "LIKE", f"%{word}%") for f in t.searchable)))
        order = (_field(kind, order_by.field), order_by.descending) if order_by else None
        fields = ("Id", "OwnerId", "CreatedDate", "LastModifiedDate", *t.fields.values())
        total, rows = self.org.query(Soql(t.name, fields, tuple(clauses), order, limit, offset))
        nxt = str(offset + limit) if offset + limit < total else None
        return Page(tuple(_to_model(kind, r) for r in rows), total, nxt)

    def _clause(self, kind: str, t: SObjectType, c: Condition) -> Clause:
        f = _field(kind, c.field)
        if c.operator == "HAS_VALUE":
            return Clause(f, "!=", None)
        if c.operator == "NO_VALUE":
            return Clause(f, "=", None)
        op = _OPERATORS.get(c.operator)
        if op is None:
            raise InvalidRequest(f"unknown operator {c.operator!r}")
        if op == "IN":
            if not isinstance(c.value, (list, tuple)) or not c.value:
                raise InvalidRequest(f"{c.field}: IN needs a non-empty list of values")
            return Clause(f, "IN", tuple(_to_sf(t.name, f, v) for v in c.value))
        if c.value is None or isinstance(c.value, (list, tuple)):
            raise InvalidRequest(f"{c.field}: {c.operator} needs one value")
        value = _to_sf(t.name, f, c.value)
        return Clause(f, op, f"%{value}%" if op == "LIKE" else value)

    def linked(self, kind: Kind, id: str, to_kind: Kind) -> list[str]:
        t = _sobject(kind)
        self.org.retrieve(t.name, id)
        return self.org.linked(t.name, id, _sobject(to_kind).name)

    def pipelines(self, object_type: str = "deals") -> list[Pipeline]:
        if object_type != "deals":
            raise InvalidRequest(f"only deals have pipelines, not {object_type}")
        pid, label = self.org.sales_process
        return [Pipeline(pid, label, 0, self.org.stages)]

    def owners(self) -> list[Owner]:
        return [Owner(u["Id"], u["Email"], u["FirstName"], u["LastName"]) for u in self.org.users]

    # -- writes ------------------------------------------------------------------------------

    def update_deal(
        self, id: str, *, stage: str | None = None, amount: Decimal | None = None, owner_id: str | None = None
    ) -> Deal:
        values: dict[str, Any] = {}
        if stage is not None:
            values["StageName"] = stage
        if amount is not None:
            if amount < 0:
                raise InvalidRequest("Amount: must not be negative")
            values["Amount"] = Decimal(amount)
        if owner_id is not None:
            values["OwnerId"] = owner_id
        if not values:
            raise InvalidRequest("nothing to update: give stage, amount and/or owner_id")
        row = self.org.update("Opportunity", id, values)
        return cast(Deal, _to_model("deals", row))

    def add_note(self, note: NewNote, *, idempotency_key: str | None = None) -> Note:
        values = {"Title": note.body[:80], "Body": note.body, "Note_Time__c": note.timestamp}
        if note.owner_id:
            values["OwnerId"] = note.owner_id
        return cast(Note, self._create("notes", values, note.parent_kind, note.parent_id, idempotency_key))

    def add_task(self, task: NewTask, *, idempotency_key: str | None = None) -> Task:
        values: dict[str, Any] = {
            "Subject": task.subject,
            "Status": to_salesforce_value("Task", "Status", task.status),
            "Priority": to_salesforce_value("Task", "Priority", task.priority),
            "Type": to_salesforce_value("Task", "Type", "TODO"),
            "ReminderDateTime": task.due_at,
            "ActivityDate": task.due_at[:10],
        }
        if task.body:
            values["Description"] = task.body
        if task.owner_id:
            values["OwnerId"] = task.owner_id
        return cast(Task, self._create("tasks", values, task.parent_kind, task.parent_id, idempotency_key))

    def _create(
        self, kind: Kind, values: dict[str, Any], parent_kind: Kind, parent_id: str, key: str | None
    ) -> CrmObject:
        t, parent = SOBJECTS[kind], _sobject(parent_kind)
        try:
            self.org.retrieve(parent.name, parent_id)
        except RecordNotFound:
            raise RecordNotFound(f"{parent.name} {parent_id} does not exist") from None
        if key is None:
            row = self.org.insert(t.name, values)
        else:
            row, _ = self.org.upsert_by_key(t.name, key, values)
        self.org.link(t.name, row["Id"], parent.name, parent_id)
        return _to_model(kind, row)


__all__ = ["SalesforceMemoryCrm"]
