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
    GET  /healthz
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

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from agent.events import DecisionResult, Event, Outcome
from agent.runtime import Chamberlain
from connectors.errors import RecordNotFound
from policies.errors import UnknownPrincipal


class AskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=20_000)
    thread_id: str | None = Field(None, max_length=200, pattern=r"^[\w:.\-]+$")


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approve: bool
    reason: str | None = Field(None, max_length=2000)


def _json(value: Any) -> Any:
    return json.loads(json.dumps(asdict(value), default=str))


def create_http_app(runtime: Chamberlain, *, token: str) -> FastAPI:
    if not token:
        raise ValueError("set CHAMBERLAIN_HTTP_TOKEN: the HTTP API needs a service token")
    app = FastAPI(title="Chamberlain", version="0.1.0")

    def caller(
        authorization: Annotated[str, Header()] = "",
        x_chamberlain_user: Annotated[str, Header()] = "",
    ) -> str:
        supplied = authorization.removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied.encode(), token.encode()):
            raise HTTPException(401, "missing or wrong service token (Authorization: Bearer ...)")
        if runtime.directory.find(x_chamberlain_user) is None:
            raise HTTPException(403, f"unknown user {x_chamberlain_user!r} in X-Chamberlain-User")
        return x_chamberlain_user

    User = Annotated[str, Depends(caller)]

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/ask", response_model=None)
    def ask(body: AskBody, user: User, request: Request) -> Any:
        if "text/event-stream" not in request.headers.get("accept", ""):
            out = runtime.ask(user, body.text, thread_id=body.thread_id)
            return JSONResponse(_json(out), status_code=200 if out.status != "failed" else 422)
        return StreamingResponse(_stream(runtime, user, body), media_type="text/event-stream")

    @app.get("/v1/approvals")
    def approvals(user: User) -> list[Any]:
        return [_json(v) for v in runtime.pending_for(user)]

    @app.get("/v1/approvals/{approval_id}")
    def approval(approval_id: str, user: User) -> Any:
        try:
            view = runtime.get_approval(approval_id)
        except RecordNotFound:
            raise HTTPException(404, f"no approval {approval_id!r}") from None
        involved = {view.requester_id, *(a for s in view.stages for a in s.approvers)}
        if user not in involved:
            raise HTTPException(403, "only the requester and the route's approvers may see this request")
        return _json(view)

    @app.post("/v1/approvals/{approval_id}/decision")
    def decide(approval_id: str, body: DecisionBody, user: User) -> JSONResponse:
        # The body says the decision and its outcome only: never the requester's conversation,
        # the action's result or, to anyone outside the route, the request itself.
        try:
            before = runtime.get_approval(approval_id)
        except RecordNotFound:
            raise HTTPException(404, f"no approval {approval_id!r}") from None
        if user not in {a for s in before.stages for a in s.approvers} and user != before.requester_id:
            raise HTTPException(403, "you are not an approver of this request")
        try:
            res = runtime.decide(approval_id, approver_id=user, approve=body.approve, reason=body.reason)
        except (RecordNotFound, UnknownPrincipal):
            raise HTTPException(404, f"no approval {approval_id!r}") from None
        return JSONResponse(decision_body(res), status_code=200 if res.accepted else 409)

    from agent.web import mount_web  # the web page, /readyz and /metrics (see agent/web)

    mount_web(app, runtime, token=token, settings=getattr(runtime, "settings", None))
    from agent.http_reports import reports_router
    from connectors.appdb.reports import ReportStore

    run_now = (lambda: runtime.reports) if runtime.reports is not None else None
    app.include_router(reports_router(ReportStore(runtime.approvals.engine), caller, run_now))
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
