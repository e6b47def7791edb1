"""One app-database transaction per graph step, and a turn that costs a bare agent's steps.

The audit chain must still hold every event in the order it happened, usage must still be
counted once per call, a step that fails must still leave its entries, and a read turn must
take as many checkpoints as a bare ReAct agent (call_model, gate with the read, call_model).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, event

from agent.graph import step_writes
from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn
from agent.runtime.chamberlain import build_runtime
from agent.settings import Settings
from connectors.appdb import AuditLog, UsageStore, make_engine
from tests.agent.kv_tools import KvStore, kv_tools
from tools.base import ToolRegistry

ACCESS = Path(__file__).with_name("access_kv.yaml")


def _commits(engine: object) -> list[int]:
    seen: list[int] = []
    event.listen(engine, "commit", lambda _conn: seen.append(1))
    return seen


def test_a_steps_entries_and_usage_commit_together_in_order(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    audit, usage = AuditLog(engine), UsageStore(engine)
    commits = _commits(engine)
    with step_writes.step(audit):
        step_writes.log(audit, "first", actor="u_a")
        step_writes.write(
            audit,
            usage.model_call_write(
                "u_a", "t", model="m", input_tokens=5, output_tokens=1, cache_read_tokens=0,
                cache_write_tokens=0, cost_usd=0.0,
            ),
        )  # fmt: skip
        step_writes.log(audit, "second", actor="u_a")
        assert [e.event for e in audit.entries()] == []  # nothing visible before the step ends
        assert commits == []
    assert len(commits) == 1  # one transaction for the whole step
    assert [e.event for e in audit.entries()] == ["first", "second"]
    assert usage.window("user", "u_a", "day").tokens == 6
    assert audit.verify().ok


def test_flush_keeps_the_chain_in_event_order_around_direct_writers(tmp_path: Path) -> None:
    audit = AuditLog(make_engine(f"sqlite:///{tmp_path / 'app.db'}"))
    with step_writes.step(audit):
        step_writes.log(audit, "decided", actor="u_a")
        step_writes.flush()  # as the graph does before the lifecycle writes on its own
        audit.append("proposed", actor="system")
        step_writes.log(audit, "result", actor="u_a")
    assert [e.event for e in audit.entries()] == ["decided", "proposed", "result"]
    assert audit.verify().ok


def test_a_failing_step_still_writes_what_it_logged(tmp_path: Path) -> None:
    audit = AuditLog(make_engine(f"sqlite:///{tmp_path / 'app.db'}"))
    with pytest.raises(RuntimeError), step_writes.step(audit):
        step_writes.log(audit, "model_error", actor="u_a", data={"error": "boom"})
        raise RuntimeError("boom")
    assert [e.event for e in audit.entries()] == ["model_error"]


def test_outside_a_step_every_write_is_its_own_transaction(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    audit = AuditLog(engine)
    step_writes.log(audit, "alone", actor="u_a")
    assert [e.event for e in audit.entries()] == ["alone"]
    other = AuditLog(engine)
    with step_writes.step(other):  # a step of another log does not capture this one's entries
        step_writes.log(audit, "still alone", actor="u_a")
        assert [e.event for e in audit.entries()][-1] == "still alone"


def test_a_read_turn_takes_a_bare_agents_checkpoints_and_audits_every_event(tmp_path: Path) -> None:
    turns = [tool_turn("kv_get", {"key": "color"}), text_turn("It is blue.")]
    rt = build_runtime(
        Settings(data_dir=tmp_path, access_policy_path=ACCESS),
        registry=ToolRegistry(kv_tools(KvStore())),
        chat_model=ScriptedChatModel.from_turns(turns),
    )
    with rt:
        out = rt.ask("u_erin", "what color?", thread_id="t-read")
        assert out.status == "answered" and out.answer is not None
        assert "blue" in out.answer.text
        steps = [s.metadata.get("step") for s in rt.graph.get_state_history({"configurable": {"thread_id": "t-read"}})]
        events = [e.event for e in rt.audit.entries(thread_id="t-read")]
        assert rt.audit.verify().ok
        day = rt.deps.usage.window("user", "u_erin", "day")
    # As a bare create_react_agent (input, start, agent, tools, agent): input, start, call_model,
    # gate (the read ran there), call_model (the answer was guarded there).
    assert steps == [3, 2, 1, 0, -1]
    assert events == ["request", "model_turn", "policy_decision", "tool_result", "model_turn", "answer"]
    assert day.requests == 1  # the turn was admitted once


def test_a_refused_turn_still_ends_in_respond_with_its_reason(tmp_path: Path) -> None:
    rt = build_runtime(
        Settings(data_dir=tmp_path, access_policy_path=ACCESS, max_message_chars=10),
        registry=ToolRegistry(kv_tools(KvStore())),
        chat_model=ScriptedChatModel.from_turns([text_turn("never called")]),
    )
    with rt:
        out = rt.ask("u_erin", "a message well over ten characters", thread_id="t-long")
        events = [e.event for e in rt.audit.entries(thread_id="t-long")]
    assert out.status == "failed" and out.error is not None
    assert "limit is 10" in out.error.message
    assert events == ["request", "turn_failed"]


def test_a_read_turn_commits_twice_and_its_read_steps_hand_their_entries_on(tmp_path: Path) -> None:
    """Admission (counted before the model is called) and the turn's end: the model's request
    for a read and the read itself commit nothing of their own; their entries ride in the
    checkpoint, already redacted, and land in the chain in event order."""
    turns = [tool_turn("kv_get", {"key": "color"}), text_turn("It is blue.")]
    rt = build_runtime(
        Settings(data_dir=tmp_path, access_policy_path=ACCESS),
        registry=ToolRegistry(kv_tools(KvStore())),
        chat_model=ScriptedChatModel.from_turns(turns),
    )
    with rt:
        commits = _commits(rt.audit.engine)
        out = rt.ask("u_erin", "what color? mail me at erin@example.com", thread_id="t-two")
        assert out.status == "answered"
        assert len(commits) == 2
        config = {"configurable": {"thread_id": "t-two"}}
        carried = [s.values.get("unlogged") for s in rt.graph.get_state_history(config)]
        events = [e.event for e in rt.audit.entries(thread_id="t-two")]
        assert rt.audit.verify().ok
        day = rt.deps.usage.window("user", "u_erin", "day")
    assert events == ["request", "model_turn", "policy_decision", "tool_result", "model_turn", "answer"]
    assert day.requests == 1 and day.tokens > 0  # both model calls counted, once
    held = [c for c in carried if c]
    assert held, "the read-only steps handed their entries on in the state"
    assert carried[0] is None  # the last checkpoint holds nothing uncommitted
    assert all(isinstance(e[4], str) for c in held for e in c["audit"])  # prepared: serialised
    assert "erin@example.com" not in json.dumps(held)  # and redacted before any checkpoint


_KILLED_MID_TURN = """
import os, sys
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn
from agent.runtime.chamberlain import build_runtime
from agent.settings import Settings
from tests.agent.kv_tools import KvStore, kv_tools
from tools.base import ToolRegistry

