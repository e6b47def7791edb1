"""The Events API ack in front of routing (agent/interfaces/slack/ack.py FastAckMiddleware): signed events
are acked with an empty 200 and handled once afterwards; everything else reaches Bolt with its
body intact."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from slack_bolt import App

from agent.fakes.slack_runtime import event_request, mention_event, signed
from agent.interfaces.slack.ack import EventAcker
from agent.interfaces.slack.fastapi_app import create_fastapi_app
from connectors.slack.client import build_web_client
from connectors.slack.fake_api import FakeSlack

SECRET = "fast-ack-secret"
TOKEN = "xoxb-fast-ack"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as server:
        yield server


def _app(fake: FakeSlack) -> tuple[App, list[str], EventAcker]:
    app = App(signing_secret=SECRET, client=build_web_client(TOKEN, base_url=fake.base_url))
    seen: list[str] = []

    @app.event("app_mention")
    def mention(event: dict[str, Any]) -> None:
        seen.append(str(event["text"]))

    return app, seen, EventAcker(app, SECRET)


def _wait(acker: EventAcker) -> None:
    deadline = time.monotonic() + 10
    while acker.pending() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_signed_event_is_acked_empty_and_handled_once_retries_included(fake: FakeSlack) -> None:
    app, seen, acker = _app(fake)
    with TestClient(create_fastapi_app(app, acker=acker)) as http:
        ev = mention_event("U0PRIYA", "hello there", ts="1.1")
        first = event_request(SECRET, ev, event_id="EvOne")
        retry = event_request(SECRET, ev, event_id="EvOne", retry_num=1)
        for req in (first, retry):
            resp = http.post("/slack/events", content=req.body, headers=req.headers)
            assert resp.status_code == 200 and resp.content == b""
        _wait(acker)
    acker.close()
    assert len(seen) == 1 and "hello there" in seen[0]


def test_other_requests_reach_bolt_with_their_body(fake: FakeSlack) -> None:
    app, seen, acker = _app(fake)
    with TestClient(create_fastapi_app(app, acker=acker)) as http:
        body = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "t"})
        req = signed(SECRET, body, content_type="application/json")
        resp = http.post("/slack/events", content=req.body, headers=req.headers)
        assert resp.status_code == 200 and "c-123" in resp.text  # Bolt answered the challenge

        forged = event_request("not-the-secret", mention_event("U0PRIYA", "forged", ts="2.1"), event_id="EvForged")
        resp = http.post("/slack/events", content=forged.body, headers=forged.headers)
        assert resp.status_code == 401  # not acked here: Bolt rejects the bad signature
        assert http.get("/healthz").json() == {"status": "ok"}  # other paths are untouched
    acker.close()
    assert seen == []
