"""A local fake of the Anthropic Messages API, for driving the *real* SDK over HTTP in tests.

It answers ``POST /v1/messages`` (JSON or SSE streaming) and ``POST /v1/messages/count_tokens``
from a script: each item is a :class:`Reply` (text and/or ``tool_use`` blocks) or a
:class:`Fault` (429 / 529 / 5xx with Anthropic's error JSON). Items may be tied to a model
name, so a primary model can be overloaded while a fallback answers. Prompt caching follows
Anthropic's documented rules (breakpoints, the 20-block lookback, each model's minimum cacheable
length, TTLs, entries per model; see "the prompt cache" below), so ``cache_read_input_tokens``
and ``cache_creation_input_tokens`` come out as the real API would report them for the same
requests (token counts are estimates). Deferred tool loading (``defer_loading`` tools, loaded by
``tool_reference`` blocks in tool results) follows Anthropic's rules too. Every request (headers
and JSON body) is recorded.

Usage::

    with FakeAnthropicServer([overloaded(), Reply(text="hi")]) as server:
        model = ChatAnthropic(model="claude-sonnet-4-5", base_url=server.url, api_key=server.api_key)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from agent.fakes._server import (
    LocalServer,
    RecordedRequest,
    ScriptState,
    retry_after_header,
)
from agent.fakes._server import estimate_tokens as _tokens

__all__ = [
    "FakeAnthropicServer",
    "FakeAnthropicState",
    "Fault",
    "RecordedRequest",
    "Reply",
    "ToolUse",
    "create_app",
    "deferred_problem",
    "overloaded",
    "rate_limited",
    "server_error",
]

DEFAULT_API_KEY = "sk-ant-fake-test-key"


@dataclass(frozen=True)
class ToolUse:
    """A ``tool_use`` block the fake model emits."""

    name: str
    input: Mapping[str, Any]
    id: str | None = None  # generated ("toolu_fake_…") when not given


@dataclass(frozen=True)
class Reply:
    """A successful Message: optional text followed by tool_use blocks.

    ``stop_reason`` defaults to ``tool_use`` when there are tool uses, else ``end_turn``.
    Token counts default to estimates from the request and reply sizes.
    """

    text: str = ""
    tool_uses: Sequence[ToolUse] = ()
    stop_reason: str | None = None
    output_tokens: int | None = None
    model: str | None = None  # only answer requests for this model
    repeat: bool = False  # stay in the script instead of being consumed
    delay_s: float = 0.0  # wait before answering (to exercise client timeouts)


@dataclass(frozen=True)
class Fault:
    """An error response with Anthropic's error JSON shape."""

    status: int
    error_type: str
    message: str
    retry_after: float | None = None  # seconds, sent as ``retry-after``
    retry_after_ms: float | None = None  # sent as ``retry-after-ms`` (the SDK prefers it)
    model: str | None = None
    repeat: bool = False
    # For ``stream: true`` requests: answer 200, then send an SSE ``error`` event after
    # ``message_start``, as Anthropic does when it overloads mid-stream.
    mid_stream: bool = False


Responder = Callable[[Mapping[str, Any]], Reply | Fault]
"""A script item computed from the request body (e.g. to echo the latest tool_result)."""

ScriptItem = Reply | Fault | Responder


def overloaded(*, model: str | None = None, repeat: bool = False, mid_stream: bool = False) -> Fault:
    """HTTP 529 ``overloaded_error`` (or, with ``mid_stream``, an SSE error event in a 200 stream)."""
    return Fault(529, "overloaded_error", "Overloaded", model=model, repeat=repeat, mid_stream=mid_stream)


def rate_limited(retry_after: float = 0, *, model: str | None = None, repeat: bool = False) -> Fault:
    """HTTP 429 ``rate_limit_error`` with a ``retry-after`` header (seconds)."""
    return Fault(
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit",
        retry_after=retry_after,
        model=model,
        repeat=repeat,
    )


