"""The HTTP API over real HTTP (uvicorn on loopback, httpx client)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from agent.interfaces.http.api import create_http_app
from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn
from agent.runtime.chamberlain import Chamberlain, build_runtime
from agent.settings import Settings
from tests.agent.kv_tools import KvStore, kv_tools
from tools.base import ToolRegistry

ACCESS = Path(__file__).with_name("access_kv.yaml")
TOKEN = "svc-token"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Chamberlain, KvStore]]:
    store = KvStore()
    rt = build_runtime(
        Settings(data_dir=tmp_path, access_policy_path=ACCESS),
        registry=ToolRegistry(kv_tools(store)),
        chat_model=ScriptedChatModel.from_turns(
            [
                tool_turn("kv_get", {"key": "color"}),
                text_turn("It is blue."),
                tool_turn("kv_set", {"key": "color", "value": "red"}),
                text_turn("Red it is."),
            ]
        ),
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_http_app(rt, token=TOKEN), port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", rt, store
    server.should_exit = True
    t.join(5)
    rt.close()


def _h(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "X-Chamberlain-User": user}


def test_auth_is_required(served: tuple[str, Chamberlain, KvStore]) -> None:
    url, _rt, _s = served
    assert httpx.post(f"{url}/v1/ask", json={"text": "hi"}).status_code == 401
    bad_user = httpx.post(f"{url}/v1/ask", json={"text": "hi"}, headers=_h("u_nobody"))
    assert bad_user.status_code == 403 and "u_nobody" in bad_user.text
    assert httpx.post(f"{url}/v1/ask", json={"txt": "hi"}, headers=_h("u_erin")).status_code == 422


def test_stream_then_approve_over_http(served: tuple[str, Chamberlain, KvStore]) -> None:
    url, _rt, store = served
    with httpx.stream(
        "POST",
        f"{url}/v1/ask",
        json={"text": "what color?", "thread_id": "h1"},
        headers={**_h("u_erin"), "Accept": "text/event-stream"},
        timeout=30,
    ) as resp:
        body = "".join(resp.iter_text())
    assert "event: progress" in body and "reading the store" in body
    assert "event: answer" in body and "It is blue." in body and "event: outcome" in body

    out = httpx.post(f"{url}/v1/ask", json={"text": "make it red", "thread_id": "h2"}, headers=_h("u_erin"), timeout=30)
    assert out.status_code == 200 and out.json()["status"] == "waiting_for_approval"
    apr = out.json()["pending"][0]["id"]
    assert [a["id"] for a in httpx.get(f"{url}/v1/approvals", headers=_h("u_tom")).json()] == [apr]
    assert httpx.get(f"{url}/v1/approvals/{apr}", headers=_h("u_mallory")).status_code == 403
    own = httpx.post(f"{url}/v1/approvals/{apr}/decision", json={"approve": True}, headers=_h("u_erin"))
    assert own.status_code == 409 and "own request" in own.json()["message"]
    summary = out.json()["pending"][0]["summary"]
    # error bodies say what is wrong, never what the request is
    assert own.json()["status"] is None and own.json()["outcome"] is None and summary not in own.text
    stranger = httpx.post(f"{url}/v1/approvals/{apr}/decision", json={"approve": True}, headers=_h("u_mallory"))
    assert stranger.status_code == 403 and summary not in stranger.text and "red" not in stranger.text
    missing = httpx.post(f"{url}/v1/approvals/apr_nope/decision", json={"approve": True}, headers=_h("u_tom"))
    assert missing.status_code == 404
    ok = httpx.post(f"{url}/v1/approvals/{apr}/decision", json={"approve": True}, headers=_h("u_tom"), timeout=30)
    assert ok.status_code == 200 and ok.json()["outcome"] == "executed"
    # The approver receives the decision and its outcome only; the answer is the requester's.
    assert "Red it is." not in ok.text and "resumed" not in ok.json()
    assert set(ok.json()) == {"approval_id", "accepted", "message", "final", "status", "outcome"}
    again = httpx.post(f"{url}/v1/approvals/{apr}/decision", json={"approve": True}, headers=_h("u_tom"))
    assert again.status_code == 409 and summary not in again.text and "Red it is." not in again.text
    assert len(store.applied) == 1


def test_auth_limits_and_openapi(served: tuple[str, Chamberlain, KvStore]) -> None:
    url, _rt, _s = served
    # No token: 401 with a challenge, before the (invalid) body is even looked at.
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
        res = httpx.post(f"{url}/v1/ask", content=b"{not json", headers=headers)
        assert res.status_code == 401 and res.headers["www-authenticate"].startswith("Bearer")
    # One message limit (the chat limit), and a body cap.
    long = httpx.post(f"{url}/v1/ask", json={"text": "x" * 8001}, headers=_h("u_erin"))
    assert long.status_code == 413 and "8000" in long.text
    huge = httpx.post(f"{url}/v1/ask", content=b"x" * 70_000, headers={**_h("u_erin"), "content-type": "text/plain"})
    assert huge.status_code == 413
    spec = httpx.get(f"{url}/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} >= {"http", "apiKey"}
    assert "/v1/requests" in spec["paths"] and "/v1/stats" in spec["paths"] and "/v1/audit" in spec["paths"]
    assert httpx.get(f"{url}/docs").status_code == 404  # no CDN-loaded page
    # Business requests need the workflow service; this runtime has none: a clear 503.
    sub = httpx.post(f"{url}/v1/requests", json={"request": {"kind": "expense"}}, headers=_h("u_erin"))
    assert sub.status_code == 503


def test_approval_ids_accept_prefixes(served: tuple[str, Chamberlain, KvStore]) -> None:
    url, rt, _s = served
    out = rt.ask("u_erin", "what color?")
    out = rt.ask("u_erin", "set it to red", thread_id=out.thread_id)
    apr = out.pending[0].id
    got = httpx.get(f"{url}/v1/approvals/{apr[:9]}", headers=_h("u_erin"))
    assert got.status_code == 200 and got.json()["id"] == apr
    trail = httpx.get(f"{url}/v1/audit", params={"approval_id": apr[:9]}, headers=_h("u_erin"))
    assert trail.status_code == 200 and any(e["event"] == "approval_requested" for e in trail.json())
    assert httpx.get(f"{url}/v1/approvals/apr_zzzz9", headers=_h("u_erin")).status_code == 404
