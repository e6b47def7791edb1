"""The HTTP API: ask (with server-sent progress events), list and decide approvals.

Authentication: the service sits behind your SSO proxy. Every request carries the service token
(``Authorization: Bearer $CHAMBERLAIN_HTTP_TOKEN``) and the proxy-asserted user id in
``X-Chamberlain-User``; the token proves the header came from the proxy. Without a configured
token the API refuses to start.

    POST /v1/ask                       {"text": "...", "thread_id": null}  → JSON outcome,
                                       or text/event-stream with Accept: text/event-stream
    GET  /v1/approvals                 items waiting for the caller
    GET  /v1/approvals/{id}            one request
    POST /v1/approvals/{id}/decision   {"approve": true, "reason": null}
    GET  /v1/batches/{id}              writes proposed together (agent/interfaces/http/batches.py)
    POST /v1/batches/{id}/decision     approve / reject all (or some) of them, per item
    POST /v1/requests                  {"request": {...}}  file a business request (see
                                       `chamberlain requests template KIND`)
    POST /v1/requests/simulate         {"request": {...}, "today": null}  the route; saves nothing
    GET  /v1/stats?since_days=N        volume, auto-approval rate, time to decision
    GET  /v1/audit?approval_id=ID      the audit trail of one request (requester and approvers)
    GET  /healthz                      no token

Approval ids may be given as any unique prefix. A missing or wrong token is ``401`` with
``WWW-Authenticate: Bearer``, checked before the body is read. Limits, one for every interface:
a message is at most ``CHAMBERLAIN_MAX_MESSAGE_CHARS`` characters (the chat limit), and a
request body at most ``MAX_BODY_BYTES``. ``/openapi.json`` describes the API (with its security
schemes); the interactive ``/docs`` page is off, because it loads its assets from a CDN.
"""

# No `from __future__ import annotations`: FastAPI must see the real types of the closures'
# dependency annotations below.
import hmac
import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.errors import (
    TRANSLATED_BASES,
    AmbiguousId,
    ConnectorError,
    PermissionDenied,
    PolicyError,
    RecordNotFound,
    UnknownPrincipal,
    translate,
)
from agent.events import DecisionResult, Event, Outcome
from agent.runtime.chamberlain import Chamberlain
from agent.service.stores import Service

MAX_BODY_BYTES = 64 * 1024
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="chamberlain"'}


class AskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The length limit is the runtime's (CHAMBERLAIN_MAX_MESSAGE_CHARS), checked in ask().
    text: str = Field(min_length=1, description="The message, at most CHAMBERLAIN_MAX_MESSAGE_CHARS characters.")
    thread_id: str | None = Field(None, max_length=200, pattern=r"^[\w:.\-]+$")


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request: dict[str, Any] = Field(description="One business request, as `chamberlain requests template KIND`.")
    today: str | None = Field(None, description="Simulate only: route as of this date (YYYY-MM-DD).")


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approve: bool
    reason: str | None = Field(None, max_length=2000)


def _json(value: Any) -> Any:
    return json.loads(json.dumps(asdict(value), default=str))