def server_error(*, model: str | None = None, repeat: bool = False) -> Fault:
    """HTTP 500 ``api_error``."""
    return Fault(500, "api_error", "Internal server error", model=model, repeat=repeat)


def _strip_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_strip_cache_control(v) for v in value]
    return value


# -- the prompt cache, as Anthropic documents it ----------------------------------------------------
# The prefix runs tools → system → messages, block by block. A ``cache_control`` marker (at most
# MAX_BREAKPOINTS per request, or a top-level ``cache_control`` that marks the last block) writes
# an entry for the prefix up to and including its block, if that prefix reaches the model's
# minimum cacheable length. A marker reads the longest entry written earlier at its own block or
# at one of the LOOKBACK_BLOCKS block boundaries before it; nothing past the last marker is ever
# cached. Entries are per model, live 5 minutes (or 1 hour with ``"ttl": "1h"``) and are
# refreshed by every hit. ``tool_choice`` and ``thinking`` are part of the messages' prefix
# (changing them keeps the tools and system entries), a changed byte anywhere invalidates
# everything after it, and ``"x"`` is the same prompt as ``[{"type": "text", "text": "x"}]``.

MAX_BREAKPOINTS = 4
LOOKBACK_BLOCKS = 20
CACHE_TTL_S: Mapping[str, float] = {"5m": 300.0, "1h": 3600.0}
MIN_CACHEABLE_TOKENS: Sequence[tuple[str, int]] = (
    ("claude-opus-4-5", 4096),
    ("claude-opus-4-6", 4096),
    ("claude-opus-4-7", 4096),
    ("claude-haiku-4-5", 4096),
    ("claude-3-5-haiku", 2048),
    ("claude-3-haiku", 2048),
)
"""Model id prefix → minimum cacheable prompt length; every other model: 1,024 tokens."""
DEFAULT_MIN_CACHEABLE_TOKENS = 1024


def min_cacheable_tokens(model: str) -> int:
    """The shortest prefix ``model`` caches (shorter marked prefixes are processed uncached)."""
    return next((n for prefix, n in MIN_CACHEABLE_TOKENS if model.startswith(prefix)), DEFAULT_MIN_CACHEABLE_TOKENS)


@dataclass(frozen=True)
class _Block:
    content: Any  # without markers, normalised
    marker: Mapping[str, Any] | None  # the block's cache_control, if any


def _text_blocks(content: Any) -> list[Any]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])


def _normal(block: Any, deferred: Mapping[str, Any] | None = None) -> Any:
    block = _strip_cache_control(block)
    if isinstance(block, dict) and block.get("type") == "tool_result" and isinstance(block.get("content"), str):
        block = {**block, "content": _text_blocks(block["content"])}
    if deferred and isinstance(block, dict) and block.get("type") == "tool_result":
        # A reference stands for the referenced tool's whole definition, expanded where it sits:
        # it counts there, and it is part of the prefix from there on.
        block = {
            **block,
            "content": [
                {"type": "tool_reference", "tool": deferred[str(item.get("tool_name"))]}
                if _is_reference(item) and str(item.get("tool_name")) in deferred
                else item
                for item in block["content"]
            ],
        }
    return block


