"""HubSpot's rules for the objects we use: properties and their kinds, default and searchable
properties, association type ids, and how values are validated, compared and searched.

Shared by the in-memory fake and the local HubSpot-compatible service so the two cannot drift.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime

from connectors.crm.hubspot._models import IDEMPOTENCY_PROPERTY, OBJECT_TYPES
from connectors.errors import InvalidRequest

STRING, NUMBER, DATETIME, ENUM = "string", "number", "datetime", "enumeration"

READ_ONLY = frozenset({"hs_object_id", "createdate", "hs_lastmodifieddate"})

_COMMON: dict[str, str] = {
    "hs_object_id": STRING,
    "createdate": DATETIME,
    "hs_lastmodifieddate": DATETIME,
    "hubspot_owner_id": STRING,
    IDEMPOTENCY_PROPERTY: STRING,
}

PROPERTIES: dict[str, dict[str, str]] = {
    "contacts": {
        **_COMMON,
        "firstname": STRING,
        "lastname": STRING,
        "email": STRING,
        "phone": STRING,
        "jobtitle": STRING,
        "company": STRING,
        "city": STRING,
        "country": STRING,
        "lifecyclestage": STRING,
    },
    "companies": {
        **_COMMON,
        "name": STRING,
        "domain": STRING,
        "industry": STRING,
        "city": STRING,
        "country": STRING,
        "region": STRING,
        "tier": STRING,
        "numberofemployees": NUMBER,
        "phone": STRING,
        "description": STRING,
        "lifecyclestage": STRING,
    },
    "deals": {
        **_COMMON,
        "dealname": STRING,
        "amount": NUMBER,
        "dealstage": ENUM,
        "pipeline": ENUM,
        "closedate": DATETIME,
        "dealtype": STRING,
        "description": STRING,
    },
    "notes": {**_COMMON, "hs_note_body": STRING, "hs_timestamp": DATETIME},
    "tasks": {
        **_COMMON,
        "hs_task_subject": STRING,
        "hs_task_body": STRING,
        "hs_task_status": ENUM,
        "hs_task_priority": ENUM,
        "hs_task_type": ENUM,
        "hs_timestamp": DATETIME,
    },
}

TASK_ENUMS: dict[str, tuple[str, ...]] = {
    "hs_task_status": ("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"),
    "hs_task_priority": ("NONE", "LOW", "MEDIUM", "HIGH"),
    "hs_task_type": ("TODO", "CALL", "EMAIL"),
}

# Returned when a request names no properties (as HubSpot does).
DEFAULT_PROPERTIES: dict[str, tuple[str, ...]] = {
    "contacts": ("createdate", "email", "firstname", "hs_lastmodifieddate", "hs_object_id", "lastname"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
    "notes": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    "tasks": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
}
ALWAYS_RETURNED = ("createdate", "hs_lastmodifieddate", "hs_object_id")

# What a free-text ``query`` looks at.
SEARCHABLE: dict[str, tuple[str, ...]] = {
    "contacts": ("firstname", "lastname", "email", "phone", "company"),
    "companies": ("name", "domain", "phone"),
    "deals": ("dealname", "pipeline", "dealstage", "description", "dealtype"),
    "notes": ("hs_note_body",),
    "tasks": ("hs_task_subject", "hs_task_body"),
}

REQUIRED_ON_CREATE: dict[str, tuple[str, ...]] = {
    "deals": ("dealname", "dealstage"),
    "notes": ("hs_timestamp",),
    "tasks": ("hs_timestamp",),
}

# HubSpot-defined default association type ids, from the first type's side.
ASSOCIATION_TYPE_IDS: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
    ("companies", "notes"): 189,
    ("notes", "companies"): 190,
    ("contacts", "notes"): 201,
    ("notes", "contacts"): 202,
    ("deals", "notes"): 213,
    ("notes", "deals"): 214,
    ("companies", "tasks"): 191,
    ("tasks", "companies"): 192,
    ("contacts", "tasks"): 203,
    ("tasks", "contacts"): 204,
    ("deals", "tasks"): 215,
    ("tasks", "deals"): 216,
}
_SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal", "notes": "note", "tasks": "task"}

MAX_SEARCH_LIMIT = 200
MAX_LIST_LIMIT = 100  # GET /crm/v3/objects/{type}
MAX_BATCH_INPUTS = 100  # batch read and association batch read
# HubSpot's search limits: up to 5 filterGroups, 6 filters in a group, 18 filters in all.
MAX_FILTER_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18

# Unique-value properties a record can be addressed by (``idProperty``), besides hs_object_id.
ID_PROPERTIES: dict[str, tuple[str, ...]] = {"contacts": ("email",)}


def singular(object_type: str) -> str:
    return _SINGULAR.get(object_type, object_type)


def association_label(from_type: str, to_type: str) -> str:
    """HubSpot's v3 association type name, e.g. ``deal_to_company``."""
    return f"{singular(from_type)}_to_{singular(to_type)}"


