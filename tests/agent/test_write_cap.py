"""A model step that proposes more writes than ``max_writes_per_turn`` gets the extras refused
with the limit; the first ones become approval requests as usual."""

from __future__ import annotations

from pathlib import Path

from langchain_core.messages import AIMessage, ToolMessage

from agent.models.scripted import ScriptedChatModel, text_turn
from agent.runtime.chamberlain import build_runtime
from agent.settings import Settings
from tests.agent.kv_tools import KvStore, kv_tools
from tools.base import ToolRegistry

ACCESS = Path(__file__).with_name("access_kv.yaml")


def test_writes_beyond_the_cap_are_refused_with_the_limit(tmp_path: Path) -> None:
    calls = [
        {"name": "kv_set", "args": {"key": "color", "value": f"v{i}"}, "id": f"call_w{i}", "type": "tool_call"}
        for i in range(4)
    ]
    turns = [AIMessage(content="", tool_calls=calls), text_turn("done")]
    settings = Settings(data_dir=tmp_path, access_policy_path=ACCESS, max_writes_per_turn=2)
    rt = build_runtime(
        settings, registry=ToolRegistry(kv_tools(KvStore())), chat_model=ScriptedChatModel.from_turns(turns)
    )
    with rt:
        out = rt.ask("u_erin", "set the color four times", thread_id="t-cap")
        assert out.status == "waiting_for_approval"
        assert len(out.pending) == 2  # two cards, not four
        for view in out.pending:
            assert rt.decide(view.id, approver_id="u_tom", approve=False, reason="no").accepted
        rt.resume("t-cap")
        msgs = rt.history("t-cap")
    refused = [str(m.content) for m in msgs if isinstance(m, ToolMessage) and "at most 2 changes" in str(m.content)]
    assert len(refused) == 2  # the model reads why, and what to do instead
    assert "propose the rest after these are decided" in refused[0]
