"""Claude access through the real langchain-anthropic + anthropic SDK, against the fake Messages API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from pydantic import SecretStr

from agent.fakes import FakeAnthropicServer, Reply, ToolUse, overloaded, rate_limited
from agent.models.chat import (
    ModelAuthError,
    ModelConfig,
    ModelError,
    ModelUnavailable,
    build_chat_model,
    build_chat_models,
    cached_tool_specs,
    invoke_model,
    load_prompt,
    system_message,
)
from agent.models.pricing import Price, PriceTable, PricingError, default_price_table
from agent.models.usage import Usage, UsageAggregator, usage_from_message

PRIMARY = "claude-haiku-4-5"
FALLBACK = "claude-opus-4-8"

TOOL_SPECS: list[dict[str, Any]] = [
    {
        "name": "search_documents",
        "description": "Search the knowledge base.",
        "input_schema": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
    {
        "name": "get_deal",
        "description": "Look up a CRM deal by id.",
        "input_schema": {
            "type": "object",
            "properties": {"deal_id": {"type": "string"}},
            "required": ["deal_id"],
        },
    },
]


@pytest.fixture
def server() -> Iterator[FakeAnthropicServer]:
    # Haiku 4.5 caches prefixes of 4,096 tokens and more; these tests' prompt is ~1k tokens,
    # and what they check is the markers and the cost of cache reads and writes.
    with FakeAnthropicServer(min_cache_tokens=512) as srv:
        yield srv


def _config(server: FakeAnthropicServer, **overrides: Any) -> ModelConfig:
    values: dict[str, Any] = {
        "model": PRIMARY,
        "api_key": SecretStr(server.api_key),
        "base_url": server.url,
        "timeout_s": 10.0,
        "max_retries": 2,
        "max_tokens": 1024,
    }
    values.update(overrides)
    return ModelConfig(**values)


def _prompt(question: str = "How big is the Acme deal?") -> list[BaseMessage]:
    return [system_message(load_prompt("system")), HumanMessage(question)]


# --- the tool loop over real HTTP ---------------------------------------------------------------


def test_tool_loop_with_529_retry_cache_markers_and_cost(server: FakeAnthropicServer) -> None:
    server.push(
        overloaded(),
        Reply(text="Let me look.", tool_uses=[ToolUse("get_deal", {"deal_id": "D-42"})]),
        lambda body: Reply(text=f"The deal is worth {body['messages'][-1]['content'][0]['content']}."),
    )
    bound = build_chat_models(_config(server)).bind(TOOL_SPECS)
    history = _prompt()

    first = invoke_model(bound, history)
    assert [(c["name"], c["args"]) for c in first.tool_calls] == [("get_deal", {"deal_id": "D-42"})]
    history += [first, ToolMessage("$120,000", tool_call_id=first.tool_calls[0]["id"])]
    second = invoke_model(bound, history)
    assert second.text == "The deal is worth $120,000."
    assert not second.tool_calls

    requests = server.message_requests
    assert len(requests) == 3, "the 529 is retried by the SDK, then two real calls"
    assert [r.headers["x-stainless-retry-count"] for r in requests] == ["0", "1", "0"]
    for request in requests:
        body = request.body
        assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert "Larkspur Systems" in body["system"][0]["text"]
        assert [t["name"] for t in body["tools"]] == ["search_documents", "get_deal"]
        assert "cache_control" not in body["tools"][0]
        assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert body["max_tokens"] == 1024
    tool_result = requests[2].body["messages"][-1]["content"][0]
    assert tool_result["type"] == "tool_result"
    assert tool_result["tool_use_id"] == first.tool_calls[0]["id"]

    # Usage: the first call writes the cached prefix, the second reads it back.
    one, two = usage_from_message(first), usage_from_message(second)
    assert one.model == two.model == PRIMARY
    assert one.cache_write_tokens > 0 and one.cache_read_tokens == 0
    assert two.cache_read_tokens == one.cache_write_tokens and two.cache_write_tokens == 0
    raw = requests[2].body  # what the fake saw; its reported usage is on the message
    assert raw["model"] == PRIMARY
    reported = second.response_metadata["usage"]
    assert two.input_tokens == reported["input_tokens"]
    assert two.output_tokens == reported["output_tokens"]
    # Haiku 4.5: $1 in, $5 out, $1.25 cache write, $0.10 cache read per MTok.
    expected = (two.input_tokens * 1.0 + two.output_tokens * 5.0 + two.cache_read_tokens * 0.10) / 1_000_000
    assert two.cost_usd == pytest.approx(expected)
    assert one.cost_usd == pytest.approx(
        (one.input_tokens * 1.0 + one.output_tokens * 5.0 + one.cache_write_tokens * 1.25) / 1_000_000
    )
    assert one.latency_ms > 0


def test_tool_loop_streaming_delivers_text_and_intact_tool_calls(server: FakeAnthropicServer) -> None:
    server.push(
        Reply(
            text="Searching the handbook for the hotel cap.",
            tool_uses=[ToolUse("search_documents", {"query": "hotel cap per night", "top_k": 3})],
        ),
        Reply(text="Hotel stays are capped at $250 per night [1]."),
    )
    bound = build_chat_models(_config(server)).bind(TOOL_SPECS)
    history = _prompt("What is the hotel cap?")
    deltas: list[str] = []

    first = invoke_model(bound, history, on_text=deltas.append)
    assert len(deltas) > 1
    assert "".join(deltas) == "Searching the handbook for the hotel cap."
    (call,) = first.tool_calls
    assert call["name"] == "search_documents"
    assert call["args"] == {"query": "hotel cap per night", "top_k": 3}
    assert isinstance(first, AIMessage)

    history += [first, ToolMessage("[1] Travel policy: hotels up to $250/night.", tool_call_id=call["id"])]
    deltas.clear()
    second = invoke_model(bound, history, on_text=deltas.append)
    assert "".join(deltas) == "Hotel stays are capped at $250 per night [1]."
    assert second.text == "Hotel stays are capped at $250 per night [1]."

    # The streamed assistant turn goes back to the API as a proper tool_use block.
    body = server.message_requests[1].body
    assert body["stream"] is True
    assistant = body["messages"][1]
    tool_use = next(b for b in assistant["content"] if b["type"] == "tool_use")
    assert tool_use["input"] == {"query": "hotel cap per night", "top_k": 3}
    assert tool_use["id"] == call["id"]

    usage = usage_from_message(second)
    assert usage.model == PRIMARY
    assert usage.cache_read_tokens > 0 and usage.output_tokens > 0
    assert usage.cost_usd > 0


def test_429_with_retry_after_zero_is_retried(server: FakeAnthropicServer) -> None:
    server.push(rate_limited(retry_after=0), Reply(text="ok"))
    reply = invoke_model(build_chat_model(_config(server)), _prompt())
    assert reply.text == "ok"
    assert len(server.message_requests) == 2


def test_retries_exhausted_raise_model_unavailable(server: FakeAnthropicServer) -> None:
    server.push(overloaded(repeat=True))
    model = build_chat_model(_config(server, max_retries=1))
    with pytest.raises(ModelUnavailable, match="529") as info:
        invoke_model(model, _prompt())
    assert info.value.retryable
    assert isinstance(info.value.__cause__, anthropic.OverloadedError)
    assert len(server.message_requests) == 2


def test_overload_mid_stream_raises_model_unavailable(server: FakeAnthropicServer) -> None:
    server.push(overloaded(mid_stream=True))
    with pytest.raises(ModelUnavailable, match="overloaded_error"):
        invoke_model(build_chat_model(_config(server)), _prompt(), on_text=lambda _: None)


def test_timeout_raises_model_unavailable(server: FakeAnthropicServer) -> None:
    server.push(Reply(text="too late", delay_s=0.5))
    model = build_chat_model(_config(server, timeout_s=0.1, max_retries=0))
    with pytest.raises(ModelUnavailable, match="in time"):
        invoke_model(model, _prompt())


def test_bad_request_is_a_model_error_and_does_not_fall_back(server: FakeAnthropicServer) -> None:
    # An empty script answers 400 invalid_request_error: not retryable, no fallback.
    models = build_chat_models(_config(server, fallback_model=FALLBACK))
    with pytest.raises(ModelError) as info:
        invoke_model(models.bind(TOOL_SPECS), _prompt())
    assert not isinstance(info.value, ModelUnavailable)
    assert not info.value.retryable
    assert [r.body["model"] for r in server.message_requests] == [PRIMARY]


def test_fallback_model_answers_when_primary_stays_overloaded(server: FakeAnthropicServer) -> None:
    server.push(
        overloaded(model=PRIMARY, repeat=True),
        Reply(text="Fallback here.", tool_uses=[ToolUse("get_deal", {"deal_id": "D-1"})], model=FALLBACK),
    )
    models = build_chat_models(_config(server, max_retries=1, fallback_model=FALLBACK))
    reply = invoke_model(models.bind(TOOL_SPECS), _prompt())
    assert reply.tool_calls[0]["args"] == {"deal_id": "D-1"}
    assert [r.body["model"] for r in server.message_requests] == [PRIMARY, PRIMARY, FALLBACK]
    fallback_body = server.message_requests[-1].body
    assert [t["name"] for t in fallback_body["tools"]] == ["search_documents", "get_deal"]
    assert fallback_body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    usage = usage_from_message(reply)
    assert usage.model == FALLBACK
    assert usage.cost_usd == pytest.approx(
        default_price_table().cost(
            FALLBACK,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_write_tokens=usage.cache_write_tokens,
        )
    )


def test_missing_key_says_which_variable_to_set() -> None:
    for key in (None, "", "   ", SecretStr("")):
        with pytest.raises(ModelAuthError, match="set ANTHROPIC_API_KEY"):
            build_chat_model(ModelConfig(api_key=key))


def test_rejected_key_is_model_auth_error(server: FakeAnthropicServer) -> None:
    model = build_chat_model(_config(server, api_key="sk-ant-not-the-right-one"))
    with pytest.raises(ModelAuthError, match="set ANTHROPIC_API_KEY") as info:
        invoke_model(model, _prompt())
    assert "sk-ant-not-the-right-one" not in str(info.value)
    assert len(server.message_requests) == 1, "auth failures are not retried"


def test_config_repr_hides_the_key() -> None:
    cfg = ModelConfig(api_key="sk-ant-secret-value")
    assert "sk-ant-secret-value" not in repr(cfg)
    assert cfg.secret() == "sk-ant-secret-value"


# --- prompt caching helpers ---------------------------------------------------------------------


def test_cached_tool_specs_marks_only_the_last_and_copies() -> None:
    original = [dict(spec) for spec in TOOL_SPECS]
    original[0]["cache_control"] = {"type": "ephemeral"}  # a stale marker is moved, not kept
    specs = cached_tool_specs(original)
    assert [("cache_control" in s) for s in specs] == [False, True]
    assert "cache_control" not in original[1], "input specs are not mutated"
    assert cached_tool_specs([]) == []
    with pytest.raises(ValueError, match="input_schema"):
        cached_tool_specs([{"name": "x", "description": "no schema"}])


def test_system_message_is_one_cached_text_block() -> None:
    message = system_message("Be brief.")
    assert message.content == [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]


def test_system_prompt_file_states_the_rules() -> None:
    text = load_prompt("system")
    for needle in ("Larkspur Systems", "<untrusted-data", "approval", "cite_as", "search_documents", "ask"):
        assert needle in text
    with pytest.raises(ValueError):
        load_prompt("../pricing")
    with pytest.raises(FileNotFoundError, match="system"):
        load_prompt("no_such_prompt")


# --- pricing ------------------------------------------------------------------------------------


def test_price_table_covers_current_models_and_dated_ids() -> None:
    table = default_price_table()
    for model in ("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5", "claude-sonnet-4-6"):
        assert table.knows(model), model
    assert table.lookup("claude-haiku-4-5-20251001") == Price(1.0, 5.0, 1.25, 0.10)
    assert table.lookup("claude-opus-4-1-20250805") == Price(15.0, 75.0, 18.75, 1.50)
    assert table.lookup("claude-opus-45") is table.default, "prefixes end at a dash"
    assert table.lookup("some-other-model") is table.default
    assert table.cost("scripted", input_tokens=10_000, output_tokens=10_000) == 0.0
    # 1M of each kind on Sonnet 4.5: 3 + 15 + 0.30 + 3.75
    assert table.cost(
        "claude-sonnet-4-5",
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        cache_read_tokens=1_000_000,
        cache_write_tokens=1_000_000,
    ) == pytest.approx(22.05)


def test_malformed_price_table_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("claude-x: {input: 1, output: 2, cache_write: 3, cache_read: 0.1}\n")
    with pytest.raises(PricingError, match="default"):
        PriceTable.load(path)
    path.write_text("default: {input: 1, output: 2, cache_write: 3}\n")
    with pytest.raises(PricingError, match="missing cache_read"):
        PriceTable.load(path)
    path.write_text("default: {input: -1, output: 2, cache_write: 3, cache_read: 0}\n")
    with pytest.raises(PricingError, match=">= 0"):
        PriceTable.load(path)


# --- usage --------------------------------------------------------------------------------------


def test_usage_from_langchain_metadata_splits_cached_tokens() -> None:
    message = AIMessage(
        content="hi",
        response_metadata={"model_name": "claude-sonnet-4-5-20250929", "latency_ms": 12.5},
        usage_metadata={
            "input_tokens": 1_600,  # LangChain's total: 100 uncached + 1000 read + 500 written
            "output_tokens": 200,
            "total_tokens": 1_800,
            "input_token_details": {
                "cache_read": 1_000,
                "cache_creation": 0,
                "ephemeral_5m_input_tokens": 500,
            },
        },
    )
    usage = usage_from_message(message)
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (100, 1_000, 500)
    assert usage.total_input_tokens == 1_600
    assert usage.latency_ms == 12.5
    assert usage.cost_usd == pytest.approx((100 * 3 + 200 * 15 + 1_000 * 0.30 + 500 * 3.75) / 1e6)


def test_usage_from_raw_anthropic_usage_and_empty_message() -> None:
    raw = AIMessage(
        content="x",
        response_metadata={
            "model": "claude-haiku-4-5",
            "usage": {
                "input_tokens": 10,
                "output_tokens": 20,
                "cache_read_input_tokens": 30,
                "cache_creation_input_tokens": 40,
            },
        },
    )
    usage = usage_from_message(raw)
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (
        10,
        20,
        30,
        40,
    )
    empty = usage_from_message(AIMessage(content="x"))
    assert empty == Usage(model="unknown", cost_usd=0.0)


def test_usage_aggregator_sums_per_model_across_threads() -> None:
    totals = UsageAggregator()
    one = Usage("claude-haiku-4-5", 10, 5, 100, 0, cost_usd=0.001, latency_ms=5)
    two = Usage("claude-opus-4-8", 1, 2, 0, 50, cost_usd=0.01, latency_ms=7)
    threads = [threading.Thread(target=lambda: [totals.add(one) for _ in range(50)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    totals.add(two)
    assert totals.calls == 201
    total = totals.total()
    assert total.model == "claude-haiku-4-5+claude-opus-4-8"
    assert total.input_tokens == 2_001 and total.cache_read_tokens == 20_000
    assert total.cost_usd == pytest.approx(0.21)
    by_model = totals.by_model()
    assert by_model["claude-opus-4-8"] == two
    assert by_model["claude-haiku-4-5"].output_tokens == 1_000
