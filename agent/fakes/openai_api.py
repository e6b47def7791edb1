"""A local fake of an OpenAI-compatible Chat Completions server (OpenAI, vLLM, Ollama, LM Studio).

It answers ``POST /v1/chat/completions`` (JSON, or SSE with ``stream: true`` — text deltas,
tool-call deltas, and a final usage chunk when ``stream_options.include_usage`` is set) and
``GET /v1/models`` from a script. Each item is a :class:`Completion` (text and/or tool calls), a
:class:`Fault` (an HTTP error with OpenAI's error JSON, e.g. 429 with ``retry-after``) or a
:class:`Broken` response (a 200 whose JSON body is cut short, a connection dropped mid-body, an
SSE stream that stops early), or a callable computing one from the request body. Tool-call
quirks of open models are scriptable: :class:`ToolCall` ``arguments`` may be a raw string
(trailing text, cut-off JSON) and ``id=""`` omits the id.

Server behaviours that a bad configuration meets: ``models`` (unknown model → 404
``model_not_found``), ``supports_tools=False`` (requests with tools → 400, as vLLM without
``--enable-auto-tool-choice``), ``context_window`` (longer prompts → 400 "maximum context
length"), ``api_key`` (wrong bearer token → 401). Automatic prefix caching is simulated the way
OpenAI reports it: a request whose prefix (tools, then messages) was seen before reports those
tokens as ``usage.prompt_tokens_details.cached_tokens`` once the prefix is ``cache_min_tokens``
long. Every request is recorded.

Usage::

    with FakeOpenAIServer([rate_limited(), Completion(text="hi")]) as server:
        model = ChatOpenAI(model="gpt-fake", base_url=server.url, api_key=server.api_key)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from agent.fakes._server import (
    LocalServer,
    RecordedRequest,
    ScriptState,
    prefix_keys,
    retry_after_header,
)
from agent.fakes._server import estimate_tokens as _tokens

__all__ = [
    "Broken",
    "Completion",
    "FakeOpenAIServer",
    "FakeOpenAIState",
    "OpenAIFault",
    "RecordedRequest",
    "ToolCall",
    "connection_reset",
    "create_app",
    "rate_limited",
    "server_error",
    "stream_cut",
    "truncated_body",
]

DEFAULT_API_KEY = "sk-fake-openai-test-key"
DEFAULT_MODEL = "gpt-fake-1"


@dataclass(frozen=True)
class ToolCall:
    """A tool call the fake model emits. ``arguments``: a mapping (sent as JSON) or a raw string."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None  # None: generated ("call_fake_…"); "": omitted (a quirk of some servers)


@dataclass(frozen=True)
class Completion:
    """A successful chat completion: optional text and tool calls."""

    text: str = ""
    tool_calls: Sequence[ToolCall] = ()
    finish_reason: str | None = None  # default: tool_calls when there are any, else stop
    completion_tokens: int | None = None
    model: str | None = None  # only answer requests for this model
    repeat: bool = False
    delay_s: float = 0.0  # wait before answering (to exercise client timeouts)


@dataclass(frozen=True)
class OpenAIFault:
    """An HTTP error with OpenAI's error JSON."""

    status: int
    message: str
    type: str = "server_error"
    code: str | None = None
    retry_after: float | None = None  # seconds, sent as ``retry-after``
    model: str | None = None
    repeat: bool = False


@dataclass(frozen=True)
class Broken:
    """A response broken below HTTP semantics.

    ``truncated_body``: a complete HTTP 200 whose JSON body stops half-way (Content-Length
    matches); ``reset``: the connection closes before the declared body is sent; ``stream_cut``:
    an SSE stream that stops after a few chunks, without a finish reason or ``[DONE]``.
    """

    kind: Literal["truncated_body", "reset", "stream_cut"]
    model: str | None = None
    repeat: bool = False


Responder = Callable[[Mapping[str, Any]], "Completion | OpenAIFault | Broken"]
ScriptItem = Completion | OpenAIFault | Broken | Responder


def rate_limited(retry_after: float = 0, *, model: str | None = None, repeat: bool = False) -> OpenAIFault:
    """HTTP 429 with ``retry-after`` (seconds)."""
    return OpenAIFault(
        429, "Rate limit reached for requests", "requests", "rate_limit_exceeded", retry_after, model, repeat
    )


def server_error(status: int = 500, *, model: str | None = None, repeat: bool = False) -> OpenAIFault:
    """HTTP 500 (or another 5xx)."""
    return OpenAIFault(status, "The server had an error while processing your request.", model=model, repeat=repeat)


def truncated_body(*, model: str | None = None, repeat: bool = False) -> Broken:
    return Broken("truncated_body", model, repeat)


def connection_reset(*, model: str | None = None, repeat: bool = False) -> Broken:
    return Broken("reset", model, repeat)


