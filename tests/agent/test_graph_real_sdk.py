"""The whole agent loop with the real anthropic SDK (via langchain-anthropic) talking HTTP to the
local fake Messages API: tool_use → policy gate → approval → execution → answer, a 529 retried
by the SDK, prompt-caching markers on the system prompt and the tools, and usage recorded."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from agent.fakes.anthropic_api import FakeAnthropicServer, Reply, ToolUse, overloaded
from agent.runtime.chamberlain import build_runtime
from agent.settings import Settings
from tests.agent.kv_tools import KvStore, kv_tools
from tools.base import ToolRegistry

ACCESS = Path(__file__).with_name("access_kv.yaml")


def test_full_loop_over_http_with_retry_and_cache_markers(tmp_path: Path) -> None:
    store = KvStore()
    script = [
        Reply(text="Let me check.", tool_uses=[ToolUse("kv_get", {"key": "color"})]),
        overloaded(),  # 529: the SDK retries it
        Reply(text="It is blue; I propose green.", tool_uses=[ToolUse("kv_set", {"key": "color", "value": "green"})]),
        Reply(text="Done: the color is now green."),
    ]
    with FakeAnthropicServer(script) as server:
        settings = Settings(
            data_dir=tmp_path,
            access_policy_path=ACCESS,
            anthropic_api_key=SecretStr(server.api_key),
            anthropic_base_url=server.url,
            model="claude-sonnet-4-6",
            model_max_retries=2,
        )
        with build_runtime(settings, registry=ToolRegistry(kv_tools(store))) as rt:
            out = rt.ask("u_erin", "What color is it? Make it green.", thread_id="sdk")
            assert out.status == "waiting_for_approval"
            assert store.applied == []
            res = rt.decide(out.pending[0].id, approver_id="u_tom", approve=True)
            assert res.resumed_thread and res.outcome == "executed"
            answer = rt.thread_outcome("sdk").answer  # the requester's thread holds the answer
            assert answer is not None and answer.text == "Done: the color is now green."
            assert len(store.applied) == 1
            totals = rt.deps.usage.totals("u_erin")
        bodies = [r.body for r in server.message_requests]

    # 3 answered calls + 1 overloaded attempt that the SDK retried
    assert len(bodies) == 4
    for body in bodies:
        assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert all("cache_control" not in t for t in body["tools"][:-1])
        # read_more is always shown (agent/graph/tool_menu.py): its appearing later would change the tools
        assert {t["name"] for t in body["tools"]} == {"kv_get", "kv_set", "read_more"}
    # the tool result went back as a tool_result block, wrapped as untrusted data
    second = bodies[1]["messages"]
    result_blocks = [
        b
        for m in second
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result"
    ]
    assert result_blocks and "untrusted-data" in str(result_blocks[0]["content"])
    # usage: the fake reports cache writes first, then cache reads of the same prefix
    assert totals.cache_write_tokens > 0 and totals.cache_read_tokens > 0
    assert totals.cost_usd > 0
