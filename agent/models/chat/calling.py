"""Calling a bound model: streaming, our errors for every failure, and strict tool-call checks."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, message_chunk_to_message
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import ValidationError

from agent.models.chat.config import ModelConfig
from agent.models.chat.errors import ModelError, ModelOutputError, ModelUnavailable
from agent.models.chat.providers import translate_model_error
from agent.models.usage import LATENCY_KEY

# --- strict tool calls ------------------------------------------------------------------------

# How open models write a tool call into the text when the server does not parse it (Hermes /
# Qwen, Llama 3.x, Mistral, functionary): such a reply must not pass for an answer.
_TEXT_TOOL_CALL = re.compile(
    r"<tool_call>|<\|python_tag\|>|\[TOOL_CALLS\]|<function=|<\|tool_call",
)
_JSON_CALL = re.compile(r'\{\s*"(?:name|function)"\s*:\s*"([A-Za-z0-9_\-]+)"\s*,\s*"(?:arguments|parameters|args)"')


def check_reply(reply: AIMessage, *, tool_names: Sequence[str] = (), raw_args: Sequence[str] | None = None) -> None:
    """Raise :class:`ModelOutputError` unless every tool call of ``reply`` is well formed.

    Well formed: valid JSON object arguments (``raw_args``, the unparsed argument strings of a
    stream, are re-read strictly: LangChain's partial-JSON repair would otherwise complete a
    cut-off call), a name, a unique id, no tool call written as text, not cut off at max_tokens.
    Missing ids are filled with stable ones (derived from the call) so results can be matched.
    """
    problems: list[str] = []
    for bad in reply.invalid_tool_calls:
        problems.append(f"{bad.get('name') or '?'}: {_json_problem(bad.get('args'))}")
    for index, raw in enumerate(raw_args or ()):
        if not raw:
            continue  # no arguments at all: {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            name = reply.tool_calls[index]["name"] if index < len(reply.tool_calls) else "?"
            problems.append(f"{name}: arguments are not one JSON object ({exc.msg} at char {exc.pos})")
            continue
        if not isinstance(value, dict):
            problems.append(f"call #{index + 1}: arguments must be a JSON object, got {type(value).__name__}")
    seen: set[str] = set()
    for index, call in enumerate(reply.tool_calls):
        if not call.get("name"):
            problems.append(f"call #{index + 1} has no tool name")
        if not isinstance(call.get("args"), dict):
            problems.append(f"{call.get('name')}: arguments must be a JSON object")
        if not call.get("id"):
            digest = hashlib.sha256(
                json.dumps([index, call.get("name"), call.get("args")], sort_keys=True, default=str).encode()
            ).hexdigest()[:16]
            call["id"] = f"call_{digest}"
        if call["id"] in seen:
            problems.append(f"two calls share the id {call['id']!r}")
        seen.add(str(call["id"]))
    meta = reply.response_metadata or {}
    stop = meta.get("finish_reason") or meta.get("stop_reason")
    if stop in ("length", "max_tokens") and (reply.tool_calls or reply.invalid_tool_calls):
        problems.append("the reply was cut off at the output token limit in the middle of a tool call")
    if not reply.tool_calls and not problems:
        text = _plain_text(reply)
        named = {m.group(1) for m in _JSON_CALL.finditer(text)}
        if _TEXT_TOOL_CALL.search(text) or (named & set(tool_names)):
            problems.append(
                "the model wrote a tool call into its text instead of calling the tool (the server may lack a "
                "tool-call parser, e.g. vLLM --tool-call-parser)"
            )
    if problems:
        raise ModelOutputError("The model returned a malformed turn; nothing of it was run: " + "; ".join(problems))


def _json_problem(raw: Any) -> str:
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError as exc:
        return f"arguments are not one JSON object ({exc.msg} at char {exc.pos})"
    except TypeError:
        return "arguments are missing"
    return f"arguments must be a JSON object, got {type(value).__name__}"


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    if "args" in err["loc"]:
        return "a tool call's arguments must be one JSON object"
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])


def _plain_text(message: AIMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(
        str(b.get("text", "")) if isinstance(b, Mapping) else str(b)
        for b in content
        if not isinstance(b, Mapping) or b.get("type") == "text"
    )


def _text_of(chunk: AIMessageChunk) -> str:
    content = chunk.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Mapping) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def invoke_model(
    bound: Runnable[LanguageModelInput, BaseMessage],
    messages: Iterable[BaseMessage],
    *,
    on_text: Callable[[str], None] | None = None,
    config: RunnableConfig | None = None,
    model_config: ModelConfig | None = None,
    tool_names: Sequence[str] = (),
) -> AIMessage:
    """Call the (tool-bound) model and return its reply, with our errors.

    With ``on_text`` the reply is streamed and each text delta is passed to it as it arrives;
    the returned message is the same either way (tool calls intact). The call's wall time is
    stored in ``response_metadata["latency_ms"]`` for :func:`agent.models.usage.usage_from_message`.
    Every failure of the SDKs or below them is one of ours (:func:`translate_model_error`), and
    the reply's tool calls are checked (:func:`check_reply`) before anything can run them.
    """
    prompt = list(messages)
    started = time.perf_counter()
    raw_args: list[str] | None = None
    merged: AIMessageChunk | None = None
    try:
        if on_text is None:
            reply = bound.invoke(prompt, config=config)
        else:
            for chunk in bound.stream(prompt, config=config):
                if not isinstance(chunk, AIMessageChunk):
                    raise TypeError(f"expected AIMessageChunk from the model, got {type(chunk).__name__}")
                text = _text_of(chunk)
                if text:
                    on_text(text)
                merged = chunk if merged is None else merged + chunk
            if merged is None:
                raise ModelError("the model stream ended without a message")
            raw_args = [str(c.get("args") or "") for c in merged.tool_call_chunks]
            meta = merged.response_metadata or {}
            if model_config is not None and not (meta.get("finish_reason") or meta.get("stop_reason")):
                # The server's stream stopped before the reply did (no finish reason, no [DONE]).
                raise ModelUnavailable(
                    f"The reply from {model_config.model} stopped half-way (the stream was cut); try again shortly."
                )
            reply = message_chunk_to_message(merged)
    except ValidationError as exc:
        # LangChain could not build a message from the reply (e.g. tool arguments that are JSON
        # but not an object): the reply is malformed, not our bug.
        raise ModelOutputError(
            f"The model returned a malformed turn; nothing of it was run: {_first_error(exc)}"
        ) from exc
    except ValueError as exc:
        if on_text is not None and merged is None and "No generation chunks" in str(exc):
            raise ModelUnavailable("The model's stream ended before any data arrived; try again shortly.") from exc
        translated = translate_model_error(exc, model_config)
        if translated is None or translated is exc:
            raise
        raise translated from exc
    except Exception as exc:
        translated = translate_model_error(exc, model_config)
        if translated is None or translated is exc:
            raise
        raise translated from exc
    if not isinstance(reply, AIMessage):
        raise TypeError(f"expected an AIMessage from the model, got {type(reply).__name__}")
    check_reply(reply, tool_names=tool_names, raw_args=raw_args)
    reply.response_metadata[LATENCY_KEY] = round((time.perf_counter() - started) * 1000, 1)
    return reply
