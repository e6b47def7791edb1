"""A local HubSpot-compatible CRM API (the subset Chamberlain uses), backed by SQLite.

Endpoints, request and response shapes follow HubSpot's CRM v3 (objects, search, pipelines,
owners) and v4 (associations) APIs, including the error body
``{"status": "error", "message", "category", "correlationId"}``. Demo and tests point the real
:class:`~connectors.crm.HubSpotClient` at it, so the client is exercised over real HTTP.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors.crm_service._faults import FAULT_STATUSES, FaultInjector
from connectors.crm_service._links import add_link_routes
from connectors.crm_service._objects import add_object_routes
from connectors.crm_service._ratelimit import RateLimiter, RateLimits
from connectors.crm_service._store import SqliteCrmStore
from connectors.crm_service._wire import error_body
from connectors.errors import ConflictError, ConnectorAuthError, InvalidRequest, RecordNotFound

_EPOCH_STAMP = "2025-01-06T09:00:00.000Z"  # createdAt of owners and pipelines


log = logging.getLogger(__name__)


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

    add_object_routes(app, crm)
    add_link_routes(app, crm)
    return app


__all__ = ["FAULT_STATUSES", "FaultInjector", "create_app", "error_body"]
