"""The OpenAI-compatible provider through the real openai SDK (langchain-openai's ChatOpenAI) against
the local fake server: tools, streaming with tool-call deltas, usage and cached tokens, strict
tool-call parsing, and every fault kind mapped to our errors for both providers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from pydantic import SecretStr

from agent.fakes import FakeAnthropicServer, Reply, overloaded, server_error
from agent.fakes.openai_api import (
    Completion,
    FakeOpenAIServer,
    ToolCall,
    connection_reset,
    rate_limited,
    stream_cut,
    truncated_body,
)
from agent.fakes.openai_api import server_error as openai_500
from agent.models.chat import (
    ModelAuthError,
    ModelConfig,
    ModelError,
    ModelOutputError,
    ModelUnavailable,
    bind_tools_cached,
    build_chat_model,
    invoke_model,
)
from agent.models.usage import usage_from_message
from agent.runtime.chamberlain import build_runtime
from agent.settings import Settings
from tests.agent.kv_tools import KvStore, kv_tools
from tools.base import ToolRegistry

ACCESS = Path(__file__).with_name("access_kv.yaml")
KV_GET = {
    "name": "kv_get",
    "description": "Read a key.",
    "input_schema": {"type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]},
}


@pytest.fixture
def oai() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(cache_min_tokens=1) as server:
        yield server


def _cfg(server: FakeOpenAIServer, **kw: Any) -> ModelConfig:
    base: dict[str, Any] = {"provider": "openai", "model": "gpt-fake-1", "base_url": server.url}
    base.update(api_key=server.api_key, max_retries=0, timeout_s=5)
    base.update(kw)
    return ModelConfig(**base)


def _ask(server: FakeOpenAIServer, *, stream: bool = False, **kw: Any) -> Any:
    cfg = _cfg(server, **kw)
    bound = bind_tools_cached(build_chat_model(cfg), [KV_GET])
    texts: list[str] = []
    reply = invoke_model(
        bound,
        [HumanMessage("what is color?")],
        on_text=texts.append if stream else None,
        model_config=cfg,
        tool_names=["kv_get"],
    )
    return reply, texts


def test_tool_call_usage_and_request_shape(oai: FakeOpenAIServer) -> None:
    oai.push(Completion(text="Checking.", tool_calls=[ToolCall("kv_get", {"key": "color"}, id="call_1")]))
    reply, _ = _ask(oai)
    assert reply.tool_calls == [{"name": "kv_get", "args": {"key": "color"}, "id": "call_1", "type": "tool_call"}]
    body = oai.completion_requests[0].body
    assert body["tools"][0]["function"]["name"] == "kv_get"
    assert "cache_control" not in str(body)  # Anthropic markers never reach an OpenAI server
    assert oai.completion_requests[0].headers["authorization"] == f"Bearer {oai.api_key}"
    usage = usage_from_message(reply)
    assert usage.input_tokens > 0 and usage.output_tokens > 0


def test_streaming_tool_call_deltas_parallel_calls_and_usage(oai: FakeOpenAIServer) -> None:
    calls = [ToolCall("kv_get", {"key": "color"}), ToolCall("kv_get", {"key": "size"})]
    oai.push(Completion(text="Reading two keys now.", tool_calls=calls))
    reply, texts = _ask(oai, stream=True)
    assert "".join(texts) == "Reading two keys now."
    assert [c["args"] for c in reply.tool_calls] == [{"key": "color"}, {"key": "size"}]
    assert len({c["id"] for c in reply.tool_calls}) == 2
    assert oai.completion_requests[0].body["stream_options"] == {"include_usage": True}
    assert reply.usage_metadata and reply.usage_metadata["input_tokens"] > 0


def test_repeated_prefix_is_reported_as_cached_input(oai: FakeOpenAIServer) -> None:
    oai.push(Completion(text="one"), Completion(text="two"))
    first, _ = _ask(oai)
    second, _ = _ask(oai)
    assert usage_from_message(first).cache_read_tokens == 0
    assert usage_from_message(second).cache_read_tokens > 0  # OpenAI's automatic prefix cache, reported


@pytest.mark.parametrize(
    ("call", "why"),
    [
        (ToolCall("kv_get", '{"key": "color"} I hope this helps'), "Extra data"),
        (ToolCall("kv_get", '{"key": "col'), "Unterminated string"),
        (ToolCall("kv_get", '["color"]'), "JSON object"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_malformed_tool_calls_are_model_errors(oai: FakeOpenAIServer, call: ToolCall, why: str, stream: bool) -> None:
    # One good call next to the bad one: the whole turn is refused, nothing of it can run.
    oai.push(Completion(tool_calls=[ToolCall("kv_get", {"key": "size"}), call]))
    with pytest.raises(ModelOutputError, match=why) as err:
        _ask(oai, stream=stream)
    assert "nothing of it was run" in str(err.value)


def test_tool_call_written_into_text_is_a_model_error(oai: FakeOpenAIServer) -> None:
    oai.push(Completion(text='<tool_call>\n{"name": "kv_get", "arguments": {"key": "color"}}\n</tool_call>'))
    with pytest.raises(ModelOutputError, match="wrote a tool call into its text"):
        _ask(oai)
    oai.push(Completion(text='{"name": "kv_get", "arguments": {"key": "color"}}'))
    with pytest.raises(ModelOutputError):
        _ask(oai)


def test_missing_ids_get_stable_unique_ids(oai: FakeOpenAIServer) -> None:
    oai.push(Completion(tool_calls=[ToolCall("kv_get", {"key": "a"}, id=""), ToolCall("kv_get", {"key": "b"}, id="")]))
    reply, _ = _ask(oai, stream=True)
    ids = [c["id"] for c in reply.tool_calls]
    assert all(ids) and len(set(ids)) == 2


def test_429_with_retry_after_is_retried_by_the_sdk(oai: FakeOpenAIServer) -> None:
    oai.push(rate_limited(0), Completion(text="ok"))
    reply, _ = _ask(oai, max_retries=2)
    assert reply.text == "ok"
    assert len(oai.completion_requests) == 2


def test_bad_configuration_names_the_setting(oai: FakeOpenAIServer) -> None:
    oai.state.models = ("gpt-fake-1",)
    with pytest.raises(ModelError, match="CHAMBERLAIN_MODEL") as err:
        _ask(oai, model="no-such-model")
    assert "no-such-model" in str(err.value) and not isinstance(err.value, ModelUnavailable)
    with pytest.raises(ModelAuthError, match="CHAMBERLAIN_MODEL_API_KEY"):
        _ask(oai, api_key="wrong")
    oai.state.supports_tools = False
    with pytest.raises(ModelError, match="does not accept tool calls"):
        _ask(oai)
    oai.state.supports_tools = True
    oai.state.context_window = 5
    with pytest.raises(ModelError, match="context window"):
        _ask(oai)
    with pytest.raises(ModelError, match="CHAMBERLAIN_MODEL_BASE_URL"):
        build_chat_model(ModelConfig(provider="openai", model="m", base_url="localhost:8000"))


# -- every fault kind, for every provider ----------------------------------------------------------

OPENAI_FAULTS: dict[str, Callable[[], Any]] = {
    "429": lambda: rate_limited(0, repeat=True),
    "500": lambda: openai_500(repeat=True),
    "connection reset": lambda: connection_reset(repeat=True),
    "truncated body": lambda: truncated_body(repeat=True),
    "stream cut": lambda: stream_cut(repeat=True),
    "timeout": lambda: Completion(text="late", delay_s=3, repeat=True),
}


@pytest.mark.parametrize("fault", sorted(OPENAI_FAULTS))
@pytest.mark.parametrize("stream", [False, True])
def test_openai_faults_are_retryable_model_errors(oai: FakeOpenAIServer, fault: str, stream: bool) -> None:
    oai.push(OPENAI_FAULTS[fault]())
    with pytest.raises(ModelUnavailable) as err:
        _ask(oai, stream=stream, timeout_s=1, max_retries=1)
    assert err.value.retryable


def _anthropic_ask(server: FakeAnthropicServer, *, stream: bool, timeout_s: float = 5) -> Any:
    cfg = ModelConfig(
        model="claude-sonnet-4-6", api_key=server.api_key, base_url=server.url, max_retries=1, timeout_s=timeout_s
    )
    bound = bind_tools_cached(build_chat_model(cfg), [KV_GET])
    return invoke_model(bound, [HumanMessage("hi")], on_text=(lambda _t: None) if stream else None, model_config=cfg)


@pytest.mark.parametrize("fault", ["529", "500", "mid-stream overload", "timeout", "truncated body"])
@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_faults_are_retryable_model_errors(fault: str, stream: bool, monkeypatch: Any) -> None:
    items = {
        "529": [overloaded(repeat=True)],
        "500": [server_error(repeat=True)],
        "mid-stream overload": [overloaded(repeat=True, mid_stream=True)],
        "timeout": [Reply(text="late", delay_s=3, repeat=True)],
        "truncated body": [Reply(text="cut", repeat=True)],
    }[fault]
    with FakeAnthropicServer(items) as server:
        if fault == "truncated body":
            _cut_anthropic_bodies(monkeypatch)
        with pytest.raises(ModelUnavailable):
            _anthropic_ask(server, stream=stream, timeout_s=1)


def _cut_anthropic_bodies(monkeypatch: Any) -> None:
    """Make the fake Messages API answer with a JSON body cut in half (complete HTTP 200s)."""
    import agent.fakes.anthropic_api as fake

    real_json = fake.JSONResponse
    real_stream = fake.StreamingResponse

    class CutJSON(real_json):  # type: ignore[misc, valid-type]
        def render(self, content: Any) -> bytes:
            raw = super().render(content)
            return raw if self.status_code != 200 else raw[: len(raw) // 2]

    def cut_stream(events: Iterator[bytes], **kw: Any) -> Any:
        data = b"".join(events)
        return real_stream(iter([data[: len(data) // 2]]), **kw)

    monkeypatch.setattr(fake, "JSONResponse", CutJSON)
    monkeypatch.setattr(fake, "StreamingResponse", cut_stream)


# -- through the runtime, configured by settings -----------------------------------------------------


def test_full_loop_over_openai_settings_with_fallback_audited(tmp_path: Path) -> None:
    """Primary openai model keeps failing (5xx past retries) → the fallback (another model on the
    same server, as a second provider would be) answers with the same tools; the switch is audited."""
    store = KvStore()
    script = [
        openai_500(model="big-model", repeat=True),
        Completion(text="Let me look.", tool_calls=[ToolCall("kv_get", {"key": "color"})], model="small-model"),
        Completion(text="It is blue.", model="small-model"),
    ]
    with FakeOpenAIServer(script) as server:
        settings = Settings(
            data_dir=tmp_path,
            access_policy_path=ACCESS,
            model_provider="openai",
            model="big-model",
            fallback_model="openai:small-model",
            model_base_url=server.url,
            model_api_key=SecretStr(server.api_key),
            model_max_retries=1,
        )
        with build_runtime(settings, registry=ToolRegistry(kv_tools(store))) as rt:
            out = rt.ask("u_erin", "What color is it?", thread_id="oai")
            entries = list(rt.audit.entries(thread_id="oai"))
            rows = rt.deps.usage.report(["model", "provider", "task_kind"])
    assert out.status == "answered" and out.answer is not None and out.answer.text == "It is blue."
    switches = [e.data for e in entries if e.event == "model_fallback"]
    assert len(switches) == 2  # both model calls of the turn fell back
    assert switches[0]["from"] == "openai:big-model" and switches[0]["to"] == "openai:small-model"
    assert "HTTP 500" in switches[0]["reason"]
    turns = [e.data for e in entries if e.event == "model_turn"]
    assert {t["model"] for t in turns} == {"openai:small-model"}
    assert {(r.keys["model"], r.keys["provider"]) for r in rows} == {("small-model", "openai")}
    # the system prompt tells the model which model it is, so the answer can say so when asked
    system = server.completion_requests[-1].body["messages"][0]["content"]
    assert isinstance(system, str) and "openai:small-model" in system
