"""The Claude request layout for prompt caching, through the runtime, the real anthropic SDK and
the fake Messages API (which caches by Anthropic's documented rules): what changes every turn
stays in the turn it belongs to, so each call reads the previous call's whole prompt."""

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


def test_each_call_reads_the_previous_calls_prompt_and_each_turn_keeps_its_context(tmp_path: Path) -> None:
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
    contexts_seen: list[str] = []
    for body in bodies:
        # The system prompt is the static one (and the model's name) only: who asks, the date and
        # the boundary are in the turn-context block that ends the message opening each turn.
        assert len(body["system"]) == 1 and _marked(body["system"][0])
        assert "directory id" not in body["system"][0]["text"]
        last = body["messages"][-1]
        assert last["role"] == "user" and _marked(last["content"][-1])
        contexts = [
            b["text"]
            for m in body["messages"]
            if m["role"] == "user"
            for b in m["content"]
            if isinstance(b, dict) and str(b.get("text", "")).startswith(TURN_CONTEXT_OPEN)
        ]
        assert all("directory id u_priya" in c for c in contexts)
        # One per turn so far, and an earlier turn's context is sent with the same bytes again.
        assert contexts[: len(contexts_seen)] == contexts_seen
        contexts_seen = contexts
    assert len(contexts_seen) == 3 and len(set(contexts_seen)) == 3  # a new boundary every turn

    state = FakeAnthropicState()  # replays the cache for the same requests
    usages = [state.usage_for(b) for b in bodies]
    for before, after in itertools.pairwise(usages):
        # Call n+1 reads all that call n cached (its tools did not change), turn boundaries included.
        cached_before = before["cache_read_input_tokens"] + before["cache_creation_input_tokens"]
        assert after["cache_read_input_tokens"] >= cached_before > 0
    # Nothing is left uncached: each turn's context is read from the cache by the calls after it.
    assert all(u["input_tokens"] == 0 for u in usages)
