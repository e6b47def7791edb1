"""Chat models: Claude (langchain-anthropic) or any OpenAI-compatible server (langchain-openai).

Providers: ``anthropic`` (the Messages API) and ``openai`` (Chat Completions: OpenAI, Azure
OpenAI through a gateway, vLLM, Ollama, LM Studio, LiteLLM). Both go through the same
:func:`invoke_model`, which maps every transport and decoding failure of either SDK to
:class:`ModelUnavailable` and parses tool calls strictly (:class:`ModelOutputError`).

The system prompt and the tool schemas form the stable prefix of every request, so both carry
an ``ephemeral`` ``cache_control`` marker (Anthropic caches everything up to the last marker).
Retries of 429 / 5xx / 529 are left to the anthropic SDK (``max_retries``, honouring
``retry-after``); when they are exhausted, :func:`invoke_model` raises :class:`ModelUnavailable`.
A fallback model, if configured, is attached *after* tools are bound so it gets the same tools::

    models = build_chat_models(cfg)
    bound = models.bind(tool_specs)
    reply = invoke_model(bound, [system_message(load_prompt("system")), *history])
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

import httpx
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    SystemMessage,
    message_chunk_to_message,
)
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import SecretStr, ValidationError

from agent.models.usage import LATENCY_KEY

if TYPE_CHECKING:
    import anthropic
    import openai

# The provider SDKs (anthropic, openai, langchain-anthropic: ~2-3 s to import) load when a model
# is built or called, not with this module: commands that never call a model (approve without a
# key, resume, serve while it starts) do not pay for them.

__all__ = [
    "CACHE_CONTROL",
    "DEFAULT_BASE_URL",
    "PROVIDERS",
    "ChatModels",
    "ModelAuthError",
    "ModelConfig",
    "ModelError",
    "ModelOutputError",
    "ModelUnavailable",
    "bind_tools_cached",
    "build_chat_model",
    "build_chat_models",
    "cached_tool_specs",
    "invoke_model",
    "load_prompt",
    "supports_cache_control",
    "system_message",
    "translate_model_error",
]

DEFAULT_BASE_URL = "https://api.anthropic.com"
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
PROVIDERS = ("anthropic", "openai")
CACHE_CONTROL: Mapping[str, str] = {"type": "ephemeral"}  # 5-minute TTL


# What makes a fallback model worth trying: the primary is overloaded or unreachable.
# A bad key or a malformed request would fail the same way on the fallback.
def _fallback_on() -> tuple[type[BaseException], ...]:
    import anthropic
    import openai

    return (
        anthropic.RateLimitError,
        anthropic.InternalServerError,  # 5xx, including 529 OverloadedError
        anthropic.APIConnectionError,  # including APITimeoutError
        openai.RateLimitError,
        openai.InternalServerError,
        openai.APIConnectionError,
    )


def __getattr__(name: str) -> Any:
    # FALLBACK_ON stays importable as a constant; it is computed on first use (PEP 562).
    if name == "FALLBACK_ON":
        return _fallback_on()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- errors -----------------------------------------------------------------------------------
#
#   ModelError                 the model call failed (not retryable: bad request, unknown model)
#   ├── ModelUnavailable       overloaded / rate limited / 5xx / unreachable / cut-short or
#   │                          undecodable response, after SDK retries (retryable)
#   ├── ModelOutputError       the reply is not a well-formed turn (malformed tool call, a tool
#   │                          call written as text, cut off at max_tokens); nothing of it runs
#   └── ModelAuthError         missing or rejected API key


class ModelError(Exception):
    """A model call failed in a way retrying will not fix."""

    retryable: bool = False


class ModelUnavailable(ModelError):
    """The model is overloaded, rate limited or unreachable; try again later."""

    retryable = True


class ModelAuthError(ModelError):
    """The API key is missing or was rejected."""


class ModelOutputError(ModelError):
    """The model's reply is malformed; it is discarded whole (no tool call of it runs).

    Retryable: another attempt, or the fallback model, may well answer properly.
    """

    retryable = True


# --- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelConfig:
    """How to reach one model. Built by the agent's ``Settings``; nothing here reads the environment.

    ``*_setting`` name the settings (environment variables) an operator changes to fix a
    problem; error messages quote them.
    """

    model: str = "claude-sonnet-4-6"
    api_key: SecretStr | str | None = field(default=None, repr=False)
    base_url: str | None = None  # None: the provider's public API
    timeout_s: float = 60.0
    max_retries: int = 2
    max_tokens: int = 4096
    temperature: float | None = None  # None: the model's default (newer models reject others)
    fallback_model: str | None = None
    provider: str = "anthropic"  # anthropic | openai (any OpenAI-compatible server)
    api_key_setting: str = "ANTHROPIC_API_KEY"
    base_url_setting: str = "ANTHROPIC_BASE_URL"
    model_setting: str = "CHAMBERLAIN_MODEL"

    def __post_init__(self) -> None:
        if self.provider == "openai" and self.api_key_setting == "ANTHROPIC_API_KEY":
            # Built directly (not from Settings) for an OpenAI-compatible server: name its settings.
            for name, value in _OPENAI_SETTING_NAMES.items():
                object.__setattr__(self, name, value)

    def secret(self) -> str:
        """The API key as plain text ('' when unset)."""
        if isinstance(self.api_key, SecretStr):
            return self.api_key.get_secret_value()
        return self.api_key or ""

    @property
    def label(self) -> str:
        """``openai:llama-3.1-8b`` — how routes and the audit name a model."""
        return f"{self.provider}:{self.model}"


# Self-hosted OpenAI-compatible servers (vLLM, Ollama, LM Studio) accept any key; the openai SDK
# insists on one. vLLM's documentation uses this placeholder.
NO_KEY_PLACEHOLDER = "EMPTY"


def build_chat_model(cfg: ModelConfig, *, model: str | None = None) -> BaseChatModel:
    """A chat model for ``cfg`` (or for ``model``, e.g. the fallback, with cfg's settings).

    Raises :class:`ModelAuthError` when Claude has no API key, :class:`ModelError` for an
    unknown provider.
    """
    if cfg.provider == "openai":
        return _build_openai(cfg, model=model)
    if cfg.provider != "anthropic":
        raise ModelError(
            f"Unknown model provider {cfg.provider!r}: set CHAMBERLAIN_MODEL_PROVIDER to one of {', '.join(PROVIDERS)}."
        )
    key = cfg.secret().strip()
    if not key:
        raise ModelAuthError(
            f"No Anthropic API key is configured: set {cfg.api_key_setting} "
            "(or run without one to use the scripted demo model)."
        )
    kwargs: dict[str, Any] = {
        "model": model or cfg.model,
        "api_key": SecretStr(key),
        # Explicit, so langchain-anthropic does not fall back to ANTHROPIC_BASE_URL & co.
        "base_url": cfg.base_url or DEFAULT_BASE_URL,
        "timeout": cfg.timeout_s,
        "max_retries": cfg.max_retries,
        "max_tokens": cfg.max_tokens,
    }
    if cfg.temperature is not None:
        kwargs["temperature"] = cfg.temperature
    from langchain_anthropic import ChatAnthropic

    return ChatAnthropic(**kwargs)


def _build_openai(cfg: ModelConfig, *, model: str | None = None) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    base_url = (cfg.base_url or OPENAI_DEFAULT_BASE_URL).rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ModelError(
            f"{cfg.base_url_setting}={base_url!r} is not an http(s) URL; "
            "set it to the server's OpenAI-compatible base, e.g. http://localhost:8000/v1."
        )
    key = cfg.secret().strip()
    if not key and base_url == OPENAI_DEFAULT_BASE_URL:
        raise ModelAuthError(f"No API key is configured for {base_url}: set {cfg.api_key_setting}.")
    kwargs: dict[str, Any] = {
        "model": model or cfg.model,
        "api_key": SecretStr(key or NO_KEY_PLACEHOLDER),
        "base_url": base_url,  # explicit: never OPENAI_BASE_URL from the environment
        "timeout": cfg.timeout_s,
        "max_retries": cfg.max_retries,
        "max_tokens": cfg.max_tokens,
        # Usage arrives in the last SSE chunk only when asked for (stream_options.include_usage).
        "stream_usage": True,
    }
    if cfg.temperature is not None:
        kwargs["temperature"] = cfg.temperature
    return ChatOpenAI(**kwargs)


def supports_cache_control(model: BaseChatModel) -> bool:
    """Whether ``model`` takes Anthropic ``cache_control`` markers (OpenAI-compatible servers cache
    a repeated prefix on their own, if at all, and may reject unknown keys)."""
    return not _is_openai(model)


def _is_openai(model: Any) -> bool:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:  # pragma: no cover - langchain-openai is a dependency
        return False
    return isinstance(model, ChatOpenAI)


@dataclass(frozen=True)
class ChatModels:
    """A primary chat model and an optional fallback, bound to tools together by :meth:`bind`."""

    primary: BaseChatModel
    fallback: BaseChatModel | None = None

    def bind(
        self, tool_specs: Sequence[Mapping[str, Any]], *, tool_choice: str | None = None
    ) -> Runnable[LanguageModelInput, BaseMessage]:
        return bind_tools_cached(self.primary, tool_specs, fallback=self.fallback, tool_choice=tool_choice)


def build_chat_models(cfg: ModelConfig) -> ChatModels:
    """The primary model and, if ``cfg.fallback_model`` is set, the fallback."""
    primary = build_chat_model(cfg)
    fallback = build_chat_model(cfg, model=cfg.fallback_model) if cfg.fallback_model else None
    return ChatModels(primary=primary, fallback=fallback)


# --- prompt caching ---------------------------------------------------------------------------


def cached_tool_specs(tool_specs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copies of Anthropic-format tool specs with ``cache_control`` on the last one only.

    Each spec needs ``name``, ``description`` and ``input_schema`` (Anthropic's tool format).
    """
    specs: list[dict[str, Any]] = []
    for index, spec in enumerate(tool_specs):
        missing = [k for k in ("name", "description", "input_schema") if k not in spec]
        if missing:
            raise ValueError(
                f"tool spec #{index} ({spec.get('name', '?')!r}) is missing {', '.join(missing)}; "
                "expected Anthropic's format {name, description, input_schema}"
            )
        copy = {k: v for k, v in spec.items() if k != "cache_control"}
        specs.append(copy)
    if specs:
        specs[-1]["cache_control"] = dict(CACHE_CONTROL)
    return specs


def bind_tools_cached(
    model: BaseChatModel,
    tool_specs: Sequence[Mapping[str, Any]],
    *,
    fallback: BaseChatModel | None = None,
    tool_choice: str | None = None,
) -> Runnable[LanguageModelInput, BaseMessage]:
    """Bind tools (prefix-cached at the last tool) to ``model``, then attach ``fallback``.

    The order matters: ``with_fallbacks`` returns a runnable that can no longer bind tools,
    so the fallback is bound to the same tool specs first.
    """
    specs = cached_tool_specs(tool_specs)

    def bind(chat: BaseChatModel) -> Runnable[LanguageModelInput, BaseMessage]:
        if not specs:
            return chat
        kwargs: dict[str, Any] = {"tool_choice": tool_choice} if tool_choice else {}
        if _is_openai(chat):
            plain = [{k: v for k, v in spec.items() if k != "cache_control"} for spec in specs]
            return chat.bind_tools(plain, **kwargs)
        return chat.bind_tools(specs, **kwargs)

    bound = bind(model)
    if fallback is None:
        return bound
    return bound.with_fallbacks([bind(fallback)], exceptions_to_handle=_fallback_on())


def system_message(text: str) -> SystemMessage:
    """The system prompt as one text block marked for prompt caching."""
    return SystemMessage(content=[{"type": "text", "text": text, "cache_control": dict(CACHE_CONTROL)}])


# --- prompts ----------------------------------------------------------------------------------

_PROMPT_NAME = re.compile(r"^[a-z0-9_][a-z0-9_-]*$")


def load_prompt(name: str) -> str:
    """The text of ``agent/models/prompts/NAME.md`` (package data)."""
    if not _PROMPT_NAME.match(name):
        raise ValueError(f"invalid prompt name {name!r}: use lower-case letters, digits, _ and -")
    folder = resources.files("agent.models").joinpath("prompts")
    path = folder.joinpath(f"{name}.md")
    if not path.is_file():
        known = sorted(p.name[:-3] for p in folder.iterdir() if p.name.endswith(".md"))
        raise FileNotFoundError(f"no prompt {name!r} in agent/models/prompts/ (available: {', '.join(known)})")
    return path.read_text(encoding="utf-8")


# --- calling ----------------------------------------------------------------------------------


def _api_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and error.get("message"):
            return f"{error.get('type', 'error')}: {error['message']}"
    return exc.message


_TRANSIENT_ERROR_TYPES = frozenset({"overloaded_error", "rate_limit_error", "api_error", "timeout_error"})


def _error_type(exc: anthropic.APIStatusError) -> str | None:
    body = exc.body
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("type"), str):
            return str(error["type"])
    return None


