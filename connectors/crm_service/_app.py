"""A local HubSpot-compatible CRM API (the subset Chamberlain uses), backed by SQLite.

Endpoints, request and response shapes follow HubSpot's CRM v3 (objects, search, pipelines,
owners) and v4 (associations) APIs, including the error body
``{"status": "error", "message", "category", "correlationId"}``. Demo and tests point the real
:class:`~connectors.crm.HubSpotClient` at it, so the client is exercised over real HTTP.
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors.crm import _schema as schema
from connectors.crm._models import CrmRecord, Owner, Pipeline
from connectors.crm_service._store import SqliteCrmStore
from connectors.errors import ConflictError, ConnectorAuthError, InvalidRequest, RecordNotFound

_EPOCH_STAMP = "2025-01-06T09:00:00.000Z"  # createdAt of owners and pipelines

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FAULT_STATUSES = ("429", "500", "502", "503", "504")


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


def create_app(db_path: str | Path, token: str, *, store: SqliteCrmStore | None = None) -> FastAPI:
    """The HubSpot-compatible app over the SQLite file ``db_path``; requests need ``Bearer token``.

    The database is created if missing but not seeded (see ``seed_crm``).
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
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        category = "OBJECT_NOT_FOUND" if exc.status_code == 404 else "VALIDATION_ERROR"
        return JSONResponse(error_body(str(exc.detail), category), status_code=exc.status_code)

    # ------------------------------------------------------------ objects

    @app.get("/crm/v3/objects/{object_type}/{object_id}")
    def get_object(
        object_type: str,
        object_id: str,
        properties: Annotated[list[str] | None, Query()] = None,
        associations: Annotated[list[str] | None, Query()] = None,
    ) -> dict[str, Any]:
        props = _split(properties)
        to_types = _split(associations) or []
        record = crm.get(object_type, object_id, props, to_types)
        return _record_json(record)

    @app.post("/crm/v3/objects/{object_type}/search")
    def search_objects(object_type: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        schema.check_object_type(object_type)
        groups = body.get("filterGroups") or []
        if not isinstance(groups, list) or len(groups) > 1:
            raise InvalidRequest("this local service supports at most one filter group")
        filters = [_filter(f) for f in (groups[0].get("filters") or [])] if groups else []
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise InvalidRequest(f"limit must be an integer, got {limit!r}")
        page = crm.search(
            object_type,
            query=body.get("query") or None,
            filters=filters,
            properties=body.get("properties") or None,
            sorts=[_sort(s) for s in (body.get("sorts") or [])] or None,
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

    @app.post("/crm/v3/objects/{object_type}", status_code=201)
    def create_object(object_type: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        schema.check_object_type(object_type)
        props = body.get("properties")
        if not isinstance(props, dict):
            raise InvalidRequest("request body needs a 'properties' object")
        links: list[tuple[str, str]] = []
        for item in body.get("associations") or []:
            try:
                to_id = str(item["to"]["id"])
                types = item["types"]
            except (KeyError, TypeError):
                raise InvalidRequest("each association needs 'to': {'id'} and 'types'") from None
            for t in types:
                type_id = t.get("associationTypeId") if isinstance(t, dict) else None
                to_type = schema.to_type_for(object_type, type_id) if isinstance(type_id, int) else None
                if to_type is None:
                    raise InvalidRequest(f"{type_id!r} is not a valid association type id for {object_type}")
                links.append((to_type, to_id))
        return _record_json(crm.create(object_type, props, links))

    # ------------------------------------------------------------ associations (v4)

    @app.get("/crm/v4/objects/{from_type}/{object_id}/associations/{to_type}")
    def list_associations(
        from_type: str, object_id: str, to_type: str, limit: int = 500, after: str | None = None
    ) -> dict[str, Any]:
        ids = crm.associations(from_type, object_id, to_type)
        type_id = schema.ASSOCIATION_TYPE_IDS[(from_type, to_type)]
        start = int(after) if after and after.isdigit() else 0
        chunk = ids[start : start + max(1, min(limit, 500))]
        out: dict[str, Any] = {
            "results": [
                {
                    "toObjectId": int(i),
                    "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}],
                }
                for i in chunk
            ]
        }
        if start + len(chunk) < len(ids):
            out["paging"] = {"next": {"after": str(start + len(chunk))}}
        return out

    # ------------------------------------------------------------ pipelines and owners

    @app.get("/crm/v3/pipelines/{object_type}")
    def list_pipelines(object_type: str) -> dict[str, Any]:
        return {"results": [_pipeline_json(p) for p in crm.pipelines(object_type)]}

    @app.get("/crm/v3/owners")
    def list_owners(limit: int = 100, after: str | None = None, email: str | None = None) -> dict[str, Any]:
        owners = crm.owners()
        if email:
            owners = [o for o in owners if o.email.lower() == email.lower()]
        start = int(after) if after and after.isdigit() else 0
        chunk = owners[start : start + max(1, min(limit, 500))]
        out: dict[str, Any] = {"results": [_owner_json(o) for o in chunk]}
        if start + len(chunk) < len(owners):
            out["paging"] = {"next": {"after": str(start + len(chunk))}}
        return out

    return app


def _split(values: list[str] | None) -> list[str] | None:
    """HubSpot accepts ``?properties=a,b`` and ``?properties=a&properties=b``."""
    if values is None:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _filter(raw: Any) -> tuple[str, str, Any]:
    if not isinstance(raw, dict) or "propertyName" not in raw or "operator" not in raw:
        raise InvalidRequest("each filter needs 'propertyName' and 'operator'")
    value = raw.get("values") if raw.get("values") is not None else raw.get("value")
    return str(raw["propertyName"]), str(raw["operator"]), value


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
        "userId": int(o.id) + 1000,
        "createdAt": _EPOCH_STAMP,
        "updatedAt": _EPOCH_STAMP,
        "archived": False,
        "teams": [],
    }


__all__ = ["FAULT_STATUSES", "FaultInjector", "create_app", "error_body"]
