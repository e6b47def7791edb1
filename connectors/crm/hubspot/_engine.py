"""The CRM's behaviour, independent of where records are kept.

:class:`CrmEngine` implements :class:`~connectors.crm.hubspot.HubSpotApi` over a few storage
primitives. The in-memory fake keeps records in dicts; the local HubSpot-compatible service
keeps them in SQLite. Both inherit every rule from here, which is what makes the fake a
faithful stand-in for the service (the contract tests check it).
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace

from connectors.crm.hubspot import _schema as schema
from connectors.crm.hubspot._api import FilterSpec, SortSpec
from connectors.crm.hubspot._models import (
    IDEMPOTENCY_PROPERTY,
    Association,
    CrmDataset,
    CrmRecord,
    Owner,
    Pipeline,
    SearchPage,
)
from connectors.errors import InvalidRequest, RecordNotFound

# HubSpot owners have an ``id`` and a separate ``userId``; the local service derives one from the other.
OWNER_USER_ID_OFFSET = 1000

# First id handed out per object type: ids are numeric strings, as in HubSpot, and the
# ranges make an id's type obvious to a person reading logs.
ID_BASE: dict[str, int] = {
    "companies": 10001,
    "contacts": 20001,
    "deals": 30001,
    "notes": 40001,
    "tasks": 50001,
}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class CrmEngine(ABC):
    """HubSpot CRM semantics over abstract storage. Thread-safe (one lock per engine)."""

    def __init__(self, *, clock_ms: Callable[[], int] = _now_ms) -> None:
        self._clock_ms = clock_ms
        self._lock = threading.RLock()

    # ------------------------------------------------------------ storage primitives

    @abstractmethod
    def _read(self, object_type: str, id: str) -> CrmRecord | None:
        """The stored record (every property), or None."""

    @abstractmethod
    def _scan(self, object_type: str) -> Iterable[CrmRecord]:
        """Every stored record of a type."""

    @abstractmethod
    def _write(self, record: CrmRecord) -> None:
        """Insert or replace a record."""

    @abstractmethod
    def _max_id(self, object_type: str) -> int | None:
        """The largest numeric id stored for a type, if any."""

    @abstractmethod
    def _linked(self, object_type: str, id: str, to_type: str) -> list[str]:
        """Ids of ``to_type`` records linked to the record (either direction), in link order."""

    @abstractmethod
    def _link(self, association: Association) -> None:
        """Store a link (idempotent)."""

    @abstractmethod
    def _stored_owners(self) -> list[Owner]: ...

    @abstractmethod
    def _stored_pipelines(self, object_type: str) -> list[Pipeline]: ...

    @abstractmethod
    def _store_dataset(self, dataset: CrmDataset) -> None:
        """Replace all content with ``dataset``."""

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """Make the writes inside all-or-nothing (storage that can, overrides this)."""
        yield

    # ------------------------------------------------------------ loading

    def load(self, dataset: CrmDataset) -> None:
        """Replace everything with ``dataset`` (e.g. the demo seed)."""
        with self._lock, self._transaction():
            self._store_dataset(dataset)

    # ------------------------------------------------------------ reads

    def get(
        self,
        object_type: str,
        id: str,
        properties: Sequence[str] | None = None,
        associations: Sequence[str] = (),
    ) -> CrmRecord:
        schema.check_object_type(object_type)
        with self._lock:
            record = self._require(object_type, id)
            links: dict[str, tuple[str, ...]] = {}
            for to_type in associations:
                schema.check_association(object_type, to_type)
                found = self._linked(object_type, record.id, to_type)
                if found:
                    links[to_type] = tuple(found)
        return replace(self._project(record, properties), associations=links)

    def get_many(
        self, object_type: str, ids: Sequence[str], properties: Sequence[str] | None = None
    ) -> list[CrmRecord]:
        """The records with these ids, in the order asked; unknown or archived ids are left out."""
        found, _ = self.read_batch(object_type, ids, properties)
        return found

    def read_batch(
        self,
        object_type: str,
        ids: Sequence[str],
        properties: Sequence[str] | None = None,
        id_property: str | None = None,
    ) -> tuple[list[CrmRecord], list[str]]:
        """HubSpot's batch read: (records found, in order asked, de-duplicated; ids not found)."""
        schema.check_object_type(object_type)
        if len(ids) > schema.MAX_BATCH_INPUTS:
            raise InvalidRequest(f"Batch input size {len(ids)} exceeds the limit of {schema.MAX_BATCH_INPUTS}")
        found: list[CrmRecord] = []
        missing: list[str] = []
        with self._lock:
            for raw in dict.fromkeys(str(i) for i in ids):
                record = self._lookup(object_type, raw, id_property)
                if record is None:
                    missing.append(raw)
                else:
                    found.append(self._project(record, properties))
        return found, missing

    def get_by(
        self,
        object_type: str,
        id_property: str,
        value: str,
        properties: Sequence[str] | None = None,
        associations: Sequence[str] = (),
    ) -> CrmRecord:
        """One record by a unique property (HubSpot's ``idProperty``, e.g. a contact's email)."""
        schema.check_object_type(object_type)
        with self._lock:
            record = self._lookup(object_type, value, id_property)
            if record is None:
                raise RecordNotFound(f"{object_type} with {id_property}={value} not found")
        return self.get(object_type, record.id, properties, associations)

    def search(
        self,
        object_type: str,
        *,
        query: str | None = None,
        filters: Sequence[FilterSpec] = (),
        properties: Sequence[str] | None = None,
        sorts: Sequence[SortSpec] | None = None,
        limit: int = 10,
        after: str | None = None,
        filter_groups: Sequence[Sequence[FilterSpec]] = (),
    ) -> SearchPage:
        """Search; ``filters`` must all match (AND). ``filter_groups`` (HubSpot's ``filterGroups``)
        are OR-ed, each group's filters AND-ed; ``filters`` is one more group."""
        schema.check_object_type(object_type)
        if not 1 <= limit <= schema.MAX_SEARCH_LIMIT:
            raise InvalidRequest(f"limit must be between 1 and {schema.MAX_SEARCH_LIMIT}, got {limit}")
        offset = 0
        if after is not None:
            if not str(after).isdigit():
                raise InvalidRequest(f"after must be a paging cursor returned by a search, got {after!r}")
            offset = int(after)
        groups = [list(g) for g in filter_groups] + ([list(filters)] if filters else [])
        schema.check_filter_group_limits([len(g) for g in groups])
        parsed_groups = [[_parse_filter(f) for f in g] for g in groups]
        for group in parsed_groups:
            for prop, op, value in group:
                schema.check_filter(object_type, prop, op, value)
        sort_specs = list(sorts or ())
        if len(sort_specs) > 1:
            raise InvalidRequest("Only one sort is allowed")
        for prop, direction in sort_specs:
            if prop not in schema.PROPERTIES[object_type]:
                raise InvalidRequest(f'Cannot sort by "{prop}": property does not exist')
            if direction not in ("ASCENDING", "DESCENDING"):
                raise InvalidRequest(f"Sort direction must be ASCENDING or DESCENDING, got {direction!r}")
        with self._lock:
            matches = [
                r
                for r in self._scan(object_type)
                if not r.archived
                and (not query or schema.query_matches(object_type, r.properties, query))
                and (
                    not parsed_groups
                    or any(
                        all(schema.filter_matches(object_type, r.properties, p, o, v) for p, o, v in group)
                        for group in parsed_groups
                    )
                )
            ]
        matches.sort(key=lambda r: int(r.id))
        if sort_specs:
            prop, direction = sort_specs[0]
            present = [r for r in matches if r.properties.get(prop) not in (None, "")]
            absent = [r for r in matches if r.properties.get(prop) in (None, "")]
            present.sort(
                key=lambda r: schema.sort_key(object_type, prop, r.properties),
                reverse=direction == "DESCENDING",
            )
            matches = present + absent  # records without the property always last
        page = matches[offset : offset + limit]
        next_after = str(offset + limit) if offset + limit < len(matches) else None
        return SearchPage(
            records=tuple(self._project(r, properties) for r in page),
            total=len(matches),
            next_after=next_after,
        )

    def associations(self, from_type: str, id: str, to_type: str) -> list[str]:
        schema.check_object_type(from_type)
        schema.check_association(from_type, to_type)
        with self._lock:
            record = self._require(from_type, id)
            return self._linked(from_type, record.id, to_type)

    def pipelines(self, object_type: str = "deals") -> list[Pipeline]:
        schema.check_object_type(object_type)
        with self._lock:
            return list(self._stored_pipelines(object_type))

    def owners(self) -> list[Owner]:
        with self._lock:
            return list(self._stored_owners())

    def associated_many(self, from_type: str, ids: Sequence[str], to_type: str) -> dict[str, list[str]]:
        """Associated ids per existing record (HubSpot's association batch read); unknown ids left out."""
        schema.check_object_type(from_type)
        schema.check_association(from_type, to_type)
        out: dict[str, list[str]] = {}
        with self._lock:
            for raw in dict.fromkeys(str(i) for i in ids):
                record = self._lookup(from_type, raw, None)
                if record is not None:
                    out[record.id] = self._linked(from_type, record.id, to_type)
        return out

    def list_page(
        self,
        object_type: str,
        *,
        limit: int = 10,
        after: str | None = None,
        properties: Sequence[str] | None = None,
        archived: bool = False,
    ) -> SearchPage:
        """Every record of a type by id, one page at a time (HubSpot's ``GET /objects/{type}``)."""
        schema.check_object_type(object_type)
        if not 1 <= limit <= schema.MAX_LIST_LIMIT:
            raise InvalidRequest(f"limit must be between 1 and {schema.MAX_LIST_LIMIT}, got {limit}")
        start = 0
        if after is not None:
            if not str(after).isdigit():
                raise InvalidRequest(f"after must be a paging cursor returned by a previous page, got {after!r}")
            start = int(after)
        with self._lock:
            rows = sorted(
                (r for r in self._scan(object_type) if r.archived == archived and int(r.id) >= start),
                key=lambda r: int(r.id),
            )
        page = rows[:limit]
        next_after = str(int(rows[limit].id)) if len(rows) > limit else None
        return SearchPage(
            records=tuple(self._project(r, properties) for r in page), total=len(page), next_after=next_after
        )

    def pipeline(self, object_type: str, pipeline_id: str) -> Pipeline:
        for p in self.pipelines(object_type):
            if p.id == pipeline_id:
                return p
        raise RecordNotFound(f"Unable to find pipeline {pipeline_id} for object type {object_type}")

    def owner(self, owner_id: str, id_property: str = "id") -> Owner:
        if id_property not in ("id", "userId"):
            raise InvalidRequest(f"idProperty must be id or userId, got {id_property!r}")
        for o in self.owners():
            if (o.id if id_property == "id" else str(int(o.id) + OWNER_USER_ID_OFFSET)) == str(owner_id):
                return o
        raise RecordNotFound(f"Owner {owner_id} not found")

    # ------------------------------------------------------------ writes

    def archive(self, object_type: str, id: str) -> None:
        """Move a record to the recycle bin (HubSpot's DELETE); archiving twice is not an error."""
        schema.check_object_type(object_type)
        with self._lock, self._transaction():
            record = self._read(object_type, str(id)) if str(id).isdigit() else None
            if record is None or record.archived:
                return  # HubSpot answers 204 for an unknown or already archived id too
            stamp = schema.format_ms(max(self._clock_ms(), (schema.parse_ms(record.updated_at) or 0) + 1))
            self._write(replace(record, archived=True, updated_at=stamp))

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> int:
        """Link two records with the default association type; returns that type's id."""
        schema.check_object_type(from_type)
        type_id = schema.check_association(from_type, to_type)
        with self._lock, self._transaction():
            self._require(from_type, from_id)
            self._require(to_type, to_id)
            self._link(Association(from_type, str(from_id), to_type, str(to_id)))
        return type_id

    def update(self, object_type: str, id: str, properties: Mapping[str, str | None]) -> CrmRecord:
        schema.check_object_type(object_type)
        if not properties:
            raise InvalidRequest("No properties to update")
        with self._lock, self._transaction():
            current = self._require(object_type, id)
            values = schema.normalise_properties(
                object_type,
                properties,
                owner_ids=self._owner_ids(),
                pipelines=self._stage_ids(object_type),
                current=current.properties,
            )
            updated_ms = max(self._clock_ms(), (schema.parse_ms(current.updated_at) or 0) + 1)
            stamp = schema.format_ms(updated_ms)
            merged = {**current.properties, **values, "hs_lastmodifieddate": stamp}
            record = replace(current, properties=merged, updated_at=stamp)
            self._write(record)
        return self._project(record, [*schema.DEFAULT_PROPERTIES[object_type], *properties])

    def create(
        self,
        object_type: str,
        properties: Mapping[str, str | None],
        associations: Sequence[tuple[str, str]] = (),
        idempotency_key: str | None = None,
    ) -> CrmRecord:
        schema.check_object_type(object_type)
        props: dict[str, str | None] = dict(properties)
        with self._lock, self._transaction():
            if idempotency_key:
                existing = self._find_by_key(object_type, idempotency_key)
                if existing is not None:
                    return self._project(existing, [*schema.DEFAULT_PROPERTIES[object_type], *props])
                props[IDEMPOTENCY_PROPERTY] = idempotency_key
            values = schema.normalise_properties(
                object_type,
                props,
                owner_ids=self._owner_ids(),
                pipelines=self._stage_ids(object_type),
            )
            schema.check_required(object_type, values)
            targets: list[tuple[str, str]] = []
            for to_type, to_id in associations:
                schema.check_association(object_type, to_type)
                if self._read(to_type, str(to_id)) is None:
                    raise InvalidRequest(f"Cannot associate with {to_type} {to_id}: it does not exist")
                targets.append((to_type, str(to_id)))
            new_id = str(max(self._max_id(object_type) or 0, ID_BASE[object_type] - 1) + 1)
            stamp = schema.format_ms(self._clock_ms())
            stored = {
                **{k: v for k, v in values.items() if v is not None},
                "hs_object_id": new_id,
                "createdate": stamp,
                "hs_lastmodifieddate": stamp,
            }
            record = CrmRecord(object_type, new_id, stored, stamp, stamp)
            self._write(record)
            for to_type, to_id in targets:
                self._link(Association(object_type, new_id, to_type, to_id))
        return self._project(record, [*schema.DEFAULT_PROPERTIES[object_type], *props])

    # ------------------------------------------------------------ helpers

    def _require(self, object_type: str, id: str) -> CrmRecord:
        record = self._read(object_type, str(id)) if str(id).isdigit() else None
        if record is None or record.archived:
            raise RecordNotFound(f"{object_type} {id} not found")
        return record

    def _lookup(self, object_type: str, value: str, id_property: str | None) -> CrmRecord | None:
        """A live record by id, or by a unique property (``idProperty``)."""
        if id_property in (None, "", "hs_object_id"):
            record = self._read(object_type, value) if value.isdigit() else None
        else:
            schema.check_id_property(object_type, id_property)
            wanted = value.strip().lower()
            record = next(
                (
                    r
                    for r in self._scan(object_type)
                    if not r.archived and (r.properties.get(id_property) or "").lower() == wanted
                ),
                None,
            )
        return None if record is None or record.archived else record

    def _find_by_key(self, object_type: str, key: str) -> CrmRecord | None:
        for r in self._scan(object_type):
            if r.properties.get(IDEMPOTENCY_PROPERTY) == key:
                return r
        return None

    def _owner_ids(self) -> frozenset[str]:
        return frozenset(o.id for o in self._stored_owners())

    def _stage_ids(self, object_type: str) -> dict[str, frozenset[str]]:
        if object_type != "deals":
            return {}
        return {p.id: frozenset(s.id for s in p.stages) for p in self._stored_pipelines("deals")}

    @staticmethod
    def _project(record: CrmRecord, properties: Sequence[str] | None) -> CrmRecord:
        """Only the asked-for properties (HubSpot returns requested ones even when empty)."""
        known = schema.PROPERTIES[record.object_type]
        if properties is None:
            names: Iterable[str] = schema.DEFAULT_PROPERTIES[record.object_type]
        else:
            names = [*schema.ALWAYS_RETURNED, *(p for p in properties if p in known)]
        return replace(record, properties={n: record.properties.get(n) for n in sorted(set(names))})


def _parse_filter(spec: FilterSpec) -> tuple[str, str, object]:
    items = list(spec)
    if len(items) == 2:
        items.append(None)
    if len(items) != 3 or not isinstance(items[0], str) or not isinstance(items[1], str):
        raise InvalidRequest(f"a filter is (property, operator, value), got {spec!r}")
    value = items[2]
    if isinstance(value, (list, tuple)):
        value = [None if v is None else str(v) for v in value]
    elif value is not None:
        value = str(value)
    return items[0], items[1].upper(), value


__all__ = ["ID_BASE", "OWNER_USER_ID_OFFSET", "CrmEngine"]