def translate_model_error(exc: BaseException, cfg: ModelConfig | None = None) -> ModelError | None:
    """Our error for an SDK / transport / decoding exception, or None if it is not one we translate.

    ``cfg`` (the model that was called) lets messages name the setting to fix.
    """
    if isinstance(exc, ModelError):
        return exc
    # An SDK's exception exists only once the SDK is imported: no import just to rule it out.
    openai = sys.modules.get("openai")
    if openai is not None and isinstance(exc, openai.OpenAIError):
        return _translate_openai(exc, cfg or ModelConfig(provider="openai"))
    anthropic = sys.modules.get("anthropic")
    if anthropic is None:
        return _translate_transport(exc)
    key_setting = cfg.api_key_setting if cfg else "ANTHROPIC_API_KEY"
    if isinstance(exc, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        return ModelAuthError(
            f"Anthropic rejected the API key (HTTP {exc.status_code}, {_api_message(exc)}): "
            f"set {key_setting} to a valid key."
        )
    if isinstance(exc, anthropic.CredentialsError):
        return ModelAuthError(f"Anthropic credentials are unusable ({exc}): set {key_setting}.")
    if isinstance(exc, anthropic.APITimeoutError):
        return ModelUnavailable("Claude did not answer in time (retries exhausted); try again shortly.")
    if isinstance(exc, anthropic.APIConnectionError):
        return ModelUnavailable(f"Cannot reach the Anthropic API ({exc}); try again shortly.")
    if isinstance(exc, anthropic.RateLimitError | anthropic.InternalServerError):
        return ModelUnavailable(
            f"Claude is unavailable (HTTP {exc.status_code}, {_api_message(exc)}) after retries; try again shortly."
        )
    if isinstance(exc, anthropic.APIStatusError) and _error_type(exc) in _TRANSIENT_ERROR_TYPES:
        # An error event inside a 200 stream: the status says nothing, the error type does.
        return ModelUnavailable(f"Claude is unavailable ({_api_message(exc)}); try again shortly.")
    if isinstance(exc, anthropic.NotFoundError) and cfg is not None:
        return ModelError(
            f"Anthropic does not know model {cfg.model!r} (HTTP 404, {_api_message(exc)}): set {cfg.model_setting}."
        )
    if isinstance(exc, anthropic.APIStatusError):
        return ModelError(f"Claude rejected the request (HTTP {exc.status_code}, {_api_message(exc)}).")
    if isinstance(exc, anthropic.APIResponseValidationError):
        return ModelUnavailable(f"Claude's response could not be read ({exc}); try again shortly.")
    return _translate_transport(exc)


_OPENAI_SETTING_NAMES = {
    "api_key_setting": "CHAMBERLAIN_MODEL_API_KEY",
    "base_url_setting": "CHAMBERLAIN_MODEL_BASE_URL",
    "model_setting": "CHAMBERLAIN_MODEL",
}


def _translate_transport(exc: BaseException) -> ModelError | None:
    """Failures below the SDKs: both let some of these escape (a stream cut mid-way raises
    httpx's error; a complete 200 whose JSON body is cut short raises ``json.JSONDecodeError``)."""
    if isinstance(exc, httpx.TimeoutException):
        return ModelUnavailable("The model did not answer in time; try again shortly.")
    if isinstance(exc, httpx.TransportError | httpx.DecodingError | httpx.StreamError):
        return ModelUnavailable(f"The connection to the model broke ({type(exc).__name__}: {exc}); try again shortly.")
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return ModelUnavailable(
            f"The model's response was cut short or is not valid JSON ({type(exc).__name__}); try again shortly."
        )
    return None


_CONTEXT_HINTS = ("context length", "context_length", "maximum context", "too many tokens", "prompt is too long")
_NO_TOOLS_HINTS = ("tool", "function")


def _openai_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping) and error.get("message"):
            return str(error["message"])
        if isinstance(body.get("detail"), str):
            return str(body["detail"])
    return exc.message