def stream_cut(*, model: str | None = None, repeat: bool = False) -> Broken:
    return Broken("stream_cut", model, repeat)


def _segments(body: Mapping[str, Any]) -> list[Any]:
    """The prompt in the order a server's prefix cache sees it: tools, then messages."""
    return [*(body.get("tools") or []), *(body.get("messages") or [])]


@dataclass
class FakeOpenAIState(ScriptState[Completion | OpenAIFault | Broken]):
    """The script, the request log and the simulated prefix cache. Thread-safe."""

    api_key: str | None = DEFAULT_API_KEY  # None: any key (or none) is accepted
    models: tuple[str, ...] | None = None  # None: every model name is served
    supports_tools: bool = True
    context_window: int | None = None
    cache_min_tokens: int = 1024
    fast_retry_ms: float | None = 1.0

    def usage_for(self, body: Mapping[str, Any]) -> tuple[int, int]:
        """(prompt tokens, cached tokens) — the longest previously seen prefix is cached."""
        prefixes = prefix_keys(_segments(body))
        total = prefixes[-1][1] if prefixes else 0
        cached = self.cached_prefix(prefixes)
        return total, cached if cached >= self.cache_min_tokens else 0


def _error(
    status: int, message: str, type_: str, code: str | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        headers=dict(headers or {}),
        content={"error": {"message": message, "type": type_, "param": None, "code": code}},
    )


def _fault_response(state: FakeOpenAIState, fault: OpenAIFault) -> JSONResponse:
    headers = {"x-request-id": state.next_id("req")}
    if fault.retry_after is not None:
        headers["retry-after"] = retry_after_header(fault.retry_after)
    if state.fast_retry_ms is not None and not fault.retry_after:
        headers["retry-after-ms"] = str(state.fast_retry_ms)  # keeps backoff out of test time
    return _error(fault.status, fault.message, fault.type, fault.code, headers)


def _raw_arguments(call: ToolCall) -> str:
    return call.arguments if isinstance(call.arguments, str) else json.dumps(dict(call.arguments))


def _tool_calls(state: FakeOpenAIState, completion: Completion) -> list[dict[str, Any]]:
    calls = []
    for call in completion.tool_calls:
        entry: dict[str, Any] = {"type": "function", "function": {"name": call.name, "arguments": _raw_arguments(call)}}
        if call.id != "":
            entry["id"] = call.id or state.next_id("call")
        calls.append(entry)
    return calls