def create_http_app(runtime: Chamberlain, *, token: str, max_text_chars: int = 8000) -> FastAPI:
    """The API over ``runtime``. ``max_text_chars`` is the chat limit (Settings.max_message_chars)."""
    if not token:
        raise ValueError("set CHAMBERLAIN_HTTP_TOKEN: the HTTP API needs a service token")
    max_chars = max_text_chars
    svc = Service.for_runtime(runtime)  # the same functions as the CLI, the web page and Slack
    app = FastAPI(title="Chamberlain", version="0.1.0", docs_url=None, redoc_url=None)
    expected = token.encode()

    async def translated_error(request: Request, exc: Exception) -> JSONResponse:
        # The API's boundary (agent.errors): a failure a caller can act on is a status and one
        # line; anything else stays a 500 with the server's log entry.
        error = translate(exc)
        if error is None:
            raise exc
        return JSONResponse({"detail": error.message}, status_code=error.status)

    for family in TRANSLATED_BASES:
        app.add_exception_handler(family, translated_error)

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Any:
        # Before the body is parsed: an unauthenticated caller gets 401, never a 422 echoing its body.
        if request.url.path.startswith("/v1/"):
            supplied = request.headers.get("authorization", "")
            scheme, _, value = supplied.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), expected):
                return JSONResponse(
                    {"detail": "missing or wrong service token (Authorization: Bearer ...)"},
                    status_code=401,
                    headers=_CHALLENGE,
                )
            length = request.headers.get("content-length")
            if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
                return JSONResponse({"detail": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        return await call_next(request)

    bearer = HTTPBearer(auto_error=False, description="The service token, CHAMBERLAIN_HTTP_TOKEN.")
    user_header = APIKeyHeader(
        name="X-Chamberlain-User", auto_error=False, description="The person, as asserted by your SSO proxy."
    )

    def caller(
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        x_chamberlain_user: Annotated[str | None, Depends(user_header)],
    ) -> str:
        # The token itself was checked by the middleware; these dependencies document it.
        user = x_chamberlain_user or ""
        if runtime.directory.find(user) is None:
            raise HTTPException(403, f"unknown user {user!r} in X-Chamberlain-User (a directory id such as u_alice)")
        return user

    User = Annotated[str, Depends(caller)]

    def full_id(approval_id: str) -> str:
        try:
            return svc.approvals.resolve(approval_id)
        except RecordNotFound:
            raise HTTPException(404, "no such approval request") from None
        except AmbiguousId as exc:
            raise HTTPException(409, str(exc)) from None

    def visible(approval_id: str, user: str) -> Any:
        try:
            return svc.approvals.view(approval_id, viewer=user)
        except PermissionDenied as exc:
            raise HTTPException(403, str(exc)) from None

    def workflows() -> Any:
        if getattr(runtime, "workflows", None) is None:
            raise HTTPException(503, "business requests are not enabled on this server")
        return runtime.workflows

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/ask", response_model=None)
    def ask(body: AskBody, user: User, request: Request) -> Any:
        if len(body.text) > max_chars:
            raise HTTPException(413, f"message is {len(body.text)} characters; the limit is {max_chars}")
        if "text/event-stream" not in request.headers.get("accept", ""):
            out = runtime.ask(user, body.text, thread_id=body.thread_id)
            return JSONResponse(_json(out), status_code=200 if out.status != "failed" else 422)
        return StreamingResponse(_stream(runtime, user, body), media_type="text/event-stream")

    @app.get("/v1/approvals")
    def approvals(user: User) -> list[Any]:
        return [_json(v) for v in svc.approvals.pending_for(user)]

    @app.get("/v1/approvals/{approval_id}")
    def approval(approval_id: str, user: User) -> Any:
        return _json(visible(full_id(approval_id), user))

    @app.post("/v1/approvals/{approval_id}/decision")
    def decide(approval_id: str, body: DecisionBody, user: User) -> JSONResponse:
        # The body says the decision and its outcome only: never the requester's conversation,
        # the action's result or, to anyone outside the route, the request itself.
        full = full_id(approval_id)
        try:
            res = svc.approvals.decide(
                full, approver_id=user, approve=body.approve, reason=body.reason, approvers_only=True
            )
        except PermissionDenied as exc:
            raise HTTPException(403, str(exc)) from None
        except (RecordNotFound, UnknownPrincipal):
            raise HTTPException(404, f"no approval {approval_id!r}") from None
        return JSONResponse(decision_body(res), status_code=200 if res.accepted else 409)

    @app.post("/v1/requests")
    def submit(body: RequestBody, user: User) -> JSONResponse:
        svc = workflows()
        try:
            sub = svc.submit(user, body.request)
        except ValidationError as exc:
            raise HTTPException(422, _problems(exc)) from None
        except (PolicyError, ConnectorError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None
        rec = sub.record
        out = {
            "id": rec.id,
            "status": rec.status,
            "result": rec.result,
            "decision": sub.decision.model_dump(mode="json"),
        }
        return JSONResponse(json.loads(json.dumps(out, default=str)), status_code=201)

    @app.post("/v1/requests/simulate")
    def simulate_route(body: RequestBody, user: User) -> Any:
        import datetime as dt

        from policies.routing import simulate

        svc = workflows()
        payload: dict[str, Any] = {"requester": user, "request": body.request}
        try:
            today = dt.date.fromisoformat(body.today) if body.today else svc.now().date()
            decision = simulate(payload, svc.policy, svc.directory, today=today)
        except ValidationError as exc:
            raise HTTPException(422, _problems(exc)) from None
        except (PolicyError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None
        return decision.model_dump(mode="json")

    @app.get("/v1/stats")
    def stats(user: User, since_days: Annotated[int | None, Query(ge=1, le=3650)] = None) -> Any:
        import datetime as dt

        svc = workflows()
        since = svc.now() - dt.timedelta(days=since_days) if since_days else None
        return svc.stats(since).to_json()

    @app.get("/v1/audit")
    def audit(user: User, approval_id: Annotated[str, Query(min_length=1, max_length=64)]) -> list[Any]:
        try:
            trail = svc.approvals.audit_trail(full_id(approval_id), viewer=user)
        except PermissionDenied as exc:
            raise HTTPException(403, str(exc)) from None
        return [json.loads(json.dumps(e.to_json(), default=str)) for e in trail]

    from agent.interfaces.http.web import (
        mount_web,  # the web page, /readyz and /metrics (see agent/interfaces/http/web)
    )

    mount_web(app, runtime, token=token, settings=getattr(runtime, "settings", None))
    from agent.interfaces.http.reports import reports_router

    scheduler = runtime.reports
    run_now = (lambda: scheduler) if scheduler is not None else None
    app.include_router(reports_router(svc.reports, caller, run_now))
    from agent.interfaces.http.batches import batches_router

    app.include_router(batches_router(svc, caller))
    return app


def decision_body(res: DecisionResult) -> dict[str, Any]:
    """What an approver receives for a decision: which request, whether it was accepted, the
    one-line message, and what happened to the request. Nothing of the requester's data."""
    return {
        "approval_id": res.approval.id,
        "accepted": res.accepted,
        "message": res.message,
        "final": res.final,
        "status": res.approval.status if res.accepted else None,
        "outcome": res.outcome if res.accepted else None,
    }


def _problems(exc: ValidationError) -> str:
    """A validation error as plain sentences (field: problem), without the submitted values."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}" for e in exc.errors())


def _stream(runtime: Chamberlain, user: str, body: AskBody) -> Iterator[bytes]:
    """Run the turn in a worker thread; yield its events as they happen, then the outcome."""
    events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def work() -> None:
        try:
            out: Outcome = runtime.ask(user, body.text, thread_id=body.thread_id, on_event=_put)
            events.put(("outcome", _json(out)))
        except Exception as exc:  # reported to the client; the server keeps serving
            events.put(("error", {"message": f"{type(exc).__name__}: {exc}"}))
        finally:
            events.put(("end", None))

    def _put(event: Event) -> None:
        events.put((event.kind, _json(event)))

    threading.Thread(target=work, daemon=True).start()
    while True:
        kind, data = events.get()
        if kind == "end":
            return
        yield f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


__all__ = ["create_http_app", "decision_body"]
