"""The fake Messages API, driven by the real anthropic SDK (and raw httpx) over loopback HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from agent.fakes import FakeAnthropicServer, Reply, ToolUse, overloaded, rate_limited, server_error
from agent.fakes.anthropic_api import FakeAnthropicState

MODEL = "claude-haiku-4-5"
TOOLS: list[dict[str, Any]] = [
    {
        "name": "get_deal",
        "description": "Look up a CRM deal.",
        "input_schema": {"type": "object", "properties": {"deal_id": {"type": "string"}}},
        "cache_control": {"type": "ephemeral"},
    }
]
SYSTEM = [{"type": "text", "text": "You are Chamberlain. " * 20, "cache_control": {"type": "ephemeral"}}]


@pytest.fixture
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as srv:
        yield srv


@pytest.fixture
def client(server: FakeAnthropicServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(api_key=server.api_key, base_url=server.url, max_retries=2) as c:
        yield c


def _create(client: anthropic.Anthropic, **kwargs: Any) -> anthropic.types.Message:
    params: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "How big is the Acme deal?"}],
    }
    params.update(kwargs)
    return client.messages.create(**params)


def test_text_reply_has_message_shape(server: FakeAnthropicServer, client: anthropic.Anthropic) -> None:
    server.push(Reply(text="Hello from the fake."))
    message = _create(client)
    assert message.role == "assistant"
    assert message.model == MODEL
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Hello from the fake."  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    (request,) = server.message_requests
    assert request.headers["anthropic-version"]
    assert request.body["messages"][0]["content"] == "How big is the Acme deal?"


def test_tool_use_reply_then_tool_result(server: FakeAnthropicServer, client: anthropic.Anthropic) -> None:
    server.push(
        Reply(text="Let me check.", tool_uses=[ToolUse("get_deal", {"deal_id": "D-7"}, id="toolu_1")]),
        lambda body: Reply(text=f"The tool said: {body['messages'][-1]['content'][0]['content']}"),
    )
    first = _create(client, tools=TOOLS)
    assert first.stop_reason == "tool_use"
    tool = first.content[1]
    assert tool.type == "tool_use" and tool.name == "get_deal" and tool.input == {"deal_id": "D-7"}
    second = _create(
        client,
        tools=TOOLS,
        messages=[
            {"role": "user", "content": "How big is the Acme deal?"},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "$120k"}],
            },
        ],
    )
    assert second.content[0].text == "The tool said: $120k"  # type: ignore[union-attr]


def test_streaming_events_accumulate_in_the_sdk(server: FakeAnthropicServer, client: anthropic.Anthropic) -> None:
    server.push(
        Reply(
            text="Checking the CRM for that deal now.",
            tool_uses=[ToolUse("get_deal", {"deal_id": "D-7", "fields": ["amount", "stage"]})],
        )
    )
    with client.messages.stream(
        model=MODEL,
        max_tokens=256,
        tools=TOOLS,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "deal?"}],
    ) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(texts) > 1, "text should arrive in several deltas"
    assert "".join(texts) == "Checking the CRM for that deal now."
    tool = final.content[1]
    assert tool.type == "tool_use" and tool.input == {"deal_id": "D-7", "fields": ["amount", "stage"]}
    assert final.stop_reason == "tool_use"
    assert final.usage.output_tokens > 1


def test_raw_sse_event_sequence(server: FakeAnthropicServer) -> None:
    server.push(Reply(text="Hi", tool_uses=[ToolUse("get_deal", {"deal_id": "D-1"})]))
    response = httpx.post(
        f"{server.url}/v1/messages",
        headers={"x-api-key": server.api_key, "anthropic-version": "2023-06-01"},
        json={
            "model": MODEL,
            "max_tokens": 10,
            "stream": True,
            "messages": [{"role": "user", "content": "x"}],
        },
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = []
    for frame in response.text.strip().split("\n\n"):
        name_line, data_line = frame.split("\n")
        events.append((name_line.removeprefix("event: "), json.loads(data_line.removeprefix("data: "))))
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert all(data["type"] == name for name, data in events)
    starts = [data["content_block"]["type"] for name, data in events if name == "content_block_start"]
    assert starts == ["text", "tool_use"]
    deltas = {data["delta"]["type"] for name, data in events if name == "content_block_delta"}
    assert deltas == {"text_delta", "input_json_delta"}
    partial = "".join(
        data["delta"]["partial_json"]
        for name, data in events
        if name == "content_block_delta" and data["delta"]["type"] == "input_json_delta"
    )
    assert json.loads(partial) == {"deal_id": "D-1"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_529_is_retried_by_the_sdk(server: FakeAnthropicServer, client: anthropic.Anthropic) -> None:
    server.push(overloaded(), server_error(), Reply(text="recovered"))
    started = time.monotonic()
    message = _create(client)
    assert message.content[0].text == "recovered"  # type: ignore[union-attr]
    retries = [r.headers.get("x-stainless-retry-count") for r in server.message_requests]
    assert retries == ["0", "1", "2"]
    assert time.monotonic() - started < 3


def test_retries_exhausted_surfaces_overloaded_error(server: FakeAnthropicServer, client: anthropic.Anthropic) -> None:
    server.push(overloaded(repeat=True))
    with pytest.raises(anthropic.OverloadedError) as info:
        _create(client)
    assert info.value.status_code == 529
    assert info.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert len(server.message_requests) == 3  # first try + max_retries=2


def test_overloaded_mid_stream_is_an_sse_error_event(server: FakeAnthropicServer, client: anthropic.Anthropic) -> None:
    server.push(overloaded(mid_stream=True))
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        client.messages.stream(model=MODEL, max_tokens=256, messages=[{"role": "user", "content": "deal?"}]) as stream,
    ):
        stream.get_final_message()
    assert info.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert len(server.message_requests) == 1, "an error after the 200 cannot be retried by the SDK"


def test_429_sends_retry_after(server: FakeAnthropicServer) -> None:
    server.push(rate_limited(retry_after=7))
    response = httpx.post(
        f"{server.url}/v1/messages",
        headers={"x-api-key": server.api_key, "anthropic-version": "2023-06-01"},
        json={"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]},
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_missing_or_wrong_key_is_401(server: FakeAnthropicServer) -> None:
    body = {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    missing = httpx.post(f"{server.url}/v1/messages", headers={"anthropic-version": "2023-06-01"}, json=body)
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "authentication_error"
    with (
        anthropic.Anthropic(api_key="sk-wrong", base_url=server.url, max_retries=0) as bad,
        pytest.raises(anthropic.AuthenticationError),
    ):
        _create(bad)
    no_version = httpx.post(f"{server.url}/v1/messages", headers={"x-api-key": server.api_key}, json=body)
    assert no_version.status_code == 400
    assert "anthropic-version" in no_version.json()["error"]["message"]


SONNET = "claude-sonnet-4-6"  # caches prefixes from 1,024 tokens
LONG_SYSTEM = [{"type": "text", "text": "You are Chamberlain. " * 250, "cache_control": {"type": "ephemeral"}}]


def test_prompt_cache_is_written_then_read(server: FakeAnthropicServer, client: anthropic.Anthropic) -> None:
    server.push(Reply(text="one"), Reply(text="two"), Reply(text="three"))
    first = _create(client, model=SONNET, system=LONG_SYSTEM, tools=TOOLS)
    second = _create(
        client, model=SONNET, system=LONG_SYSTEM, tools=TOOLS, messages=[{"role": "user", "content": "another one"}]
    )
    changed = [{**LONG_SYSTEM[0], "text": "A different system prompt. " * 200}]
    third = _create(client, model=SONNET, system=changed, tools=TOOLS)
    assert first.usage.cache_creation_input_tokens and first.usage.cache_creation_input_tokens > 1000
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    # The system prompt changed: everything after the tools is new. (The tools alone are under
    # the minimum, so their own marker never wrote an entry.)
    assert third.usage.cache_read_input_tokens == 0 and third.usage.cache_creation_input_tokens > 1000


def test_too_many_breakpoints_is_a_400(server: FakeAnthropicServer, client: anthropic.Anthropic) -> None:
    server.push(Reply(text="never"))
    marked = [{"type": "text", "text": f"part {i}", "cache_control": {"type": "ephemeral"}} for i in range(4)]
    with pytest.raises(anthropic.BadRequestError, match="A maximum of 4 blocks with cache_control"):
        _create(client, model=SONNET, system=marked, tools=TOOLS)
    assert server.remaining == 1, "a refused request consumes no scripted reply"


def _usage(state: FakeAnthropicState, **body: Any) -> dict[str, int]:
    return state.usage_for({"model": SONNET, "max_tokens": 64, **body})


def _user(text: str, *, mark: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if mark:
        block["cache_control"] = {"type": "ephemeral"}
    return {"role": "user", "content": [block]}


def _assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def test_a_moving_breakpoint_reads_the_previous_calls_prefix_through_the_lookback() -> None:
    state = FakeAnthropicState()
    history = [_user("question one " * 400, mark=True)]
    first = _usage(state, messages=history)
    assert first["cache_read_input_tokens"] == 0 and first["cache_creation_input_tokens"] > 1000
    # The next call moves its only marker two blocks on: the entry written at the old marker is
    # found by the lookback, so only the new blocks are written.
    history = [_user("question one " * 400), _assistant("an answer"), _user("question two", mark=True)]
    second = _usage(state, messages=history)
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    assert 0 < second["cache_creation_input_tokens"] < 60 and second["input_tokens"] == 0


def test_the_lookback_is_twenty_blocks() -> None:
    state = FakeAnthropicState()
    head = [_user("context " * 700, mark=True)]
    _usage(state, messages=head)
    filler = [m for i in range(11) for m in (_assistant(f"a{i}"), _user(f"q{i}"))]  # 22 blocks
    far = [head[0] | {"content": [{"type": "text", "text": "context " * 700}]}, *filler[:-1], _user("end", mark=True)]
    assert _usage(state, messages=far)["cache_read_input_tokens"] == 0
    near = [far[0], *filler[:17], _user("end", mark=True)]
    fresh = FakeAnthropicState()
    _usage(fresh, messages=head)
    assert _usage(fresh, messages=near)["cache_read_input_tokens"] > 1000


def test_prefixes_under_the_models_minimum_are_not_cached() -> None:
    state = FakeAnthropicState()
    body = {"system": [{"type": "text", "text": "short " * 800, "cache_control": {"type": "ephemeral"}}]}
    sonnet = [_usage(state, messages=[_user("hi")], **body) for _ in range(2)]
    assert sonnet[1]["cache_read_input_tokens"] > 0  # ~1.5k tokens: enough for Sonnet
    haiku = [state.usage_for({"model": MODEL, "messages": [_user("hi")], **body}) for _ in range(2)]
    assert all(u["cache_read_input_tokens"] == u["cache_creation_input_tokens"] == 0 for u in haiku)
    assert haiku[0]["input_tokens"] == sonnet[0]["input_tokens"] + sonnet[0]["cache_creation_input_tokens"]


def test_entries_are_per_model_expire_and_follow_tool_choice() -> None:
    now = [0.0]
    state = FakeAnthropicState(clock=lambda: now[0])
    body: dict[str, Any] = {"system": LONG_SYSTEM, "messages": [_user("long question " * 400, mark=True)]}
    written = _usage(state, **body)["cache_creation_input_tokens"]
    assert _usage(state, **body)["cache_read_input_tokens"] == written
    other = state.usage_for({"model": "claude-opus-4-1", **body})
    assert other["cache_read_input_tokens"] == 0, "another model has its own cache"
    # tool_choice is part of the messages' prefix: the system entry still hits, the messages' not.
    forced = _usage(state, tool_choice={"type": "any"}, tools=TOOLS, **body)
    assert forced["cache_read_input_tokens"] == 0  # the tools changed too, so nothing matches
    forced_again = _usage(state, tool_choice={"type": "auto"}, tools=TOOLS, **body)
    assert 1000 < forced_again["cache_read_input_tokens"] < written
    now[0] += 301  # past the 5-minute TTL (every hit above refreshed it)
    assert _usage(state, **body)["cache_read_input_tokens"] == 0


def test_a_string_and_a_text_block_are_the_same_prompt() -> None:
    state = FakeAnthropicState()
    system = "You are Chamberlain. " * 250
    _usage(state, system=[{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}])
    again = _usage(state, system=system, cache_control={"type": "ephemeral"})  # top-level: the last block
    assert again["cache_read_input_tokens"] > 1000 and again["cache_creation_input_tokens"] == 0


def test_scripts_per_model(server: FakeAnthropicServer, client: anthropic.Anthropic) -> None:
    server.push(Reply(text="from haiku", model=MODEL), Reply(text="from opus", model="claude-opus-4-8"))
    opus = _create(client, model="claude-opus-4-8")
    haiku = _create(client)
    assert opus.content[0].text == "from opus"  # type: ignore[union-attr]
    assert haiku.content[0].text == "from haiku"  # type: ignore[union-attr]
    assert server.remaining == 0


def test_exhausted_script_is_a_clear_non_retried_error(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    with pytest.raises(anthropic.BadRequestError, match="no scripted response left"):
        _create(client)
    assert len(server.message_requests) == 1


def test_failing_responder_is_reported_once(server: FakeAnthropicServer, client: anthropic.Anthropic) -> None:
    def responder(body: Any) -> Reply:
        raise AssertionError("expected a tool_result")

    server.push(responder, Reply(text="never reached"))
    with pytest.raises(anthropic.BadRequestError, match="expected a tool_result"):
        _create(client)
    assert len(server.message_requests) == 1
    assert isinstance(server.state.errors[0], AssertionError)


def test_count_tokens(server: FakeAnthropicServer, client: anthropic.Anthropic) -> None:
    short = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    long = client.messages.count_tokens(
        model=MODEL,
        system=SYSTEM,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "hi"}],
    )
    assert 0 < short.input_tokens < long.input_tokens


# -- deferred tool loading ------------------------------------------------------------------------

BIG_SCHEMA = {"type": "object", "properties": {f"field_{i}": {"type": "string"} for i in range(60)}}
SHOWN = {"name": "load_tools", "description": "Load tool families.", "input_schema": {"type": "object"}}
DEFERRED = {"name": "run_query", "description": "Run SQL. " * 40, "input_schema": BIG_SCHEMA, "defer_loading": True}


def _loading_history(*, reference: str | None = "run_query") -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [{"type": "text", "text": "loaded analytics"}]
    if reference is not None:
        content.append({"type": "tool_reference", "tool_name": reference})
    return [
        _user("question " * 300),
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "load_tools", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": content}]},
    ]


def test_a_deferred_tool_costs_nothing_until_a_reference_loads_it_where_the_reference_sits() -> None:
    state = FakeAnthropicState(min_cache_tokens=0)
    base = {"messages": [_user("question " * 300, mark=True)]}
    without = _usage(FakeAnthropicState(min_cache_tokens=0), tools=[SHOWN], **base)
    with_deferred = _usage(state, tools=[SHOWN, DEFERRED], **base)
    # Not in the prompt: the same tokens as without it, and the same cached prefix.
    assert with_deferred == without
    history = _loading_history()
    history[-1]["content"][0]["cache_control"] = {"type": "ephemeral"}
    loaded = _usage(state, tools=[SHOWN, DEFERRED], messages=history)
    unloaded = _usage(
        FakeAnthropicState(min_cache_tokens=0), tools=[SHOWN, DEFERRED], messages=_loading_history(reference=None)
    )
    # The definition counts where the reference sits (hundreds of tokens), and everything
    # before it was read from the cache: the tools array did not change.
    sent = sum(loaded.values())
    assert sent - sum(unloaded.values()) > 300
    assert loaded["cache_read_input_tokens"] == with_deferred["cache_creation_input_tokens"]


def test_references_to_unknown_or_shown_tools_and_all_deferred_tools_are_400s(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    server.push(Reply(text="never"))
    cases = [
        (
            [SHOWN, DEFERRED],
            _loading_history(reference="no_such_tool"),
            "tool_reference to 'no_such_tool', which is not in tools",
        ),
        ([SHOWN, DEFERRED], _loading_history(reference="load_tools"), "which is not deferred"),
        ([{**SHOWN, "defer_loading": True}, DEFERRED], [_user("hi")], "at least one tool must not be deferred"),
        (
            [SHOWN, DEFERRED],
            [{"role": "user", "content": [{"type": "tool_reference", "tool_name": "run_query"}]}],
            "only allowed inside tool_result",
        ),
    ]
    for tools, messages, message in cases:
        with pytest.raises(anthropic.BadRequestError, match=message):
            _create(client, tools=tools, messages=messages)
    assert server.remaining == 1, "a refused request consumes no scripted reply"


def test_calling_a_deferred_tool_no_reference_loaded_is_refused(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    # In the history: a tool_use of a deferred tool before any reference loaded it.
    history = _loading_history(reference=None)
    call = {"type": "tool_use", "id": "toolu_2", "name": "run_query", "input": {}}
    bad = [*history, {"role": "assistant", "content": [call]}]
    bad.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "rows"}]})
    with pytest.raises(anthropic.BadRequestError, match="'run_query', a deferred tool"):
        _create(client, tools=[SHOWN, DEFERRED], messages=bad)
    # A scripted reply calling it: the real model could not, so the script is wrong.
    server.push(Reply(tool_uses=[ToolUse("run_query", {})]))
    with pytest.raises(anthropic.BadRequestError, match="calls run_query, deferred"):
        _create(client, tools=[SHOWN, DEFERRED], messages=history)
    # Once a reference loaded it, the model may call it.
    server.push(Reply(tool_uses=[ToolUse("run_query", {})]))
    reply = _create(client, tools=[SHOWN, DEFERRED], messages=_loading_history())
    assert reply.content[0].type == "tool_use" and reply.content[0].name == "run_query"
