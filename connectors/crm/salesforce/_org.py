"""An in-memory Salesforce org: SObject rows with Salesforce's field names, ids and rules.

Ids are 18 characters with the SObject's key prefix (``006...`` for an Opportunity); picklists
are restricted (``StageName`` must be a stage of the sales process); required fields are
checked; ``Idempotency_Key__c`` is an external id, so an upsert by it never creates a second
row; every call counts against the org's API request limit (``REQUEST_LIMIT_EXCEEDED``).
Queries are :class:`~connectors.crm.salesforce._soql.Soql` objects; :attr:`SalesforceOrg.queries`
keeps the SOQL text of each, as a real org's event log would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from connectors.crm.model import Stage
from connectors.crm.salesforce._sobjects import KIND_OF, SOBJECTS, SYSTEM_FIELDS, USER_PREFIX
from connectors.crm.salesforce._soql import AnyOf, Soql, run
from connectors.errors import InvalidRequest, RecordNotFound, RetryLater

IDEMPOTENCY_FIELD = "Idempotency_Key__c"
_EXTRA_FIELDS: dict[str, tuple[str, ...]] = {"Note": ("Title",), "Task": ("ActivityDate",)}


def _now_iso(clock: Callable[[], float]) -> str:
    ms = int(clock() * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def make_id(prefix: str, number: int) -> str:
    return f"{prefix}{number:015d}"


class SalesforceOrg:
    def __init__(self, *, api_limit: int | None = None, clock: Callable[[], float] = time.time) -> None:
        self._rows: dict[str, dict[str, dict[str, Any]]] = {t.name: {} for t in SOBJECTS.values()}
        self._links: list[tuple[str, str, str, str]] = []
        self._next: dict[str, int] = {}
        self.users: list[dict[str, str]] = []
        self.stages: tuple[Stage, ...] = ()
        self.sales_process = ("default", "Sales Process")
        self.api_limit = api_limit
        self.api_calls = 0
        self.queries: list[str] = []
        self._clock = clock
        self._lock = threading.RLock()

    # -- limits and schema -----------------------------------------------------------------

    def _call(self) -> None:
        self.api_calls += 1
        if self.api_limit is not None and self.api_calls > self.api_limit:
            raise RetryLater("REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.", retry_after=None)

    def fields_of(self, sobject: str) -> tuple[str, ...]:
        t = SOBJECTS[KIND_OF[sobject]]
        return (*SYSTEM_FIELDS, *t.fields.values(), *_EXTRA_FIELDS.get(sobject, ()), IDEMPOTENCY_FIELD)

    def _check(self, sobject: str, values: Mapping[str, Any], *, creating: bool, audit_fields: bool = False) -> None:
        if sobject not in self._rows:
            raise InvalidRequest(f"INVALID_TYPE: sObject type '{sobject}' is not supported.")
        known = set(self.fields_of(sobject))
        read_only = ("Id", "IsDeleted") if audit_fields else ("Id", "CreatedDate", "LastModifiedDate", "IsDeleted")
        for name in values:
            if name not in known or name in read_only:
                raise InvalidRequest(f"INVALID_FIELD: No such column '{name}' on sobject of type {sobject}")
        if creating:
            missing = [f for f in SOBJECTS[KIND_OF[sobject]].required if values.get(f) in (None, "")]
            if missing:
                raise InvalidRequest(f"REQUIRED_FIELD_MISSING: Required fields are missing: [{', '.join(missing)}]")
        stage = values.get("StageName")
        if sobject == "Opportunity" and stage is not None and stage not in {s.id for s in self.stages}:
            allowed = ", ".join(s.id for s in self.stages)
            raise InvalidRequest(
                f"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: Stage: bad value for restricted picklist field: "
                f"{stage} (allowed: {allowed})"
            )
        owner = values.get("OwnerId")
        if owner is not None and owner not in {u["Id"] for u in self.users}:
            raise InvalidRequest(f"INVALID_CROSS_REFERENCE_KEY: invalid cross reference id: {owner}")

    # -- rows ------------------------------------------------------------------------------

    def insert(
        self, sobject: str, values: Mapping[str, Any], *, id: str | None = None, audit_fields: bool = False
    ) -> dict[str, Any]:
        """Create a row. ``id`` and ``audit_fields`` (CreatedDate/LastModifiedDate given) are for
        data loads only, like Salesforce's "Set Audit Fields upon Record Creation" permission."""
        with self._lock:
            self._call()
            self._check(sobject, values, creating=True, audit_fields=audit_fields)
            prefix = SOBJECTS[KIND_OF[sobject]].key_prefix
            if id is None:
                n = self._next.get(sobject, 1)
                id = make_id(prefix, n)
            self._next[sobject] = max(self._next.get(sobject, 1), int(id[3:]) + 1)
            now = _now_iso(self._clock)
            row = {"CreatedDate": now, "LastModifiedDate": now, **values, "Id": id, "IsDeleted": False}
            self._rows[sobject][id] = row
            return dict(row)

    def upsert_by_key(self, sobject: str, key: str, values: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Insert unless a row with this external id exists; (row, created)."""
        with self._lock:
            for row in self._rows.get(sobject, {}).values():
                if row.get(IDEMPOTENCY_FIELD) == key:
                    self._call()
                    return dict(row), False
            return self.insert(sobject, {**values, IDEMPOTENCY_FIELD: key}), True

    def retrieve(self, sobject: str, id: str) -> dict[str, Any]:
        with self._lock:
            self._call()
            if sobject not in self._rows:
                raise InvalidRequest(f"INVALID_TYPE: sObject type '{sobject}' is not supported.")
            row = self._rows[sobject].get(id)
            if row is None or row.get("IsDeleted"):
                raise RecordNotFound(f"NOT_FOUND: {sobject} {id}: The requested resource does not exist")
            return dict(row)

    def retrieve_many(self, sobject: str, ids: list[str]) -> list[dict[str, Any]]:
        """One composite request: the rows that exist, in the order asked, each once."""
        with self._lock:
            self._call()
            out, seen = [], set()
            for i in ids:
                row = self._rows.get(sobject, {}).get(i)
                if row is not None and i not in seen:
                    seen.add(i)
                    out.append(dict(row))
            return out

    def update(self, sobject: str, id: str, values: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._check(sobject, values, creating=False)
            row = self.retrieve(sobject, id)
            if any(row.get(k) != v for k, v in values.items()):
                stamp = _now_iso(self._clock)
                if stamp <= row["LastModifiedDate"]:  # a version must change on every change
                    stamp = _bump(row["LastModifiedDate"])
                row = {**row, **values, "LastModifiedDate": stamp}
                self._rows[sobject][id] = row
            return dict(row)

    def query(self, soql: Soql) -> tuple[int, list[dict[str, Any]]]:
        with self._lock:
            self._call()
            known = set(self.fields_of(soql.sobject)) if soql.sobject in self._rows else set()
            if not known:
                raise InvalidRequest(f"INVALID_TYPE: sObject type '{soql.sobject}' is not supported.")
            used = [*soql.fields, *([soql.order_by[0]] if soql.order_by else [])]
            for w in soql.where:
                used.extend(c.field for c in (w.clauses if isinstance(w, AnyOf) else (w,)))
            for name in used:
                if name not in known:
                    raise InvalidRequest(f"INVALID_FIELD: No such column '{name}' on entity '{soql.sobject}'")
            self.queries.append(str(soql))
            return run(soql, [r for r in self._rows[soql.sobject].values() if not r.get("IsDeleted")])

    # -- links (a junction object, as an org with custom many-to-many relations has) --------

    def link(self, a_sobject: str, a_id: str, b_sobject: str, b_id: str) -> None:
        with self._lock:
            for s, i in ((a_sobject, a_id), (b_sobject, b_id)):
                if i not in self._rows.get(s, {}):
                    raise RecordNotFound(f"NOT_FOUND: {s} {i}: The requested resource does not exist")
            pair = (a_sobject, a_id, b_sobject, b_id)
            if pair not in self._links:
                self._links.append(pair)

    def linked(self, sobject: str, id: str, to_sobject: str) -> list[str]:
        with self._lock:
            out: list[str] = []
            for a_s, a_i, b_s, b_i in self._links:
                if (a_s, a_i, b_s) == (sobject, id, to_sobject):
                    other = b_i
                elif (b_s, b_i, a_s) == (sobject, id, to_sobject):
                    other = a_i
                else:
                    continue
                if other not in out:
                    out.append(other)
            return out

    def add_user(self, id: str, email: str, first_name: str, last_name: str) -> None:
        if not id.startswith(USER_PREFIX):
            raise InvalidRequest(f"MALFORMED_ID: User ids start with {USER_PREFIX}: {id}")
        self.users.append({"Id": id, "Email": email, "FirstName": first_name, "LastName": last_name})


def _bump(stamp: str) -> str:
    """The next millisecond after an ISO stamp ``...SS.mmmZ``."""
    dt = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ") + timedelta(milliseconds=1)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


__all__ = ["IDEMPOTENCY_FIELD", "SalesforceOrg", "make_id"]