def _translate_openai(exc: openai.OpenAIError, cfg: ModelConfig) -> ModelError:
    import openai

    where = cfg.base_url or OPENAI_DEFAULT_BASE_URL
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ModelAuthError(
            f"{where} rejected the API key (HTTP {exc.status_code}, {_openai_message(exc)}): "
            f"set {cfg.api_key_setting} to a valid key."
        )
    if isinstance(exc, openai.APITimeoutError):
        return ModelUnavailable(f"{cfg.model} did not answer in time (retries exhausted); try again shortly.")
    if isinstance(exc, openai.APIConnectionError):
        return ModelUnavailable(
            f"Cannot reach the model server at {where} ({exc}); check {cfg.base_url_setting} or try again shortly."
        )
    if isinstance(exc, openai.RateLimitError | openai.InternalServerError):
        return ModelUnavailable(
            f"{cfg.model} is unavailable (HTTP {exc.status_code}, {_openai_message(exc)}) after retries; "
            "try again shortly."
        )
    if isinstance(exc, openai.NotFoundError):
        return ModelError(
            f"{where} has no model {cfg.model!r} or no /chat/completions endpoint (HTTP 404, "
            f"{_openai_message(exc)}): set {cfg.model_setting} to a served model and {cfg.base_url_setting} "
            "to the server's /v1 base."
        )
    if isinstance(exc, openai.APIStatusError):
        text = _openai_message(exc)
        low = text.lower()
        if exc.status_code >= 500:
            return ModelUnavailable(f"{cfg.model} is unavailable (HTTP {exc.status_code}, {text}); try again shortly.")
        if any(h in low for h in _CONTEXT_HINTS):
            return ModelError(
                f"The conversation is longer than {cfg.model}'s context window ({text}): start a new conversation "
                f"or set {cfg.model_setting} to a model with a longer context."
            )
        if any(h in low for h in _NO_TOOLS_HINTS) and ("support" in low or "not allowed" in low):
            return ModelError(
                f"{cfg.model} at {where} does not accept tool calls ({text}): set {cfg.model_setting} to a "
                "tool-calling model or enable tool calling on the server (vLLM: --enable-auto-tool-choice)."
            )
        return ModelError(f"{cfg.model} rejected the request (HTTP {exc.status_code}, {text}).")
    if isinstance(exc, openai.APIResponseValidationError):
        return ModelUnavailable(f"{cfg.model}'s response could not be read ({exc}); try again shortly.")
    return ModelUnavailable(f"The model call failed ({type(exc).__name__}: {exc}); try again shortly.")


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
