"""The Claude request layout for prompt caching, through the runtime, the real anthropic SDK and
the fake Messages API (which caches by Anthropic's documented rules): what changes every turn
comes after the cached part, so each call reads the previous call's whole prompt."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from agent.fakes.anthropic_api import FakeAnthropicState
from agent.fakes.scripted_wire import scripted_anthropic_server
from agent.models.chat import TURN_CONTEXT_OPEN
from agent.models.scripted import text_turn, tool_turn
from agent.runtime.chamberlain import build_runtime
from agent.settings import Settings
from evals.trajectories import default_registry


def _marked(block: Any) -> bool:
    return isinstance(block, dict) and "cache_control" in block


def test_each_call_reads_the_previous_calls_prompt_and_the_turn_context_comes_last(tmp_path: Path) -> None:
    turns = [
        tool_turn("crm_search", {"object_type": "deals", "query": "Acme Corporation 2027 renewal"}),
        text_turn("It is in negotiation."),
        text_turn("The CRM."),  # a second turn on the same thread: new date/boundary context
        text_turn("Yes."),
    ]
    registry, handles = default_registry(tmp_path / "tools")
    with scripted_anthropic_server(turns) as server:
        settings = Settings(
            data_dir=tmp_path / "data",
            anthropic_api_key=SecretStr(server.api_key),
            anthropic_base_url=server.url,
        )
        with build_runtime(settings, registry=registry) as rt:
            handles.get("bind_runtime", lambda *_: None)(rt, settings)
            for question in ("What stage is the Acme renewal deal in?", "Where did that come from?", "Sure?"):
                assert rt.ask("u_priya", question, thread_id="t").status == "answered"
        bodies = [r.body for r in server.message_requests]
    for close in handles.get("closers", []):
        close()

    assert len(bodies) == 4
    for body in bodies:
        # The system prompt is the static one only; the per-turn context ends the newest message,
        # unmarked, right after the newest breakpoint.
        assert len(body["system"]) == 1 and _marked(body["system"][0])
        assert "directory id" not in body["system"][0]["text"]
        last = body["messages"][-1]
        assert last["role"] == "user"
        assert last["content"][-1]["text"].startswith(TURN_CONTEXT_OPEN) and not _marked(last["content"][-1])
        assert _marked(last["content"][-2])
        assert "directory id u_priya" in last["content"][-1]["text"]
        # Only the newest message carries a context: earlier ones are sent as they were.
        earlier = [b for m in body["messages"][:-1] for b in m["content"] if isinstance(b, dict)]
        assert not any(str(b.get("text", "")).startswith(TURN_CONTEXT_OPEN) for b in earlier)

    state = FakeAnthropicState()  # replays the cache for the same requests
    usages = [state.usage_for(b) for b in bodies]
    for before, after in itertools.pairwise(usages):
        # Call n+1 reads all that call n cached (its tools did not change), turn boundaries included.
        cached_before = before["cache_read_input_tokens"] + before["cache_creation_input_tokens"]
        assert after["cache_read_input_tokens"] >= cached_before > 0
    # Nothing but the per-turn context is left uncached.
    assert all(u["input_tokens"] < 150 for u in usages)
