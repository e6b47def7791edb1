"""A local HubSpot-compatible CRM API (the subset Chamberlain uses), backed by SQLite.

Endpoints, request and response shapes follow HubSpot's CRM v3 (objects, search, pipelines,
owners) and v4 (associations) APIs, including the error body
``{"status": "error", "message", "category", "correlationId"}``. Demo and tests point the real
:class:`~connectors.crm.HubSpotClient` at it, so the client is exercised over real HTTP.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors.crm.hubspot import _schema as schema
from connectors.crm.hubspot._engine import OWNER_USER_ID_OFFSET
from connectors.crm.hubspot._models import CrmRecord, Owner, Pipeline
from connectors.crm_service._ratelimit import RateLimiter, RateLimits
from connectors.crm_service._store import SqliteCrmStore
from connectors.errors import ConflictError, ConnectorAuthError, InvalidRequest, RecordNotFound

_EPOCH_STAMP = "2025-01-06T09:00:00.000Z"  # createdAt of owners and pipelines

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FAULT_STATUSES = ("429", "500", "502", "503", "504")

log = logging.getLogger(__name__)
_T = TypeVar("_T")


def error_body(message: str, category: str) -> dict[str, str]:
    return {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}


class FaultInjector:
    """ASGI middleware: while a fault is set, answer every request with that HTTP error.

    ``app.state.faults`` holds the switch: ``{"status": "503", "remaining": None | int}``.
    Also counts requests (``app.state.request_log``) so tests can see retries happen.
    """

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.state.request_log.append(f"{scope['method']} {scope['path']}")
        fault = self.state.fault
        if fault is not None:
            status, remaining = fault
            if remaining is not None:
                self.state.fault = (status, remaining - 1) if remaining > 1 else None
            headers = {"Retry-After": "1"} if status == "429" else {}
            category = "RATE_LIMITS" if status == "429" else "INTERNAL_ERROR"
            message = "You have reached your secondly limit." if status == "429" else "Service unavailable"
            response = JSONResponse(error_body(message, category), status_code=int(status), headers=headers)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(
    db_path: str | Path,
    token: str,
    *,
    store: SqliteCrmStore | None = None,
    rate_limits: RateLimits | None = None,
) -> FastAPI:
    """The HubSpot-compatible app over the SQLite file ``db_path``; requests need ``Bearer token``.

    The database is created if missing but not seeded (see ``seed_crm``). ``rate_limits``
    turns on HubSpot's rate limiting and ``X-HubSpot-RateLimit-*`` headers.
    """
    if not token:
        raise ValueError("create_app needs a non-empty token (clients send 'Authorization: Bearer <token>')")
    crm = store if store is not None else SqliteCrmStore(db_path)
    expected = f"Bearer {token}".encode()

    def authorize(request: Request) -> None:
        got = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(got, expected):
            raise ConnectorAuthError("Authentication credentials not found or not valid")

    app = FastAPI(title="Local HubSpot-compatible CRM", dependencies=[Depends(authorize)])
    app.state.crm = crm
    app.state.fault = None
    app.state.request_log = []
    if rate_limits is not None:
        app.add_middleware(RateLimiter, limits=rate_limits, authorization=expected)
    app.add_middleware(FaultInjector, state=app.state)

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    # A plain Starlette route: health checks (Docker HEALTHCHECK, load balancers) carry no token.
    app.router.add_route("/healthz", healthz, methods=["GET"], include_in_schema=False)

    @app.exception_handler(ConnectorAuthError)
    async def _auth(_: Request, exc: ConnectorAuthError) -> JSONResponse:
        return JSONResponse(error_body(str(exc), "INVALID_AUTHENTICATION"), status_code=401)

    @app.exception_handler(RecordNotFound)
    async def _missing(_: Request, exc: RecordNotFound) -> JSONResponse:
        return JSONResponse(error_body(str(exc), "OBJECT_NOT_FOUND"), status_code=404)

    @app.exception_handler(InvalidRequest)
    async def _invalid(_: Request, exc: InvalidRequest) -> JSONResponse:
        return JSONResponse(error_body(str(exc), "VALIDATION_ERROR"), status_code=400)

    @app.exception_handler(ConflictError)
    async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse(error_body(str(exc), "CONFLICT"), status_code=409)

    @app.exception_handler(RequestValidationError)
    async def _malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return JSONResponse(error_body(f"Invalid input JSON: {details}", "VALIDATION_ERROR"), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message, category = f"Unable to route {request.method} {request.url.path}", "OBJECT_NOT_FOUND"
        elif exc.status_code == 405:
            message, category = f"HTTP method {request.method} is not supported by this resource", "VALIDATION_ERROR"
        else:
            message, category = str(exc.detail), "VALIDATION_ERROR"
        return JSONResponse(error_body(message, category), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # A bug of ours still answers in HubSpot's shape, so clients see JSON, never a plain-text page.
        log.error("local CRM: %s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse(error_body("internal error", "INTERNAL_ERROR"), status_code=500)

    # ------------------------------------------------------------ objects

    @app.get("/crm/v3/objects/{object_type}")
    def list_objects(
        object_type: str,
        limit: int = 10,
        after: str | None = None,
        archived: bool = False,
        properties: Annotated[list[str] | None, Query()] = None,
        associations: Annotated[list[str] | None, Query()] = None,
    ) -> dict[str, Any]:
        page = crm.list_page(object_type, limit=limit, after=after, properties=_split(properties), archived=archived)
        to_types = _split(associations) or []
        ids = [r.id for r in page.records]
        linked = {t: crm.associated_many(object_type, ids, t) for t in to_types}
        results = [
            _record_json(
                replace(r, associations={t: tuple(by_id[r.id]) for t, by_id in linked.items() if by_id.get(r.id)})
            )
            for r in page.records
        ]
        out: dict[str, Any] = {"results": results}
        if page.next_after is not None:
            out["paging"] = _paging(request_path=f"/crm/v3/objects/{object_type}", after=page.next_after)
        return out

    @app.get("/crm/v3/objects/{object_type}/{object_id}")
    def get_object(
        object_type: str,
        object_id: str,
        properties: Annotated[list[str] | None, Query()] = None,
        associations: Annotated[list[str] | None, Query()] = None,
        archived: bool = False,
        id_property: Annotated[str | None, Query(alias="idProperty")] = None,
    ) -> dict[str, Any]:
        props = _split(properties)
        to_types = _split(associations) or []
        if id_property not in (None, "", "hs_object_id"):
            return _record_json(crm.get_by(object_type, id_property, object_id, props, to_types))
        return _record_json(crm.get(object_type, object_id, props, to_types))

    @app.post("/crm/v3/objects/{object_type}/batch/read")
    def batch_read(object_type: str, body: Annotated[dict[str, Any], Body()], archived: bool = False) -> JSONResponse:
        started = _stamp()
        ids = _batch_ids(body)
        props = body.get("properties")
        if props is not None and not (isinstance(props, list) and all(isinstance(p, str) for p in props)):
            raise InvalidRequest("properties must be a list of property names")
        id_property = body.get("idProperty")
        if id_property is not None and not isinstance(id_property, str):
            raise InvalidRequest("idProperty must be a property name")
        found, missing = crm.read_batch(object_type, ids, props or None, id_property or None)
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": [_record_json(r) for r in found],
            "startedAt": started,
            "completedAt": _stamp(),
        }
        if not missing:
            return JSONResponse(out)
        singular = schema.singular(object_type).upper()
        out["numErrors"] = 1
        out["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {singular} objects, they may be deleted or not exist. "
                "Check that ids are valid.",
                "context": {"ids": missing},
                "errors": [],
                "links": {},
            }
        ]
        return JSONResponse(out, status_code=207)

    @app.post("/crm/v3/objects/{object_type}/search")
    def search_objects(object_type: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        schema.check_object_type(object_type)
        unknown = sorted(set(body) - _SEARCH_FIELDS)
        if unknown:
            raise InvalidRequest(f"Unrecognized field(s) in the search request: {', '.join(unknown)}")
        groups = body.get("filterGroups")
        if groups is None:
            groups = []
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise InvalidRequest('filterGroups must be a list of objects like {"filters": [...]}')
        filter_groups = [_filter_group(g) for g in groups]
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise InvalidRequest(f"limit must be an integer, got {limit!r}")
        query = body.get("query")
        if query is not None and not isinstance(query, str):
            raise InvalidRequest("query must be a string")
        props = body.get("properties")
        if props is not None and not (isinstance(props, list) and all(isinstance(p, str) for p in props)):
            raise InvalidRequest("properties must be a list of property names")
        sorts = body.get("sorts") or []
        if not isinstance(sorts, list):
            raise InvalidRequest("sorts must be a list")
        page = crm.search(
            object_type,
            query=query or None,
            filter_groups=filter_groups,
            properties=props or None,
            sorts=[_sort(s) for s in sorts] or None,
            limit=limit,
            after=None if body.get("after") in (None, "") else str(body["after"]),
        )
        out: dict[str, Any] = {"total": page.total, "results": [_record_json(r) for r in page.records]}
        if page.next_after is not None:
            out["paging"] = {"next": {"after": page.next_after, "link": f"?after={page.next_after}"}}
        return out

    @app.patch("/crm/v3/objects/{object_type}/{object_id}")
    def update_object(object_type: str, object_id: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        props = body.get("properties")
        if not isinstance(props, dict):
            raise InvalidRequest("request body needs a 'properties' object")
        return _record_json(crm.update(object_type, object_id, props))

    @app.delete("/crm/v3/objects/{object_type}/{object_id}", status_code=204)
    def archive_object(object_type: str, object_id: str) -> Response:
        crm.archive(object_type, object_id)
        return Response(status_code=204)

    @app.post("/crm/v3/objects/{object_type}", status_code=201)
    def create_object(object_type: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        schema.check_object_type(object_type)
        props = body.get("properties")
        if not isinstance(props, dict):
            raise InvalidRequest("request body needs a 'properties' object")
        links: list[tuple[str, str]] = []
        raw_links = body.get("associations") or []
        if not isinstance(raw_links, list):
            raise InvalidRequest("associations must be a list")
        for item in raw_links:
            try:
                to_id = str(item["to"]["id"])
                types = list(item["types"])
            except (KeyError, TypeError):
                raise InvalidRequest("each association needs 'to': {'id'} and 'types'") from None
            for t in types:
                type_id = t.get("associationTypeId") if isinstance(t, dict) else None
                to_type = schema.to_type_for(object_type, type_id) if isinstance(type_id, int) else None
                if to_type is None:
                    raise InvalidRequest(f"{type_id!r} is not a valid association type id for {object_type}")
                links.append((to_type, to_id))
        return _record_json(crm.create(object_type, props, links))

    # ------------------------------------------------------------ associations (v3, v4)

    @app.get("/crm/v3/objects/{from_type}/{object_id}/associations/{to_type}")
    def list_associations_v3(
        from_type: str, object_id: str, to_type: str, limit: int = 500, after: str | None = None
    ) -> dict[str, Any]:
        ids = crm.associations(from_type, object_id, to_type)
        label = schema.association_label(from_type, to_type)
        chunk, next_after = _chunk(ids, limit, after)
        out: dict[str, Any] = {"results": [{"id": i, "type": label} for i in chunk]}
        if next_after is not None:
            out["paging"] = _paging(
                request_path=f"/crm/v3/objects/{from_type}/{object_id}/associations/{to_type}", after=next_after
            )
        return out

    @app.post("/crm/v3/associations/{from_type}/{to_type}/batch/read")
    def batch_read_associations_v3(
        from_type: str, to_type: str, body: Annotated[dict[str, Any], Body()]
    ) -> JSONResponse:
        started = _stamp()
        ids = _batch_ids(body)
        found = crm.associated_many(from_type, ids, to_type)
        label = schema.association_label(from_type, to_type)
        results = [
            {"from": {"id": i}, "to": [{"id": t, "type": label} for t in linked]}
            for i, linked in found.items()
            if linked
        ]
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": _stamp()}
        # HubSpot reports a record with no such associations (or no such record) as an error item.
        empty = [i for i in dict.fromkeys(ids) if not found.get(i)]
        if not empty:
            return JSONResponse(out)
        out["numErrors"] = len(empty)
        out["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                "message": f"No {to_type} is associated with {schema.singular(from_type)} {i}.",
                "context": {"fromObjectId": [i]},
                "errors": [],
                "links": {},
            }
            for i in empty
        ]
        return JSONResponse(out, status_code=207)

    @app.get("/crm/v4/objects/{from_type}/{object_id}/associations/{to_type}")
    def list_associations(
        from_type: str, object_id: str, to_type: str, limit: int = 500, after: str | None = None
    ) -> dict[str, Any]:
        ids = crm.associations(from_type, object_id, to_type)
        type_id = schema.ASSOCIATION_TYPE_IDS[(from_type, to_type)]
        chunk, next_after = _chunk(ids, limit, after)
        out: dict[str, Any] = {
            "results": [
                {
                    "toObjectId": int(i),
                    "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}],
                }
                for i in chunk
            ]
        }
        if next_after is not None:
            out["paging"] = {"next": {"after": next_after}}
        return out

    @app.put("/crm/v4/objects/{from_type}/{from_id}/associations/default/{to_type}/{to_id}")
    def create_default_association(from_type: str, from_id: str, to_type: str, to_id: str) -> dict[str, Any]:
        started = _stamp()
        forward = crm.associate(from_type, from_id, to_type, to_id)
        backward = schema.ASSOCIATION_TYPE_IDS[(to_type, from_type)]
        return {
            "status": "COMPLETE",
            "results": [
                {
                    "from": {"id": from_id},
                    "to": {"id": to_id},
                    "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": forward},
                },
                {
                    "from": {"id": to_id},
                    "to": {"id": from_id},
                    "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": backward},
                },
            ],
            "startedAt": started,
            "completedAt": _stamp(),
        }

    # ------------------------------------------------------------ pipelines and owners

    @app.get("/crm/v3/pipelines/{object_type}")
    def list_pipelines(object_type: str) -> dict[str, Any]:
        return {"results": [_pipeline_json(p) for p in crm.pipelines(object_type)]}

    @app.get("/crm/v3/pipelines/{object_type}/{pipeline_id}")
    def get_pipeline(object_type: str, pipeline_id: str) -> dict[str, Any]:
        return _pipeline_json(crm.pipeline(object_type, pipeline_id))

    @app.get("/crm/v3/pipelines/{object_type}/{pipeline_id}/stages")
    def list_stages(object_type: str, pipeline_id: str) -> dict[str, Any]:
        return {"results": _pipeline_json(crm.pipeline(object_type, pipeline_id))["stages"]}

    @app.get("/crm/v3/pipelines/{object_type}/{pipeline_id}/stages/{stage_id}")
    def get_stage(object_type: str, pipeline_id: str, stage_id: str) -> dict[str, Any]:
        for stage in _pipeline_json(crm.pipeline(object_type, pipeline_id))["stages"]:
            if stage["id"] == stage_id:
                return stage
        raise RecordNotFound(f"Unable to find stage {stage_id} in pipeline {pipeline_id}")

    @app.get("/crm/v3/owners")
    @app.get("/crm/v3/owners/", include_in_schema=False)  # the official client asks with the slash
    def list_owners(
        limit: int = 100, after: str | None = None, email: str | None = None, archived: bool = False
    ) -> dict[str, Any]:
        owners = [] if archived else crm.owners()
        if email:
            owners = [o for o in owners if o.email.lower() == email.lower()]
        chunk, next_after = _chunk(owners, min(limit, 500), after)
        out: dict[str, Any] = {"results": [_owner_json(o) for o in chunk]}
        if next_after is not None:
            out["paging"] = _paging(request_path="/crm/v3/owners/", after=next_after)
        return out

    @app.get("/crm/v3/owners/{owner_id}")
    def get_owner(
        owner_id: str,
        id_property: Annotated[str, Query(alias="idProperty")] = "id",
        archived: bool = False,
    ) -> dict[str, Any]:
        if archived:
            raise RecordNotFound(f"Owner {owner_id} not found")
        return _owner_json(crm.owner(owner_id, id_property))

    return app


_SEARCH_FIELDS = frozenset({"filterGroups", "sorts", "query", "properties", "limit", "after"})


def _stamp() -> str:
    return schema.format_ms(time.time_ns() // 1_000_000)


def _paging(*, request_path: str, after: str) -> dict[str, Any]:
    return {"next": {"after": after, "link": f"{request_path}?after={after}"}}


def _chunk(items: list[_T], limit: int, after: str | None) -> tuple[list[_T], str | None]:
    """A page of a list by offset cursor (how the local service pages associations and owners)."""
    if limit < 1:
        raise InvalidRequest(f"limit must be at least 1, got {limit}")
    if after not in (None, "") and not str(after).isdigit():
        raise InvalidRequest(f"after must be a paging cursor returned by a previous page, got {after!r}")
    start = int(after) if after else 0
    chunk = items[start : start + min(limit, 500)]
    return chunk, (str(start + len(chunk)) if start + len(chunk) < len(items) else None)


def _batch_ids(body: dict[str, Any]) -> list[str]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) and "id" in i for i in inputs):
        raise InvalidRequest('inputs must be a list of objects like {"id": "123"}')
    if len(inputs) > schema.MAX_BATCH_INPUTS:
        raise InvalidRequest(f"Batch input size {len(inputs)} exceeds the limit of {schema.MAX_BATCH_INPUTS}")
    return [str(i["id"]) for i in inputs]


def _filter_group(raw: dict[str, Any]) -> list[tuple[str, str, Any]]:
    filters = raw.get("filters")
    if filters is None:
        filters = []
    if not isinstance(filters, list):
        raise InvalidRequest("each filter group needs 'filters': a list of filters")
    return [_filter(f) for f in filters]


def _split(values: list[str] | None) -> list[str] | None:
    """HubSpot accepts ``?properties=a,b`` and ``?properties=a&properties=b``."""
    if values is None:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _filter(raw: Any) -> tuple[str, str, Any]:
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


def _sort(raw: Any) -> tuple[str, str]:
    if isinstance(raw, str):
        return (raw[1:], "DESCENDING") if raw.startswith("-") else (raw, "ASCENDING")
    if isinstance(raw, dict) and "propertyName" in raw:
        return str(raw["propertyName"]), str(raw.get("direction", "ASCENDING"))
    raise InvalidRequest(f"invalid sort {json.dumps(raw)}")


def _record_json(r: CrmRecord) -> dict[str, Any]:
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


def _pipeline_json(p: Pipeline) -> dict[str, Any]:
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


def _owner_json(o: Owner) -> dict[str, Any]:
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


__all__ = ["FAULT_STATUSES", "FaultInjector", "create_app", "error_body"]
