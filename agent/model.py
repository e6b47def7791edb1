"""Access to Claude through langchain-anthropic: configuration, prompt caching, errors.

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

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import anthropic
from langchain_anthropic import ChatAnthropic
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    SystemMessage,
    message_chunk_to_message,
)
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import SecretStr

from agent.usage import LATENCY_KEY

__all__ = [
    "CACHE_CONTROL",
    "DEFAULT_BASE_URL",
    "FALLBACK_ON",
    "ChatModels",
    "ModelAuthError",
    "ModelConfig",
    "ModelError",
    "ModelUnavailable",
    "bind_tools_cached",
    "build_chat_model",
    "build_chat_models",
    "cached_tool_specs",
    "invoke_model",
    "load_prompt",
    "system_message",
    "translate_model_error",
]

DEFAULT_BASE_URL = "https://api.anthropic.com"
CACHE_CONTROL: Mapping[str, str] = {"type": "ephemeral"}  # 5-minute TTL

# What makes a fallback model worth trying: the primary is overloaded or unreachable.
# A bad key or a malformed request would fail the same way on the fallback.
FALLBACK_ON: tuple[type[BaseException], ...] = (
    anthropic.RateLimitError,
    anthropic.InternalServerError,  # 5xx, including 529 OverloadedError
    anthropic.APIConnectionError,  # including APITimeoutError
)


# --- errors -----------------------------------------------------------------------------------
#
#   ModelError                 the model call failed (not retryable: bad request, unknown model)
#   ├── ModelUnavailable       overloaded / rate limited / 5xx / unreachable, after SDK retries
#   └── ModelAuthError         missing or rejected API key


class ModelError(Exception):
    """A model call failed in a way retrying will not fix."""

    retryable: bool = False


class ModelUnavailable(ModelError):
    """The model is overloaded, rate limited or unreachable; try again later."""

    retryable = True


class ModelAuthError(ModelError):
    """The Anthropic API key is missing or was rejected."""


# --- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelConfig:
    """How to reach Claude. Built by the agent's ``Settings``; nothing here reads the environment."""

    model: str = "claude-sonnet-4-6"
    api_key: SecretStr | str | None = field(default=None, repr=False)
    base_url: str | None = None  # None: the public Anthropic API
    timeout_s: float = 60.0
    max_retries: int = 2
    max_tokens: int = 4096
    temperature: float | None = None  # None: the model's default (newer models reject others)
    fallback_model: str | None = None

    def secret(self) -> str:
        """The API key as plain text ('' when unset)."""
        if isinstance(self.api_key, SecretStr):
            return self.api_key.get_secret_value()
        return self.api_key or ""


def build_chat_model(cfg: ModelConfig, *, model: str | None = None) -> ChatAnthropic:
    """A ``ChatAnthropic`` for ``cfg`` (or for ``model``, e.g. the fallback, with cfg's settings).

    Raises :class:`ModelAuthError` when no API key is configured.
    """
    key = cfg.secret().strip()
    if not key:
        raise ModelAuthError(
            "No Anthropic API key is configured: set ANTHROPIC_API_KEY "
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
    return ChatAnthropic(**kwargs)


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
        return chat.bind_tools(specs, **kwargs)

    bound = bind(model)
    if fallback is None:
        return bound
    return bound.with_fallbacks([bind(fallback)], exceptions_to_handle=FALLBACK_ON)


def system_message(text: str) -> SystemMessage:
    """The system prompt as one text block marked for prompt caching."""
    return SystemMessage(content=[{"type": "text", "text": text, "cache_control": dict(CACHE_CONTROL)}])


# --- prompts ----------------------------------------------------------------------------------

_PROMPT_NAME = re.compile(r"^[a-z0-9_][a-z0-9_-]*$")


def load_prompt(name: str) -> str:
    """The text of ``agent/prompts/NAME.md`` (package data)."""
    if not _PROMPT_NAME.match(name):
        raise ValueError(f"invalid prompt name {name!r}: use lower-case letters, digits, _ and -")
    folder = resources.files("agent").joinpath("prompts")
    path = folder.joinpath(f"{name}.md")
    if not path.is_file():
        known = sorted(p.name[:-3] for p in folder.iterdir() if p.name.endswith(".md"))
        raise FileNotFoundError(f"no prompt {name!r} in agent/prompts/ (available: {', '.join(known)})")
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


def translate_model_error(exc: BaseException) -> ModelError | None:
    """Our error for an anthropic SDK exception, or None if it is not one we translate."""
    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        return ModelAuthError(
            f"Anthropic rejected the API key (HTTP {exc.status_code}, {_api_message(exc)}): "
            "set ANTHROPIC_API_KEY to a valid key."
        )
    if isinstance(exc, anthropic.CredentialsError):
        return ModelAuthError(f"Anthropic credentials are unusable ({exc}): set ANTHROPIC_API_KEY.")
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
    if isinstance(exc, anthropic.APIStatusError):
        return ModelError(f"Claude rejected the request (HTTP {exc.status_code}, {_api_message(exc)}).")
    return None


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
) -> AIMessage:
    """Call the (tool-bound) model and return its reply, with our errors.

    With ``on_text`` the reply is streamed and each text delta is passed to it as it arrives;
    the returned message is the same either way (tool calls intact). The call's wall time is
    stored in ``response_metadata["latency_ms"]`` for :func:`agent.usage.usage_from_message`.
    """
    prompt = list(messages)
    started = time.perf_counter()
    try:
        if on_text is None:
            reply = bound.invoke(prompt, config=config)
        else:
            merged: AIMessageChunk | None = None
            for chunk in bound.stream(prompt, config=config):
                if not isinstance(chunk, AIMessageChunk):
                    raise TypeError(f"expected AIMessageChunk from the model, got {type(chunk).__name__}")
                text = _text_of(chunk)
                if text:
                    on_text(text)
                merged = chunk if merged is None else merged + chunk
            if merged is None:
                raise ModelError("the model stream ended without a message")
            reply = message_chunk_to_message(merged)
    except Exception as exc:
        translated = translate_model_error(exc)
        if translated is None or translated is exc:
            raise
        raise translated from exc
    if not isinstance(reply, AIMessage):
        raise TypeError(f"expected an AIMessage from the model, got {type(reply).__name__}")
    reply.response_metadata[LATENCY_KEY] = round((time.perf_counter() - started) * 1000, 1)
    return reply
