"""The safety invariants of the agent loop, proven on the real graph, SQLite app DB and
SQLite checkpointer, with a scripted model and a versioned key-value tool family."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from agent.events import Event, Progress
from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn
from agent.runtime.chamberlain import Chamberlain, build_runtime
from agent.settings import Settings
from policies.errors import UnknownPrincipal
from tests.agent.kv_tools import KvStore, kv_tools
from tools.base import ToolRegistry

ACCESS = Path(__file__).with_name("access_kv.yaml")


def last_tool_text(messages: list[BaseMessage]) -> str:
    tm = [m for m in messages if isinstance(m, ToolMessage)]
    return str(tm[-1].content) if tm else ""


def echo_tool_result(messages: list[BaseMessage]) -> AIMessage:
    return text_turn("RESULT: " + last_tool_text(messages))


@pytest.fixture
def store() -> KvStore:
    return KvStore()


@pytest.fixture
def make_rt(tmp_path: Path, store: KvStore) -> Iterator[Callable[..., Chamberlain]]:
    made: list[Chamberlain] = []

    def make(turns: list[Any], **settings: Any) -> Chamberlain:
        s = Settings(data_dir=tmp_path, access_policy_path=ACCESS, **settings)
        rt = build_runtime(s, registry=ToolRegistry(kv_tools(store)), chat_model=ScriptedChatModel.from_turns(turns))
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.close()


def test_read_runs_and_answers_with_progress(make_rt: Callable[..., Chamberlain]) -> None:
    rt = make_rt([tool_turn("kv_get", {"key": "color"}), echo_tool_result])
    events: list[Event] = []
    out = rt.ask("u_erin", "what color?", thread_id="t-read", on_event=events.append)
    assert out.status == "answered"
    assert out.answer is not None and '"value":"blue"' in out.answer.text
    # The read result reached the model wrapped as untrusted data (test_graph_real_sdk checks the
    # wire); the model echoed it, but the delimiters are internal and never reach a person.
    assert "untrusted-data" not in out.answer.text and "boundary=" not in out.answer.text
    assert Progress("reading the store…") in events


def test_write_waits_for_the_right_approver_and_runs_once(make_rt: Callable[..., Chamberlain], store: KvStore) -> None:
    rt = make_rt([tool_turn("kv_set", {"key": "color", "value": "green"}), echo_tool_result])
    out = rt.ask("u_erin", "make it green", thread_id="t-w")
    assert out.status == "waiting_for_approval"
    (pending,) = out.pending
    assert pending.current == {"color": "blue"} and pending.proposed == {"color": "green"}
    assert pending.stages[0].approvers == ("u_tom",)  # Erin's manager
    assert store.applied == []  # nothing ran before approval

    own = rt.decide(pending.id, approver_id="u_erin", approve=True)
    assert not own.accepted and "own request" in own.message
    outsider = rt.decide(pending.id, approver_id="u_mallory", approve=True)
    assert not outsider.accepted
    assert store.applied == []

    ok = rt.decide(pending.id, approver_id="u_tom", approve=True)
    assert ok.accepted and ok.final and ok.resumed_thread and ok.outcome == "executed"
    resumed = rt.thread_outcome("t-w")
    assert resumed.status == "answered"
    assert store.values["color"] == "green" and len(store.applied) == 1
    assert '"status": "executed"' in resumed.answer.text  # type: ignore[union-attr]

    again = rt.decide(pending.id, approver_id="u_tom", approve=True)
    assert not again.accepted
    rt.resume("t-w")
    assert len(store.applied) == 1
    assert rt.get_approval(pending.id).status == "executed"
    events = [e.event for e in rt.audit.entries(approval_id=pending.id)]
    assert events.count("write_executed") == 1
    assert rt.audit.verify().ok


def test_rejection_reaches_the_model(make_rt: Callable[..., Chamberlain], store: KvStore) -> None:
    seen: list[str] = []

    def after_reject(messages: list[BaseMessage]) -> AIMessage:
        seen.append(last_tool_text(messages))
        return text_turn("OK, the change was rejected.")

    rt = make_rt([tool_turn("kv_set", {"key": "color", "value": "red"}), after_reject])
    out = rt.ask("u_erin", "make it red", thread_id="t-r")
    res = rt.decide(out.pending[0].id, approver_id="u_tom", approve=False, reason="red clashes")
    assert res.final and res.resumed_thread and rt.thread_outcome("t-r").status == "answered"
    assert "REJECTED by Tom Becker" in seen[0] and "red clashes" in seen[0]
    assert store.applied == []


def test_concurrent_resumes_execute_once(make_rt: Callable[..., Chamberlain], store: KvStore) -> None:
    # extra answer turns: concurrent resumes may each run call_model once
    rt = make_rt([tool_turn("kv_set", {"key": "size", "value": "L"}), *[text_turn("done")] * 4])
    out = rt.ask("u_erin", "size L", thread_id="t-c")
    rt.approvals.decide(out.pending[0].id, approver_id="u_tom", approve=True)  # decided, not resumed
    store.before_apply = lambda: threading.Event().wait(0.2)  # widen the race window
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def resume() -> None:
        barrier.wait()
        try:
            # bypass the per-process lock: simulate four separate workers
            rt._run(None, "t-c", lambda _e: None)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=resume) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors  # every worker finished cleanly: the losers found the stored result
    assert len(store.applied) == 1, store.applied
    assert rt.get_approval(out.pending[0].id).status == "executed"
    executed = [e for e in rt.audit.entries(approval_id=out.pending[0].id) if e.event == "write_executed"]
    assert len(executed) == 1


def test_restart_between_approval_and_execution(make_rt: Callable[..., Chamberlain], store: KvStore) -> None:
    first = make_rt([tool_turn("kv_set", {"key": "color", "value": "teal"})])
    out = first.ask("u_erin", "teal please", thread_id="t-k")
    first.approvals.decide(out.pending[0].id, approver_id="u_tom", approve=True)
    first.close()  # the process dies before it resumes the thread
    second = make_rt([text_turn("teal is set")])
    outcomes = second.recover()
    assert [o.status for o in outcomes] == ["answered"]
    assert len(store.applied) == 1 and store.values["color"] == "teal"
    assert second.recover() == []  # nothing left to do; nothing runs twice
    assert len(store.applied) == 1


def test_crash_during_execution_reclaims_with_same_idempotency_key(
    make_rt: Callable[..., Chamberlain], store: KvStore, tmp_path: Path
) -> None:
    rt = make_rt([tool_turn("kv_set", {"key": "color", "value": "navy"}), text_turn("done"), text_turn("done")])
    out = rt.ask("u_erin", "navy", thread_id="t-x")
    apr = out.pending[0].id
    rt.approvals.decide(apr, approver_id="u_tom", approve=True)

    def crash() -> None:
        raise SystemExit("worker killed mid-write")

    store.before_apply = crash
    with pytest.raises(SystemExit):
        rt.resume("t-x")
    assert rt.get_approval(apr).status == "executing" and store.applied == []
    # a first attempt that did reach the remote system before dying
    rec = rt.approvals.get(apr)
    store.before_apply = None
    store.write("color", "navy", rec.idempotency_key)
    rt.approvals.lease = __import__("datetime").timedelta(seconds=0)
    rt.resume("t-x")
    assert len(store.applied) == 1  # the retry used the same key: no duplicate effect
    assert rt.get_approval(apr).status == "executed"


def test_tampered_arguments_do_not_execute(make_rt: Callable[..., Chamberlain], store: KvStore) -> None:
    rt = make_rt([tool_turn("kv_set", {"key": "color", "value": "green"}), echo_tool_result])
    out = rt.ask("u_erin", "green", thread_id="t-t")
    rt.approvals.decide(out.pending[0].id, approver_id="u_tom", approve=True)
    config = {"configurable": {"thread_id": "t-t"}}
    snap = rt.graph.get_state(config)
    gated = [dict(g) for g in snap.values["gated"]]
    gated[0]["args"] = {"key": "color", "value": "black"}  # changed after approval
    rt.graph.update_state(config, {"gated": gated}, as_node="gate")
    res = rt.resume("t-t")
    assert store.applied == []
    assert res.answer is not None and "differs from what was approved" in res.answer.text
    assert any(e.event == "approval_mismatch" for e in rt.audit.entries())


def test_target_changed_after_approval_is_not_executed(make_rt: Callable[..., Chamberlain], store: KvStore) -> None:
    rt = make_rt([tool_turn("kv_set", {"key": "color", "value": "green"}), echo_tool_result])
    out = rt.ask("u_erin", "green", thread_id="t-s")
    store.write("color", "purple", "someone-else")  # the record moves on meanwhile
    res = rt.decide(out.pending[0].id, approver_id="u_tom", approve=True)
    assert res.resumed_thread and "changed after it was approved" in res.outcome
    assert "changed after it was approved" in rt.thread_outcome("t-s").answer.text  # type: ignore[union-attr]
    assert store.values["color"] == "purple" and len(store.applied) == 1
    assert rt.get_approval(out.pending[0].id).status == "stale"


def test_bad_calls_are_denied_with_readable_reasons(make_rt: Callable[..., Chamberlain]) -> None:
    seen: list[str] = []

    def record(messages: list[BaseMessage]) -> AIMessage:
        seen.append(last_tool_text(messages))
        return text_turn("noted")

    rt = make_rt(
        [
            tool_turn("kv_delete", {"key": "color"}),
            record,
        ]
    )
    rt.ask("u_erin", "delete", thread_id="t-u")
    assert "unknown tool 'kv_delete'" in seen[0]

    rt2 = make_rt([tool_turn("kv_set", {"key": "color", "value": "", "extra": 1}), record])
    rt2.ask("u_erin", "bad args", thread_id="t-b")
    assert "invalid arguments for kv_set" in seen[1] and "extra" in seen[1]


def test_tool_outside_role_is_denied(make_rt: Callable[..., Chamberlain], store: KvStore) -> None:
    seen: list[str] = []

    def record(messages: list[BaseMessage]) -> AIMessage:
        seen.append(last_tool_text(messages))
        return text_turn("cannot")

    rt = make_rt([tool_turn("kv_set", {"key": "color", "value": "x"}), record])
    rt.ask("u_casey", "contractor tries a write", thread_id="t-ct")  # contractor: no kv tools
    assert "may not use kv_set" in seen[0]
    assert store.applied == [] and rt.approvals.list() == []


def test_tool_failure_and_conversation_continues(make_rt: Callable[..., Chamberlain], store: KvStore) -> None:
    store.down = True
    rt = make_rt(
        [
            tool_turn("kv_get", {"key": "color"}),
            echo_tool_result,
            tool_turn("kv_get", {"key": "color"}),
            echo_tool_result,
        ]
    )
    out = rt.ask("u_erin", "color?", thread_id="t-f")
    assert out.answer is not None and "unavailable right now" in out.answer.text
    store.down = False
    again = rt.ask("u_erin", "and now?", thread_id="t-f")
    assert again.answer is not None and '"value":"blue"' in again.answer.text


def test_model_down_fails_clearly_and_conversation_continues(make_rt: Callable[..., Chamberlain]) -> None:
    from agent.models.chat import ModelUnavailable

    def down(_m: list[BaseMessage]) -> AIMessage:
        raise ModelUnavailable("Claude is unavailable (HTTP 529) after retries; try again shortly.")

    rt = make_rt([down, text_turn("back")])
    out = rt.ask("u_erin", "hi", thread_id="t-m")
    assert out.status == "failed" and out.error is not None and "529" in out.error.message
    ok = rt.ask("u_erin", "hi again", thread_id="t-m")
    assert ok.status == "answered" and ok.answer is not None and ok.answer.text == "back"


def test_unknown_user_and_foreign_thread(make_rt: Callable[..., Chamberlain]) -> None:
    rt = make_rt([text_turn("hello")])
    with pytest.raises(UnknownPrincipal, match="unknown user 'u_nobody'"):
        rt.ask("u_nobody", "hi")
    rt.ask("u_erin", "hi", thread_id="t-o")
    other = rt.ask("u_mallory", "what did erin ask?", thread_id="t-o")
    assert other.status == "failed" and "belongs to Erin Walsh" in other.error.message  # type: ignore[union-attr]


def test_step_budget(make_rt: Callable[..., Chamberlain]) -> None:
    rt = make_rt([tool_turn("kv_get", {"key": "color"})] * 3, max_steps=2)
    out = rt.ask("u_erin", "loop", thread_id="t-loop")
    assert out.status == "failed" and "after 2 steps" in out.error.message  # type: ignore[union-attr]


def test_new_message_while_waiting_is_refused_clearly(make_rt: Callable[..., Chamberlain]) -> None:
    rt = make_rt([tool_turn("kv_set", {"key": "color", "value": "green"})])
    rt.ask("u_erin", "green", thread_id="t-busy")
    out = rt.ask("u_erin", "anything else?", thread_id="t-busy")
    assert out.status == "failed" and "waiting for approval of kv_set" in out.error.message  # type: ignore[union-attr]


def test_expired_request_reaches_the_model(make_rt: Callable[..., Chamberlain], store: KvStore) -> None:
    seen: list[str] = []

    def after(messages: list[BaseMessage]) -> AIMessage:
        seen.append(last_tool_text(messages))
        return text_turn("it expired")

    rt = make_rt([tool_turn("kv_set", {"key": "color", "value": "gold"}), after], approval_ttl_hours=0)
    out = rt.ask("u_erin", "gold", thread_id="t-exp")
    assert out.status == "waiting_for_approval"
    expired = rt.expire_due()
    assert [v.id for v in expired] == [out.pending[0].id]
    assert "approval request is expired" in seen[0]
    assert store.applied == []
    assert not rt.decide(out.pending[0].id, approver_id="u_tom", approve=True).accepted