def to_type_for(from_type: str, type_id: int) -> str | None:
    """Which object type a HubSpot-defined association type id points to."""
    for (a, b), tid in ASSOCIATION_TYPE_IDS.items():
        if a == from_type and tid == type_id:
            return b
    return None


def check_object_type(object_type: str) -> None:
    if object_type not in OBJECT_TYPES:
        raise InvalidRequest(f"Unable to infer object type from: {object_type}; use one of: {', '.join(OBJECT_TYPES)}")


def check_association(from_type: str, to_type: str) -> int:
    check_object_type(to_type)
    try:
        return ASSOCIATION_TYPE_IDS[(from_type, to_type)]
    except KeyError:
        raise InvalidRequest(f"{from_type} cannot be associated with {to_type}") from None


def check_id_property(object_type: str, id_property: str) -> None:
    if id_property not in ID_PROPERTIES.get(object_type, ()):
        allowed = ", ".join(("hs_object_id", *ID_PROPERTIES.get(object_type, ())))
        raise InvalidRequest(
            f"Property {id_property} is not a unique identifier property for {object_type}; use one of: {allowed}"
        )


def check_filter_group_limits(group_sizes: list[int]) -> None:
    if len(group_sizes) > MAX_FILTER_GROUPS:
        raise InvalidRequest(f"Too many filter groups: {len(group_sizes)} (the maximum is {MAX_FILTER_GROUPS})")
    for n in group_sizes:
        if n > MAX_FILTERS_PER_GROUP:
            raise InvalidRequest(f"Too many filters in a filter group: {n} (the maximum is {MAX_FILTERS_PER_GROUP})")
    if sum(group_sizes) > MAX_FILTERS:
        raise InvalidRequest(f"Too many filters: {sum(group_sizes)} (the maximum is {MAX_FILTERS})")


# ---------------------------------------------------------------- timestamps