def _is_reference(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") == "tool_reference"


# -- deferred tool loading, as Anthropic documents it -------------------------------------------------
# A tool with ``defer_loading: true`` is in the ``tools`` array but not in the prompt: it costs no
# input tokens and is not part of the cached tools prefix. A ``tool_reference`` block (``{"type":
# "tool_reference", "tool_name": ...}``) inside a ``tool_result``'s content loads it: the definition
# is expanded there, counted there, and the model may call the tool from then on. A reference to a
# tool that is not in ``tools``, or not deferred, is refused (400), as is a request whose tools are
# all deferred and a ``tool_use`` of a deferred tool no earlier reference loaded.


def _deferred_tools(body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        str(t.get("name")): _strip_cache_control(t)
        for t in body.get("tools") or []
        if isinstance(t, dict) and t.get("defer_loading") is True
    }


def deferred_problem(body: Mapping[str, Any]) -> str | None:
    """Why Anthropic would refuse the request's deferred tools or tool references (400), or None."""
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    deferred = _deferred_tools(body)
    if tools and len(deferred) == len(tools):
        return "tools: at least one tool must not be deferred (all tools have defer_loading: true)"
    names = {str(t.get("name")) for t in tools}
    loaded: set[str] = set()
    for index, message in enumerate(body.get("messages") or []):
        for block in _text_blocks(message.get("content")) if isinstance(message, Mapping) else []:
            if _is_reference(block):
                return f"messages.{index}: tool_reference blocks are only allowed inside tool_result content"
            if not isinstance(block, dict):
                continue
            used = str(block.get("name")) if block.get("type") == "tool_use" else ""
            if used in deferred and used not in loaded:
                return (
                    f"messages.{index}: tool_use of {used!r}, a deferred tool "
                    "(defer_loading: true) that no earlier tool_reference loaded"
                )
            if block.get("type") != "tool_result" or not isinstance(block.get("content"), list):
                continue
            for item in block["content"]:
                if not _is_reference(item):
                    continue
                name = str(item.get("tool_name"))
                if name not in names:
                    return f"messages.{index}: tool_reference to {name!r}, which is not in tools"
                if name not in deferred:
                    return f"messages.{index}: tool_reference to {name!r}, which is not deferred (defer_loading)"
                loaded.add(name)
    return None


def unloaded_calls(body: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    """Which of ``names`` (tools a reply calls) are deferred and not loaded by any reference in ``body``."""
    deferred = _deferred_tools(body)
    loaded = {
        str(item.get("tool_name"))
        for message in body.get("messages") or []
        if isinstance(message, Mapping)
        for block in _text_blocks(message.get("content"))
        if isinstance(block, dict) and block.get("type") == "tool_result" and isinstance(block.get("content"), list)
        for item in block["content"]
        if _is_reference(item)
    }
    return [n for n in names if n in deferred and n not in loaded]


def _marker(block: Any) -> Mapping[str, Any] | None:
    marker = block.get("cache_control") if isinstance(block, dict) else None
    return marker if isinstance(marker, Mapping) else None


def _segments(body: Mapping[str, Any]) -> list[tuple[Any, bool]]:
    """The request in Anthropic's cache order (tools, system, messages), block by block.

    Each segment is ``(content_without_markers, has_cache_control)``.
    """
    return [(b.content, b.marker is not None) for b in _blocks(body)]


def _blocks(body: Mapping[str, Any]) -> list[_Block]:
    deferred = _deferred_tools(body)
    # Deferred tools are not in the prompt (nor in its cached prefix) until referenced.
    tools = [t for t in body.get("tools") or [] if not (isinstance(t, dict) and t.get("defer_loading") is True)]
    blocks = [_Block({"tool": _strip_cache_control(t)}, _marker(t)) for t in tools]
    blocks += [_Block({"system": _normal(b)}, _marker(b)) for b in _text_blocks(body.get("system"))]
    for message in body.get("messages") or []:
        role = message.get("role")
        for b in _text_blocks(message.get("content")):
            blocks.append(_Block({"role": role, "block": _normal(b, deferred)}, _marker(b)))
    automatic = body.get("cache_control")
    if isinstance(automatic, Mapping) and blocks and blocks[-1].marker is None:
        blocks[-1] = _Block(blocks[-1].content, automatic)
    return blocks


def cache_problem(body: Mapping[str, Any]) -> str | None:
    """Why Anthropic would refuse the request's cache markers (400 invalid_request_error), or None."""
    blocks = _blocks(body)
    marked = sum(1 for b in blocks if b.marker is not None)
    if marked > MAX_BREAKPOINTS:
        return f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {marked}."
    for b in blocks:
        if b.marker is None:
            continue
        if b.marker.get("type") != "ephemeral":
            return "cache_control.type: Input should be 'ephemeral'"
        if b.marker.get("ttl", "5m") not in CACHE_TTL_S:
            return "cache_control.ttl: Input should be '5m' or '1h'"
        inner = (b.content.get("block") or b.content.get("system")) if isinstance(b.content, dict) else None
        if isinstance(inner, dict) and inner.get("type") == "text" and not inner.get("text"):
            return "cache_control cannot be set for empty text blocks"
    return None


def _prefixes(body: Mapping[str, Any], blocks: Sequence[_Block]) -> list[tuple[str, int]]:
    """(key of the prefix up to and including each block, its tokens so far); keyed by model."""
    digest = hashlib.sha256(json.dumps({"model": body.get("model")}).encode())
    n_tools_system = sum(1 for b in blocks if "role" not in b.content)
    total = 0
    out: list[tuple[str, int]] = []
    for index, block in enumerate(blocks):
        if index == n_tools_system:
            # These settings sit between the system prompt and the messages in the cache's order.
            digest.update(json.dumps({k: body.get(k) for k in ("tool_choice", "thinking")}, sort_keys=True).encode())
        digest.update(json.dumps(block.content, sort_keys=True).encode())
        total += _tokens(block.content)
        out.append((digest.copy().hexdigest(), total))
    return out


@dataclass
class FakeAnthropicState(ScriptState[Reply | Fault]):
    """The script, the request log and the simulated prompt cache. Thread-safe."""

    api_key: str = DEFAULT_API_KEY
    fast_retry_ms: float | None = 1.0
    clock: Callable[[], float] = time.monotonic
    # None: each model's documented minimum (MIN_CACHEABLE_TOKENS); a number overrides it for all.
    min_cache_tokens: int | None = None
    _entries: dict[str, float] = field(default_factory=dict)  # prefix key -> expiry on ``clock``

    def usage_for(self, body: Mapping[str, Any]) -> dict[str, int]:
        """Input-side usage of ``body``, read from and written to the simulated prompt cache."""
        blocks = _blocks(body)
        prefixes = _prefixes(body, blocks)
        total = prefixes[-1][1] if prefixes else 0
        minimum = self.min_cache_tokens
        if minimum is None:
            minimum = min_cacheable_tokens(str(body.get("model", "")))
        marks = [i for i, b in enumerate(blocks) if b.marker is not None and prefixes[i][1] >= minimum]
        read_at = -1
        with self._lock:
            now = self.clock()
            for key in [k for k, expiry in self._entries.items() if expiry <= now]:
                del self._entries[key]
            for i in marks:
                for j in range(i, max(-1, i - LOOKBACK_BLOCKS - 1), -1):
                    if prefixes[j][0] in self._entries:
                        read_at = max(read_at, j)
                        break
            for i in marks:
                marker = blocks[i].marker or {}
                ttl = CACHE_TTL_S[str(marker.get("ttl", "5m"))]
                self._entries[prefixes[i][0]] = max(self._entries.get(prefixes[i][0], 0.0), now + ttl)
            if read_at >= 0:
                key = prefixes[read_at][0]
                self._entries[key] = max(self._entries[key], now + CACHE_TTL_S["5m"])
        cache_read = prefixes[read_at][1] if read_at >= 0 else 0
        cache_write = max(0, prefixes[marks[-1]][1] - cache_read) if marks else 0
        return {
            "input_tokens": total - cache_read - cache_write,
            "cache_creation_input_tokens": cache_write,
            "cache_read_input_tokens": cache_read,
        }


def _error_response(state: FakeAnthropicState, fault: Fault) -> JSONResponse:
    headers = {"request-id": state.next_id("req")}
    if fault.retry_after is not None:
        headers["retry-after"] = retry_after_header(fault.retry_after)
    if fault.retry_after_ms is not None:
        headers["retry-after-ms"] = str(fault.retry_after_ms)
    elif fault.retry_after is None and state.fast_retry_ms is not None:
        # Keeps the SDK's exponential backoff out of test time.
        headers["retry-after-ms"] = str(state.fast_retry_ms)
    return JSONResponse(
        status_code=fault.status,
        headers=headers,
        content={
            "type": "error",
            "error": {"type": fault.error_type, "message": fault.message},
            "request_id": headers["request-id"],
        },
    )


def _invalid(status: int, error_type: str, message: str, *, retry: bool = False) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        headers={"x-should-retry": "true" if retry else "false"},
        content={"type": "error", "error": {"type": error_type, "message": message}},
    )


def _check_headers(state: FakeAnthropicState, headers: Mapping[str, str]) -> JSONResponse | None:
    key = headers.get("x-api-key")
    auth = headers.get("authorization", "")
    if key is None and auth.lower().startswith("bearer "):
        key = auth[7:]
    if not key:
        return _invalid(401, "authentication_error", "x-api-key header is required")
    if key != state.api_key:
        return _invalid(401, "authentication_error", "invalid x-api-key")
    if not headers.get("anthropic-version"):
        return _invalid(400, "invalid_request_error", "anthropic-version: header is required")
    return None


def _content_blocks(state: FakeAnthropicState, reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.text:
        blocks.append({"type": "text", "text": reply.text})
    for use in reply.tool_uses:
        blocks.append(
            {
                "type": "tool_use",
                "id": use.id or state.next_id("toolu"),
                "name": use.name,
                "input": dict(use.input),
            }
        )
    return blocks


def _message(
    state: FakeAnthropicState, body: Mapping[str, Any], reply: Reply
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    blocks = _content_blocks(state, reply)
    usage = state.usage_for(body)
    usage["output_tokens"] = reply.output_tokens if reply.output_tokens is not None else _tokens(blocks or "")
    stop = reply.stop_reason or ("tool_use" if reply.tool_uses else "end_turn")
    message = {
        "id": state.next_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude-fake"),
        "content": blocks,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
    return message, blocks


def _sse(event: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _stream_events(message: dict[str, Any], blocks: list[dict[str, Any]]) -> Iterator[bytes]:
    """The SSE sequence Anthropic sends for ``stream: true``."""
    usage = message["usage"]
    start_usage = {**usage, "output_tokens": 1}
    yield _sse(
        "message_start",
        {
            "type": "message_start",
            "message": {**message, "content": [], "stop_reason": None, "usage": start_usage},
        },
    )
    yield _sse("ping", {"type": "ping"})
    for index, block in enumerate(blocks):
        start: dict[str, Any]
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in _pieces(block["text"], 8)]
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            raw = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": ""}] + [
                {"type": "input_json_delta", "partial_json": piece} for piece in _pieces(raw, 7)
            ]
        yield _sse(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
        for delta in deltas:
            yield _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
    yield _sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": usage,  # cumulative, as the API reports it
        },
    )
    yield _sse("message_stop", {"type": "message_stop"})


def _failing_stream(state: FakeAnthropicState, body: Mapping[str, Any], fault: Fault) -> Iterator[bytes]:
    message, _ = _message(state, body, Reply())
    yield _sse(
        "message_start",
        {"type": "message_start", "message": {**message, "content": [], "stop_reason": None}},
    )
    yield _sse("error", {"type": "error", "error": {"type": fault.error_type, "message": fault.message}})


def create_app(state: FakeAnthropicState) -> FastAPI:
    """The FastAPI app serving ``state``'s script."""
    app = FastAPI(title="fake Anthropic Messages API", openapi_url=None, docs_url=None, redoc_url=None)

    async def _read(request: Request) -> tuple[dict[str, Any], Response | None]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = await request.json()
        except ValueError:
            body = {}
        state.record(RecordedRequest(request.method, request.url.path, headers, body))
        if not isinstance(body, dict):
            return {}, _invalid(400, "invalid_request_error", "body must be a JSON object")
        return body, _check_headers(state, headers)

    @app.post("/v1/messages")
    async def messages(request: Request) -> Response:
        body, problem = await _read(request)
        if problem is not None:
            return problem
        for required in ("model", "max_tokens", "messages"):
            if required not in body:
                return _invalid(400, "invalid_request_error", f"{required}: Field required")
        refused = cache_problem(body) or deferred_problem(body)
        if refused is not None:
            return _invalid(400, "invalid_request_error", refused)
        try:
            item = state.take(body)
        except Exception as exc:
            # A failing responder is a test bug: answer non-retryably so it surfaces once.
            with state._lock:
                state.errors.append(exc)
            return _invalid(400, "invalid_request_error", f"fake Anthropic API: scripted responder raised {exc!r}")
        if item is None:
            # Not retryable: an exhausted script is a test bug, not an outage.
            return _invalid(
                400,
                "invalid_request_error",
                f"fake Anthropic API: no scripted response left for model {body['model']!r} "
                f"after {len(state.served)} served",
            )
        if isinstance(item, Fault):
            if item.mid_stream and body.get("stream"):
                return StreamingResponse(
                    _failing_stream(state, body, item),
                    media_type="text/event-stream",
                    headers={"request-id": state.next_id("req")},
                )
            return _error_response(state, item)
        unloaded = unloaded_calls(body, [u.name for u in item.tool_uses])
        if unloaded:
            # The real model cannot call a deferred tool it was never shown: a test bug.
            return _invalid(
                400,
                "invalid_request_error",
                f"fake Anthropic API: the scripted reply calls {', '.join(unloaded)}, deferred "
                "(defer_loading: true) and not loaded by any tool_reference in this request",
            )
        if item.delay_s:
            await asyncio.sleep(item.delay_s)
        message, blocks = _message(state, body, item)
        if body.get("stream"):
            return StreamingResponse(
                _stream_events(message, blocks),
                media_type="text/event-stream",
                headers={"request-id": state.next_id("req"), "cache-control": "no-cache"},
            )
        return JSONResponse(message, headers={"request-id": state.next_id("req")})

    @app.post("/v1/messages/count_tokens")
    async def count_tokens(request: Request) -> Response:
        body, problem = await _read(request)
        if problem is not None:
            return problem
        segments = _segments(body)
        return JSONResponse({"input_tokens": sum(_tokens(content) for content, _ in segments)})

    return app


class FakeAnthropicServer(LocalServer):
    """Runs the fake API with uvicorn on 127.0.0.1 (a free port) in a background thread."""

    name = "fake-anthropic"
    label = "fake Anthropic"
    state: FakeAnthropicState

    def __init__(
        self,
        script: Sequence[ScriptItem] = (),
        *,
        api_key: str = DEFAULT_API_KEY,
        fast_retry_ms: float | None = 1.0,
        min_cache_tokens: int | None = None,
    ) -> None:
        super().__init__()
        self.state = FakeAnthropicState(
            list(script), api_key=api_key, fast_retry_ms=fast_retry_ms, min_cache_tokens=min_cache_tokens
        )

    def app(self) -> FastAPI:
        return create_app(self.state)

    @property
    def url(self) -> str:
        """Base URL to give the SDK (``base_url``); the SDK appends ``/v1/messages``."""
        return super().url

    @property
    def api_key(self) -> str:
        return self.state.api_key

    @property
    def message_requests(self) -> list[RecordedRequest]:
        """Requests to ``POST /v1/messages`` only."""
        return [r for r in self.requests if r.path == "/v1/messages"]

    def push(self, *items: ScriptItem) -> None:
        """Append items to the script while running."""
        self.state.push(*items)
