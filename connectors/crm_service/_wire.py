"""The local service's wire format: HubSpot's JSON shapes for records, pipelines, owners,
errors, paging and search bodies (shared by the endpoint modules)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, TypeVar

from connectors.crm.hubspot import _schema as schema
from connectors.crm.hubspot._engine import OWNER_USER_ID_OFFSET
from connectors.crm.hubspot._models import CrmRecord, Owner, Pipeline
from connectors.errors import InvalidRequest

_EPOCH_STAMP = "2025-01-06T09:00:00.000Z"  # createdAt of owners and pipelines
_T = TypeVar("_T")


def error_body(message: str, category: str) -> dict[str, str]:
    return {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}


SEARCH_FIELDS = frozenset({"filterGroups", "sorts", "query", "properties", "limit", "after"})


def now_stamp() -> str:
    return schema.format_ms(time.time_ns() // 1_000_000)


def paging_json(*, request_path: str, after: str) -> dict[str, Any]:
    return {"next": {"after": after, "link": f"{request_path}?after={after}"}}


def page_of(items: list[_T], limit: int, after: str | None) -> tuple[list[_T], str | None]:
    """A page of a list by offset cursor (how the local service pages associations and owners)."""
    if limit < 1:
        raise InvalidRequest(f"limit must be at least 1, got {limit}")
    if after not in (None, "") and not str(after).isdigit():
        raise InvalidRequest(f"after must be a paging cursor returned by a previous page, got {after!r}")
    start = int(after) if after else 0
    chunk = items[start : start + min(limit, 500)]
    return chunk, (str(start + len(chunk)) if start + len(chunk) < len(items) else None)


def batch_ids(body: dict[str, Any]) -> list[str]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) and "id" in i for i in inputs):
        raise InvalidRequest('inputs must be a list of objects like {"id": "123"}')
    if len(inputs) > schema.MAX_BATCH_INPUTS:
        raise InvalidRequest(f"Batch input size {len(inputs)} exceeds the limit of {schema.MAX_BATCH_INPUTS}")
    return [str(i["id"]) for i in inputs]


def parse_filter_group(raw: dict[str, Any]) -> list[tuple[str, str, Any]]:
    filters = raw.get("filters")
    if filters is None:
        filters = []
    if not isinstance(filters, list):
        raise InvalidRequest("each filter group needs 'filters': a list of filters")
    return [parse_filter(f) for f in filters]


def split_values(values: list[str] | None) -> list[str] | None:
    """HubSpot accepts ``?properties=a,b`` and ``?properties=a&properties=b``."""
    if values is None:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def parse_filter(raw: Any) -> tuple[str, str, Any]:
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("propertyName"), str)
        or not isinstance(raw.get("operator"), str)
    ):
        raise InvalidRequest("each filter needs 'propertyName' and 'operator' (strings)")
    for key in ("value", "highValue"):
        if isinstance(raw.get(key), (dict, list)):
            raise InvalidRequest(f"filter on {raw['propertyName']}: {key} must be a single value")
    if raw.get("values") is not None and not isinstance(raw["values"], list):
        raise InvalidRequest(f"filter on {raw['propertyName']}: values must be a list")
    operator = raw["operator"].upper()
    if operator == "BETWEEN":
        value: Any = [raw.get("value"), raw.get("highValue")]
    else:
        value = raw.get("values") if raw.get("values") is not None else raw.get("value")
    return raw["propertyName"], operator, value


def parse_sort(raw: Any) -> tuple[str, str]:
    if isinstance(raw, str):
        return (raw[1:], "DESCENDING") if raw.startswith("-") else (raw, "ASCENDING")
    if isinstance(raw, dict) and "propertyName" in raw:
        return str(raw["propertyName"]), str(raw.get("direction", "ASCENDING"))
    raise InvalidRequest(f"invalid sort {json.dumps(raw)}")


def record_json(r: CrmRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r.id,
        "properties": dict(r.properties),
        "createdAt": r.created_at,
        "updatedAt": r.updated_at,
        "archived": r.archived,
    }
    if r.associations:
        out["associations"] = {
            to_type: {"results": [{"id": i, "type": schema.association_label(r.object_type, to_type)} for i in ids]}
            for to_type, ids in r.associations.items()
        }
    return out


def pipeline_json(p: Pipeline) -> dict[str, Any]:
    return {
        "id": p.id,
        "label": p.label,
        "displayOrder": p.display_order,
        "stages": [
            {
                "id": s.id,
                "label": s.label,
                "displayOrder": s.display_order,
                "metadata": {
                    "isClosed": "true" if s.is_closed else "false",
                    **({"probability": str(s.probability)} if s.probability is not None else {}),
                },
                "createdAt": _EPOCH_STAMP,
                "updatedAt": _EPOCH_STAMP,
                "archived": False,
            }
            for s in p.stages
        ],
        "createdAt": _EPOCH_STAMP,
        "updatedAt": _EPOCH_STAMP,
        "archived": False,
    }


def owner_json(o: Owner) -> dict[str, Any]:
    return {
        "id": o.id,
        "email": o.email,
        "type": "PERSON",
        "firstName": o.first_name,
        "lastName": o.last_name,
        "userId": int(o.id) + OWNER_USER_ID_OFFSET,
        "createdAt": _EPOCH_STAMP,
        "updatedAt": _EPOCH_STAMP,
        "archived": False,
        "teams": [],
    }