def killed(_messages):
    os._exit(9)  # the process dies after the read ran, before the turn's one commit

rt = build_runtime(
    Settings(data_dir=Path(sys.argv[1]), access_policy_path=Path(sys.argv[2])),
    registry=ToolRegistry(kv_tools(KvStore())),
    chat_model=ScriptedChatModel.from_turns([tool_turn("kv_get", {"key": "color"}), killed]),
)
rt.ask("u_erin", "what color?", thread_id="t-killed")
"""


def test_a_turn_killed_between_read_steps_commits_their_entries_when_the_thread_runs_again(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_MID_TURN, str(tmp_path), str(ACCESS)], cwd=root, capture_output=True, timeout=120
    )
    assert proc.returncode == 9, proc.stderr.decode()[-2000:]
    turns = [text_turn("It was blue."), text_turn("Still blue.")]
    rt = build_runtime(
        Settings(data_dir=tmp_path, access_policy_path=ACCESS),
        registry=ToolRegistry(kv_tools(KvStore())),
        chat_model=ScriptedChatModel.from_turns(turns),
    )
    with rt:
        before = [e.event for e in rt.audit.entries(thread_id="t-killed")]
        out = rt.ask("u_erin", "and now?", thread_id="t-killed")  # resumes the killed turn first
        after = [e.event for e in rt.audit.entries(thread_id="t-killed")]
        assert rt.audit.verify().ok
    assert out.status == "answered"
    assert before == ["request"]  # the admission had committed; the rest was in the checkpoint
    # The killed turn's read and decision are in the chain once, before its resumed end.
    assert after[:6] == ["request", "model_turn", "policy_decision", "tool_result", "model_turn", "answer"]
    assert after.count("policy_decision") == 1 and after.count("tool_result") == 1
    assert after[-3:] == ["request", "model_turn", "answer"]


def test_a_step_run_again_after_its_commit_commits_what_was_handed_to_it_once(app_engine: Engine) -> None:
    audit, usage = AuditLog(app_engine), UsageStore(app_engine)
    with step_writes.step(audit) as first:  # read-only steps: what they logged rides on
        step_writes.log(audit, "tool_result", actor="u_a", thread_id="t", data={"tool": "kv_get"})
        step_writes.log(audit, "model_turn", actor="u_a", thread_id="t")
        step_writes.record_usage(
            audit,
            usage.model_call_row(
                "u_a", "t", model="m", input_tokens=6, output_tokens=1, cache_read_tokens=0,
                cache_write_tokens=0, cost_usd=0.0,
            ),
        )  # fmt: skip
        carried = first.carry()
    assert carried is not None and list(audit.entries()) == []
    # The step that ends the turn commits the hand-over; the process dies before LangGraph
    # checkpoints that step, so it runs again with the same state: the same hand-over.
    for run in range(2):
        with step_writes.step(audit, carried):
            step_writes.log(audit, "answer", actor="u_a", thread_id="t", data={"run": run})
    events = [(e.event, e.data.get("run")) for e in audit.entries()]
    assert events == [("tool_result", None), ("model_turn", None), ("answer", 0), ("answer", 1)]
    assert usage.window("user", "u_a", "day").tokens == 7  # counted once
    assert audit.verify().ok
