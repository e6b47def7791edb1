"""HTTP mode: the Bolt app behind FastAPI (``POST /slack/events``, ``GET /healthz``).

Events, interactivity and the slash command all post to ``/slack/events`` (see manifest.yaml).
Bolt's FastAPI adapter converts requests and responses; ``App.dispatch`` is synchronous, so it
runs in Starlette's thread pool instead of blocking the event loop — a burst of events is then
acked concurrently, each well inside Slack's 3 seconds.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.concurrency import run_in_threadpool

EVENTS_PATH = "/slack/events"


def create_fastapi_app(bolt_app: App, *, path: str = EVENTS_PATH) -> FastAPI:
    api = FastAPI(title="Chamberlain Slack bot", docs_url=None, redoc_url=None, openapi_url=None)

    @api.post(path)
    async def slack_events(request: Request) -> Response:
        body = await request.body()
        bolt_request = to_bolt_request(request, body)
        bolt_response = await run_in_threadpool(bolt_app.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return api


__all__ = ["EVENTS_PATH", "create_fastapi_app"]
