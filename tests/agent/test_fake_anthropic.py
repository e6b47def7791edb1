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


def test_prompt_cache_is_written_then_read(server: FakeAnthropicServer, client: anthropic.Anthropic) -> None:
    server.push(Reply(text="one"), Reply(text="two"), Reply(text="three"))
    first = _create(client, system=SYSTEM, tools=TOOLS)
    second = _create(client, system=SYSTEM, tools=TOOLS, messages=[{"role": "user", "content": "another question"}])
    changed = [{**SYSTEM[0], "text": "A different system prompt. " * 20}]
    third = _create(client, system=changed, tools=TOOLS)
    assert first.usage.cache_creation_input_tokens and first.usage.cache_creation_input_tokens > 50
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    # Tools come first in the prefix, so the tool breakpoint still hits; the system part is new.
    assert third.usage.cache_read_input_tokens and third.usage.cache_creation_input_tokens
    assert third.usage.cache_read_input_tokens < first.usage.cache_creation_input_tokens


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