def format_ms(ms: int) -> str:
    """Epoch milliseconds → ``2026-01-05T09:00:00.000Z`` (HubSpot's timestamp format)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_ms(value: str) -> int | None:
    """An ISO date/datetime or epoch-milliseconds string → epoch ms; None if unparseable."""
    text = value.strip()
    if re.fullmatch(r"-?\d{10,}", text):
        return int(text)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            dt = datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        else:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(dt.timestamp() * 1000)


# ---------------------------------------------------------------- validation


def normalise_properties(
    object_type: str,
    properties: Mapping[str, object],
    *,
    owner_ids: frozenset[str],
    pipelines: Mapping[str, frozenset[str]],
    current: Mapping[str, str | None] | None = None,
) -> dict[str, str | None]:
    """Validate properties to write and return them in stored form.

    ``pipelines`` maps pipeline id → its stage ids; ``current`` is the record before an update.
    Raises :class:`InvalidRequest` with HubSpot-style messages.
    """
    schema = PROPERTIES[object_type]
    out: dict[str, str | None] = {}
    errors: list[str] = []
    for name, raw in properties.items():
        if name not in schema:
            errors.append(f'Property "{name}" does not exist')
            continue
        if name in READ_ONLY:
            errors.append(f'Property "{name}" is read-only')
            continue
        if raw is None or raw == "":
            out[name] = None
            continue
        value = str(raw) if not isinstance(raw, bool) else str(raw).lower()
        kind = schema[name]
        if kind == NUMBER:
            try:
                num = float(value)
            except ValueError:
                errors.append(f'{value} was not a valid number for property "{name}"')
                continue
            value = str(int(num)) if num.is_integer() else repr(num)
        elif kind == DATETIME:
            ms = parse_ms(value)
            if ms is None:
                errors.append(f'{value} was not a valid date or datetime for property "{name}"')
                continue
            value = format_ms(ms)
        elif name in TASK_ENUMS:
            value = value.upper()
            if value not in TASK_ENUMS[name]:
                allowed = ", ".join(TASK_ENUMS[name])
                errors.append(f'{raw} was not one of the allowed options for "{name}": {allowed}')
                continue
        elif name == "hubspot_owner_id" and value not in owner_ids:
            errors.append(f"{value} is not a valid owner id")
            continue
        out[name] = value
    if object_type == "deals" and not errors:
        merged = {**(current or {}), **out}
        pipeline = merged.get("pipeline") or "default"
        if pipeline not in pipelines:
            errors.append(f"{pipeline} is not a valid pipeline id; use one of: {', '.join(pipelines)}")
        else:
            stage = merged.get("dealstage")
            if "pipeline" not in merged or merged["pipeline"] is None:
                out["pipeline"] = pipeline
            if stage is not None and stage not in pipelines[pipeline]:
                errors.append(
                    f"{stage} is not a valid dealstage for pipeline {pipeline}; "
                    f"valid stages: {', '.join(sorted(pipelines[pipeline]))}"
                )
    if errors:
        raise InvalidRequest("Property values were not valid: " + "; ".join(errors))
    return out


def check_required(object_type: str, properties: Mapping[str, str | None]) -> None:
    missing = [p for p in REQUIRED_ON_CREATE.get(object_type, ()) if not properties.get(p)]
    if missing:
        raise InvalidRequest(f"Missing required properties for {object_type}: {', '.join(missing)}")


# ---------------------------------------------------------------- search


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^\w@.*-]+", text.lower()) if t]


def _compare_key(kind: str, value: str) -> tuple[int, float | str]:
    if kind == NUMBER:
        try:
            return (0, float(value))
        except ValueError:
            return (1, value.lower())
    if kind == DATETIME:
        ms = parse_ms(value)
        if ms is not None:
            return (0, float(ms))
    return (1, value.lower())


def check_filter(object_type: str, prop: str, operator: str, value: object) -> None:
    from connectors.crm.hubspot._models import OPERATORS

    if prop not in PROPERTIES[object_type]:
        raise InvalidRequest(f'There was a problem with the request: property "{prop}" does not exist')
    if operator not in OPERATORS:
        raise InvalidRequest(f"Unknown filter operator {operator!r}; use one of: {', '.join(OPERATORS)}")
    if operator in ("IN", "NOT_IN"):
        if not isinstance(value, (list, tuple)) or not value:
            raise InvalidRequest(f"Operator {operator} needs a non-empty list of values")
    elif operator == "BETWEEN":
        if not isinstance(value, (list, tuple)) or len(value) != 2 or None in value:
            raise InvalidRequest("Operator BETWEEN needs a value and a highValue")
    elif operator not in ("HAS_PROPERTY", "NOT_HAS_PROPERTY") and (
        value is None or isinstance(value, (list, tuple, dict))
    ):
        raise InvalidRequest(f"Operator {operator} needs a single value")


def filter_matches(
    object_type: str, properties: Mapping[str, str | None], prop: str, operator: str, value: object
) -> bool:
    """Whether one stored record satisfies one (validated) filter."""
    actual = properties.get(prop)
    has = actual is not None and actual != ""
    if operator == "HAS_PROPERTY":
        return has
    if operator == "NOT_HAS_PROPERTY":
        return not has
    if operator in ("IN", "NOT_IN"):
        wanted = {str(v).lower() for v in value}  # type: ignore[attr-defined]
        inside = has and str(actual).lower() in wanted
        return inside if operator == "IN" else not inside
    if operator == "BETWEEN":
        if not has:
            return False
        kind = PROPERTIES[object_type][prop]
        low, high = (_compare_key(kind, str(v)) for v in value)  # type: ignore[attr-defined]
        here = _compare_key(kind, str(actual))
        return low[0] == here[0] == high[0] and low <= here <= high
    target = str(value)
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        found = has and _contains_token(str(actual), target)
        return found if operator == "CONTAINS_TOKEN" else not found
    if operator == "NEQ":
        return not has or str(actual).lower() != target.lower()
    if not has:
        return False
    kind = PROPERTIES[object_type][prop]
    if operator == "EQ":
        if kind in (NUMBER, DATETIME):
            return _compare_key(kind, str(actual)) == _compare_key(kind, target)
        return str(actual).lower() == target.lower()
    left, right = _compare_key(kind, str(actual)), _compare_key(kind, target)
    if left[0] != right[0]:
        return False
    return {
        "GT": left > right,
        "GTE": left >= right,
        "LT": left < right,
        "LTE": left <= right,
    }[operator]


def _contains_token(actual: str, wanted: str) -> bool:
    wanted = wanted.lower().strip()
    if "*" in wanted:
        return fnmatch.fnmatchcase(actual.lower(), wanted) or any(
            fnmatch.fnmatchcase(t, wanted) for t in _tokens(actual)
        )
    have = set(_tokens(actual))
    return all(t in have for t in _tokens(wanted))


def query_matches(object_type: str, properties: Mapping[str, str | None], query: str) -> bool:
    """Free-text match: every word of ``query`` occurs in some searchable property."""
    text = " ".join(str(properties.get(p) or "") for p in SEARCHABLE[object_type]).lower()
    words = query.lower().split()
    return all(w in text for w in words)


def sort_key(object_type: str, prop: str, properties: Mapping[str, str | None]) -> tuple[int, float | str]:
    value = properties.get(prop)
    if value is None or value == "":
        return (2, "")
    return _compare_key(PROPERTIES[object_type].get(prop, STRING), value)


__all__ = [
    "ALWAYS_RETURNED",
    "ASSOCIATION_TYPE_IDS",
    "DEFAULT_PROPERTIES",
    "ID_PROPERTIES",
    "MAX_BATCH_INPUTS",
    "MAX_FILTERS",
    "MAX_FILTERS_PER_GROUP",
    "MAX_FILTER_GROUPS",
    "MAX_LIST_LIMIT",
    "MAX_SEARCH_LIMIT",
    "PROPERTIES",
    "SEARCHABLE",
    "association_label",
    "check_association",
    "check_filter",
    "check_filter_group_limits",
    "check_id_property",
    "check_object_type",
    "check_required",
    "filter_matches",
    "format_ms",
    "normalise_properties",
    "parse_ms",
    "query_matches",
    "singular",
    "sort_key",
    "to_type_for",
]