def _completion(state: FakeOpenAIState, body: Mapping[str, Any], completion: Completion) -> dict[str, Any]:
    calls = _tool_calls(state, completion)
    message: dict[str, Any] = {"role": "assistant", "content": completion.text or None}
    if calls:
        message["tool_calls"] = calls
    prompt, cached = state.usage_for(body)
    output = completion.completion_tokens or _tokens([completion.text, calls])
    return {
        "id": state.next_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": completion.model or body.get("model", DEFAULT_MODEL),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": completion.finish_reason or ("tool_calls" if calls else "stop"),
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": output,
            "total_tokens": prompt + output,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _sse(data: Mapping[str, Any] | str) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()


def _stream(done: dict[str, Any], *, include_usage: bool, cut: bool = False) -> Iterator[bytes]:
    """The SSE chunks of ``done`` (a complete completion), as OpenAI streams them."""
    choice = done["choices"][0]
    message = choice["message"]

    def chunk(delta: Mapping[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": done["id"],
            "object": "chat.completion.chunk",
            "created": done["created"],
            "model": done["model"],
            "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish, "logprobs": None}],
        }

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": piece}) for piece in _pieces(message.get("content") or "", 8)]
    for index, call in enumerate(message.get("tool_calls") or []):
        head = {"index": index, "type": "function", "function": {"name": call["function"]["name"], "arguments": ""}}
        if "id" in call:
            head["id"] = call["id"]
        chunks.append(chunk({"tool_calls": [head]}))
        for piece in _pieces(call["function"]["arguments"], 7):
            chunks.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    if cut:
        yield from (_sse(c) for c in chunks[: max(2, len(chunks) // 2)])
        return
    chunks.append(chunk({}, choice["finish_reason"]))
    yield from (_sse(c) for c in chunks)
    if include_usage:
        yield _sse({**chunk({}), "choices": [], "usage": done["usage"]})
    yield _sse("[DONE]")


def _check(state: FakeOpenAIState, headers: Mapping[str, str], body: Mapping[str, Any]) -> Response | None:
    if state.api_key is not None:
        auth = headers.get("authorization", "")
        if auth[7:] != state.api_key or not auth.lower().startswith("bearer "):
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
    for required in ("model", "messages"):
        if required not in body:
            return _error(400, f"'{required}' is a required property", "invalid_request_error")
    if state.models is not None and body["model"] not in state.models:
        return _error(
            404, f"The model `{body['model']}` does not exist or you do not have access to it.",
            "invalid_request_error", "model_not_found",
        )  # fmt: skip
    if body.get("tools") and not state.supports_tools:
        return _error(
            400,
            '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set: '
            "tools are not supported by this server",
            "BadRequestError",
        )
    if state.context_window is not None:
        prompt = sum(_tokens(s) for s in _segments(body))
        if prompt > state.context_window:
            return _error(
                400,
                f"This model's maximum context length is {state.context_window} tokens. However, your messages "
                f"resulted in {prompt} tokens. Please reduce the length of the messages.",
                "invalid_request_error",
                "context_length_exceeded",
            )
    return None


def create_app(state: FakeOpenAIState) -> FastAPI:
    app = FastAPI(title="fake OpenAI-compatible API", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        state.record(RecordedRequest("GET", request.url.path, headers, {}))
        if state.api_key is not None and headers.get("authorization", "")[7:] != state.api_key:
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        names = state.models or (DEFAULT_MODEL,)
        return JSONResponse(
            {"object": "list", "data": [{"id": n, "object": "model", "owned_by": "fake"} for n in names]}
        )

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = await request.json()
        except ValueError:
            body = None
        state.record(RecordedRequest("POST", request.url.path, headers, body or {}))
        if not isinstance(body, dict):
            return _error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        problem = _check(state, headers, body)
        if problem is not None:
            return problem
        try:
            item = state.take(body)
        except Exception as exc:  # a failing responder is a test bug: answer once, non-retryably
            with state._lock:
                state.errors.append(exc)
            return _error(400, f"fake OpenAI API: scripted responder raised {exc!r}", "invalid_request_error")
        if item is None:
            return _error(
                400,
                f"fake OpenAI API: no scripted response left for model {body['model']!r} after {len(state.served)}",
                "invalid_request_error",
            )
        if isinstance(item, OpenAIFault):
            return _fault_response(state, item)
        if isinstance(item, Broken):
            return _broken(state, body, item)
        if item.delay_s:
            await asyncio.sleep(item.delay_s)
        done = _completion(state, body, item)
        if body.get("stream"):
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(_stream(done, include_usage=include), media_type="text/event-stream")
        return JSONResponse(done, headers={"x-request-id": state.next_id("req")})

    return app


def _broken(state: FakeOpenAIState, body: Mapping[str, Any], item: Broken) -> Response:
    done = _completion(state, body, Completion(text="This answer never arrives whole."))
    if item.kind == "stream_cut" and body.get("stream"):
        return StreamingResponse(_stream(done, include_usage=False, cut=True), media_type="text/event-stream")
    if item.kind == "truncated_body" and body.get("stream"):
        first, second = list(_stream(done, include_usage=False))[:2]
        return StreamingResponse(iter([first, second[: len(second) // 2] + b"\n\n"]), media_type="text/event-stream")
    raw = json.dumps(done).encode()
    if item.kind == "reset":
        # Declares more than it sends: the server closes the connection mid-body.
        return Response(raw[: len(raw) // 2], media_type="application/json", headers={"content-length": str(len(raw))})
    return Response(raw[: len(raw) // 2], media_type="application/json")  # a complete 200, cut-short JSON


class FakeOpenAIServer(LocalServer):
    """Runs the fake API with uvicorn on 127.0.0.1 (a free port) in a background thread."""

    name = "fake-openai"
    label = "fake OpenAI"
    url_path = "/v1"
    log_level = "critical"  # the deliberate resets would otherwise log server-side errors
    state: FakeOpenAIState

    def __init__(
        self,
        script: Sequence[ScriptItem] = (),
        *,
        api_key: str | None = DEFAULT_API_KEY,
        models: Sequence[str] | None = None,
        supports_tools: bool = True,
        context_window: int | None = None,
        cache_min_tokens: int = 1024,
        fast_retry_ms: float | None = 1.0,
    ) -> None:
        super().__init__()
        self.state = FakeOpenAIState(
            list(script),
            api_key=api_key,
            models=tuple(models) if models is not None else None,
            supports_tools=supports_tools,
            context_window=context_window,
            cache_min_tokens=cache_min_tokens,
            fast_retry_ms=fast_retry_ms,
        )

    def app(self) -> FastAPI:
        return create_app(self.state)

    @property
    def url(self) -> str:
        """The OpenAI-style base URL (ends in ``/v1``) to give ``ChatOpenAI(base_url=…)``."""
        return super().url

    @property
    def api_key(self) -> str:
        return self.state.api_key or "any-key"

    @property
    def completion_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    def push(self, *items: ScriptItem) -> None:
        self.state.push(*items)
