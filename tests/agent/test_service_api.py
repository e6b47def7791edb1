"""The service API (agent/service/) every interface calls, on the real graph, SQLite app DB and
checkpointer with a scripted model: one detail for every surface, decisions made without the
graph continued once by whoever has it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from agent.errors import PermissionDenied, RecordNotFound
from agent.events import ErrorEvent, Event
from agent.interfaces.http.api import create_http_app
from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn
from agent.runtime.chamberlain import Chamberlain, build_runtime
from agent.runtime.decisions import Decisions
from agent.runtime.lifecycle import wire_lifecycle
from agent.service.stores import Service
from agent.settings import Settings
from connectors.appdb.resumes import ResumeQueue
from tests.agent.kv_tools import KvStore, kv_tools
from tools.base import ToolRegistry

ACCESS = Path(__file__).with_name("access_kv.yaml")
TOKEN = "svc-api-token"


def _echo(messages: list[BaseMessage]) -> AIMessage:
    tm = [m for m in messages if isinstance(m, ToolMessage)]
    return text_turn("RESULT: " + (str(tm[-1].content) if tm else ""))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Chamberlain, KvStore, Settings, ToolRegistry]]:
    store = KvStore()
    settings = Settings(data_dir=tmp_path, access_policy_path=ACCESS)
    registry = ToolRegistry(kv_tools(store))
    turns: list[AIMessage | Callable[[list[BaseMessage]], AIMessage]] = [
        tool_turn("kv_set", {"key": "color", "value": "green"}),
        _echo,
        text_turn("You are welcome."),
    ]
    rt = build_runtime(settings, registry=registry, chat_model=ScriptedChatModel.from_turns(turns))
    try:
        yield rt, store, settings, registry
    finally:
        rt.close()


def _light(rt: Chamberlain, settings: Settings, registry: ToolRegistry) -> Decisions:
    """The CLI's decision path on the same database: the lifecycle, no graph."""
    parts = wire_lifecycle(settings, engine=rt.approvals.engine, directory=rt.directory, registry=registry)
    return Decisions(parts, rt.directory)


def test_one_detail_for_the_cli_the_http_api_and_the_cards(
    world: tuple[Chamberlain, KvStore, Settings, ToolRegistry],
) -> None:
    rt, _store, _settings, _registry = world
    out = rt.ask("u_erin", "make it green", thread_id="t-detail")
    (pending,) = out.pending
    svc = Service.for_runtime(rt)
    detail = svc.approvals.detail(pending.id[:8])  # a unique prefix, like git
    assert detail.view.id == pending.id and detail.view.status == "pending"
    assert "approval_requested" in [e.event for e in detail.audit]
    with pytest.raises(PermissionDenied):
        svc.approvals.detail(pending.id, viewer="u_mallory")
    with pytest.raises(RecordNotFound):
        svc.approvals.detail("apr_nosuch")
    with pytest.raises(RecordNotFound, match="at least"):
        svc.approvals.resolve("apr_")  # too short to name one

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_http_app(rt, token=TOKEN), port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    try:
        url = f"http://127.0.0.1:{port}"
        h = {"Authorization": f"Bearer {TOKEN}", "X-Chamberlain-User": "u_tom"}
        got = httpx.get(f"{url}/v1/approvals/{pending.id[:8]}", headers=h).json()
        view = svc.approvals.view(pending.id)
        assert (got["id"], got["status"], got["title"], got["proposed"]) == (
            view.id,
            view.status,
            view.title,
            view.proposed,
        )
        trail = httpx.get(f"{url}/v1/audit", params={"approval_id": pending.id[:8]}, headers=h).json()
        assert [e["event"] for e in trail] == [e.event for e in svc.approvals.audit_trail(pending.id)]
        outsider = {**h, "X-Chamberlain-User": "u_mallory"}
        assert httpx.get(f"{url}/v1/approvals/{pending.id}", headers=outsider).status_code == 403
        refused = httpx.post(f"{url}/v1/approvals/{pending.id}/decision", json={"approve": True}, headers=outsider)
        assert refused.status_code == 403
    finally:
        server.should_exit = True


def test_a_decision_without_the_graph_is_continued_once_by_the_requesters_next_message(
    world: tuple[Chamberlain, KvStore, Settings, ToolRegistry],
) -> None:
    rt, store, settings, registry = world
    out = rt.ask("u_erin", "make it green", thread_id="t-light")
    (pending,) = out.pending
    light = _light(rt, settings, registry)

    res = light.decide(pending.id, approver_id="u_tom", approve=True)
    assert res.accepted and res.final and res.outcome == "executed"
    assert res.resume_queued == "t-light" and not res.resumed_thread  # the truth: queued, not continued
    assert store.values["color"] == "green" and len(store.applied) == 1
    assert rt.thread_outcome("t-light").status == "waiting_for_approval"  # the graph has not moved yet

    seen: list[Event] = []
    after = rt.ask("u_erin", "thanks", thread_id="t-light", on_event=seen.append)
    # The queued resume ran first (its answer streamed to the requester), then the new turn.
    assert any(getattr(e, "text", "").startswith("RESULT: ") for e in seen)
    assert after.status == "answered" and after.answer is not None and after.answer.text == "You are welcome."
    assert not rt.resumes.is_pending("t-light")
    assert len(store.applied) == 1  # the resume found the write done; it did not run it again
    events = [e.event for e in rt.audit.entries(approval_id=pending.id)]
    assert events.count("write_executed") == 1
    assert rt.resume_requested("t-light") is None  # nothing left to continue


def test_a_thread_another_process_is_continuing_is_not_resumed_twice(
    world: tuple[Chamberlain, KvStore, Settings, ToolRegistry],
) -> None:
    rt, store, settings, registry = world
    (pending,) = rt.ask("u_erin", "make it green", thread_id="t-busy").pending
    _light(rt, settings, registry).decide(pending.id, approver_id="u_tom", approve=True)
    other = ResumeQueue(rt.approvals.engine)  # another process's resumer
    assert other.claim("t-busy")
    assert rt.resume_requested("t-busy") is None
    assert rt.resume_requested_threads() == []
    busy = rt.ask("u_erin", "thanks", thread_id="t-busy")
    assert busy.status == "failed" and isinstance(busy.error, ErrorEvent) and "in a moment" in busy.error.message
    assert rt.thread_outcome("t-busy").status == "waiting_for_approval"  # untouched by this process
    other.release("t-busy")  # it died before resuming: the thread is still pending
    (done,) = rt.resume_requested_threads()
    assert done.status == "answered" and done.answer is not None and done.answer.text.startswith("RESULT: ")
    assert len(store.applied) == 1 and not rt.resumes.is_pending("t-busy")
