"""Routes by task kind, route parsing from settings, history compaction and cache breakpoints."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from pydantic import SecretStr

from agent.graph.planner import cache_layout, compact_history
from agent.graph.state import TURN_CONTEXT_KEY
from agent.models.chat import ModelError, turn_context_block
from agent.models.routing import ModelRoute, ModelRoutes, task_kind_for
from agent.models.scripted import ScriptedChatModel, text_turn
from agent.models.setup import parse_route, route_configs
from agent.settings import Settings


def _tool(name: str, text: str = "x", call_id: str = "c1") -> ToolMessage:
    return ToolMessage(content=text, tool_call_id=call_id, name=name)


def test_task_kind_follows_the_tool_results_being_read() -> None:
    family = {"run_query": "analytics", "search_documents": "documents", "crm_search": "crm"}.get
    assert task_kind_for([HumanMessage("hi")], lambda n: family(n) or "") == "answer"
    assert task_kind_for([HumanMessage("q"), AIMessage(""), _tool("run_query")], lambda n: family(n) or "") == "sql"
    docs = [HumanMessage("q"), AIMessage(""), _tool("search_documents")]
    assert task_kind_for(docs, lambda n: family(n) or "") == "summarize"
    mixed = [HumanMessage("q"), AIMessage(""), _tool("search_documents"), _tool("run_query", call_id="c2")]
    assert task_kind_for(mixed, lambda n: family(n) or "") == "answer"


def test_routes_fall_back_to_the_answer_chain() -> None:
    a, b = ScriptedChatModel.from_turns([text_turn("a")]), ScriptedChatModel.from_turns([text_turn("b")])
    routes = ModelRoutes({"answer": [ModelRoute(a)], "summarize": [ModelRoute(b), ModelRoute(a)]})
    assert [r.chat for r in routes.chain("sql")] == [a]
    assert [r.chat for r in routes.chain("summarize")] == [b, a]
    with pytest.raises(ValueError, match="unknown task kind"):
        ModelRoutes({"answer": [ModelRoute(a)], "poetry": [ModelRoute(b)]})


def test_parse_route_keeps_ollama_colons() -> None:
    assert parse_route("openai:llama3.1:8b", default_provider="anthropic", setting="X").model == "llama3.1:8b"
    spec = parse_route("llama3.1:8b", default_provider="openai", setting="X")
    assert (spec.provider, spec.model) == ("openai", "llama3.1:8b")
    with pytest.raises(ModelError, match="X: 'openai:' names no model"):
        parse_route("openai:", default_provider="anthropic", setting="X")


def test_route_configs_from_settings_use_each_providers_connection() -> None:
    settings = Settings(
        anthropic_api_key=SecretStr("sk-ant"),
        model="claude-sonnet-4-6",
        model_routes={"summarize": "openai:qwen2.5-7b"},
        fallback_model="claude-haiku-4-5",
        openai_base_url="http://localhost:8000/v1",
    )
    chains = route_configs(settings)
    assert [c.label for c in chains["answer"]] == ["anthropic:claude-sonnet-4-6", "anthropic:claude-haiku-4-5"]
    summarize = chains["summarize"]
    assert summarize[0].label == "openai:qwen2.5-7b" and summarize[0].base_url == "http://localhost:8000/v1"
    assert summarize[0].api_key_setting == "OPENAI_API_KEY"
    assert [c.label for c in summarize[1:]] == ["anthropic:claude-sonnet-4-6", "anthropic:claude-haiku-4-5"]
    with pytest.raises(ModelError, match="CHAMBERLAIN_MODEL_ROUTES: unknown task kind poetry"):
        route_configs(Settings(model_routes={"poetry": "x"}))
    with pytest.raises(ModelError, match="CHAMBERLAIN_MODEL_PROVIDER='gemini'"):
        route_configs(Settings(model_provider="gemini"))


def test_history_compaction_stubs_earlier_turns_only() -> None:
    big, small = "r" * 4000, "s" * 1500
    history = [
        HumanMessage("first"), AIMessage(""), _tool("run_query", big, "a"), _tool("crm_search", small, "c"),
        AIMessage("done"), HumanMessage("second"), AIMessage(""), _tool("search_documents", big, "b"),
    ]  # fmt: skip
    # A large result of an earlier turn is left out whatever the budget, with a handle to read it.
    roomy = compact_history(history, budget_tokens=100_000)
    assert "run_query result from an earlier turn" in str(roomy[2].content)
    assert 'read_more with handle="a"' in str(roomy[2].content)
    assert roomy[3].content == small  # small enough to keep while the history fits
    assert roomy[7].content == big  # the current turn stays whole
    # Over the budget the smaller earlier results go too; the current turn still stays whole.
    tight = compact_history(history, budget_tokens=500)
    assert 'handle="c"' in str(tight[3].content) and tight[7].content == big
    assert history[2].content == big  # the thread itself is not changed


def test_breakpoints_on_the_newest_message_and_the_previous_calls_newest_the_turn_context_in_its_turn() -> None:
    msgs = [HumanMessage("q"), AIMessage("", tool_calls=[{"name": "t", "args": {}, "id": "c"}]), _tool("t", "res", "c")]
    out = cache_layout(msgs, "Today is 2026-12-03.")
    assert len(out) == 3
    # The turn's context ends the message that opened the turn, inside the cached prefix.
    assert out[0].content == [
        {"type": "text", "text": "q"},
        {**turn_context_block("Today is 2026-12-03."), "cache_control": {"type": "ephemeral"}},
    ]
    assert out[2].content[-1]["cache_control"] == {"type": "ephemeral"}  # type: ignore[index]
    assert out[1] is msgs[1]
    assert msgs[0].content == "q"  # the state's messages are not touched


def test_each_turn_keeps_the_context_it_was_given_and_only_the_newest_turn_takes_the_current_one() -> None:
    first = HumanMessage("q1", additional_kwargs={TURN_CONTEXT_KEY: "Today is 2026-12-02."})
    legacy = HumanMessage("q2")  # a thread from before contexts were kept: sent as it was
    msgs = [first, AIMessage("a1"), legacy, AIMessage("a2"), HumanMessage("q3")]
    out = cache_layout(msgs, "Today is 2026-12-03.")
    assert out[0].content == [{"type": "text", "text": "q1"}, turn_context_block("Today is 2026-12-02.")]
    # Sent as it was (the breakpoint on the previous call's newest message is its only change).
    assert out[2].content == [{"type": "text", "text": "q2", "cache_control": {"type": "ephemeral"}}]
    assert out[4].content == [
        {"type": "text", "text": "q3"},
        {**turn_context_block("Today is 2026-12-03."), "cache_control": {"type": "ephemeral"}},
    ]
    # A newest message with its context kept sends the kept one, not the one passed in.
    pinned = HumanMessage("q3", additional_kwargs={TURN_CONTEXT_KEY: "Today was 2026-12-03."})
    again = cache_layout([*msgs[:4], pinned], "Today is 2026-12-04.")
    assert again[4].content[-1]["text"] == turn_context_block("Today was 2026-12-03.")["text"]
