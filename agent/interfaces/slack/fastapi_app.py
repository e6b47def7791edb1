"""HTTP mode: the Bolt app behind FastAPI (``POST /slack/events``, ``GET /healthz``).

Events, interactivity and the slash command all post to ``/slack/events`` (see manifest.yaml).
Bolt's FastAPI adapter converts requests and responses; ``App.dispatch`` is synchronous, so it
runs in Starlette's thread pool instead of blocking the event loop — a burst of events is then
acked concurrently, each well inside Slack's 3 seconds. Events API deliveries take a shorter
path when the bot has an :class:`agent.interfaces.slack.ack.EventAcker`: verify, de-duplicate, enqueue, 200.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.concurrency import run_in_threadpool

from agent.interfaces.slack.ack import EventAcker, FastAckMiddleware, fast_acker

EVENTS_PATH = "/slack/events"


def create_fastapi_app(bolt_app: App, *, path: str = EVENTS_PATH, acker: EventAcker | None = None) -> FastAPI:
    api = FastAPI(title="Chamberlain Slack bot", docs_url=None, redoc_url=None, openapi_url=None)
    acker = acker or fast_acker(bolt_app)
    if acker is not None:  # Events API deliveries are acked before routing (agent/interfaces/slack/ack.py)
        api.add_middleware(FastAckMiddleware, acker=acker, path=path)

    @api.post(path)
    async def slack_events(request: Request) -> Response:
        body = await request.body()
        if acker is not None:
            headers = {k.lower(): v for k, v in request.headers.items()}
            event_id = acker.verified_event(body, headers)
            if event_id is not None:
                acker.accept(event_id, body, headers)  # memory only: fine on the event loop
                return Response(status_code=200)
        bolt_request = to_bolt_request(request, body)
        bolt_response = await run_in_threadpool(bolt_app.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return api


__all__ = ["EVENTS_PATH", "create_fastapi_app"]
