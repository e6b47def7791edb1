"""Chat models: Claude (langchain-anthropic) or any OpenAI-compatible server (langchain-openai).

Providers: ``anthropic`` (the Messages API) and ``openai`` (Chat Completions: OpenAI, Azure
OpenAI through a gateway, vLLM, Ollama, LM Studio, LiteLLM). Both go through the same
:func:`invoke_model`, which maps every transport and decoding failure of either SDK to
:class:`ModelUnavailable` and parses tool calls strictly (:class:`ModelOutputError`).

The system prompt and the tool schemas form the stable prefix of every request, so both carry
an ``ephemeral`` ``cache_control`` marker (Anthropic caches everything up to the last marker);
the planner adds a moving marker on the history and puts the per-turn context after it
(:func:`turn_context_block`).
Retries of 429 / 5xx / 529 are left to the anthropic SDK (``max_retries``, honouring
``retry-after``); when they are exhausted, :func:`invoke_model` raises :class:`ModelUnavailable`.
A fallback model, if configured, is attached *after* tools are bound so it gets the same tools::

    models = build_chat_models(cfg)
    bound = models.bind(tool_specs)
    reply = invoke_model(bound, [system_message(load_prompt("system")), *history])
"""

from __future__ import annotations

from typing import Any

from agent.models.chat.caching import (
    CACHE_CONTROL,
    TURN_CONTEXT_CLOSE,
    TURN_CONTEXT_OPEN,
    cached_tool_specs,
    supports_cache_control,
    system_message,
    turn_context_block,
    turn_context_of,
)
from agent.models.chat.calling import invoke_model
from agent.models.chat.config import DEFAULT_BASE_URL, PROVIDERS, ModelConfig
from agent.models.chat.errors import (
    ModelAuthError,
    ModelError,
    ModelOutputError,
    ModelUnavailable,
)
from agent.models.chat.fallback import ChatModels, bind_tools_cached, build_chat_models, fallback_on
from agent.models.chat.prompts import load_prompt
from agent.models.chat.providers import build_chat_model, translate_model_error

# The provider SDKs (anthropic, openai, langchain-anthropic: ~2-3 s to import) load when a model
# is built or called, not with this module: commands that never call a model (approve without a
# key, resume, serve while it starts) do not pay for them.

__all__ = [
    "CACHE_CONTROL",
    "DEFAULT_BASE_URL",
    "PROVIDERS",
    "TURN_CONTEXT_CLOSE",
    "TURN_CONTEXT_OPEN",
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
    "turn_context_block",
    "turn_context_of",
]


def __getattr__(name: str) -> Any:
    # FALLBACK_ON stays importable as a constant; it is computed on first use (PEP 562).
    if name == "FALLBACK_ON":
        return fallback_on()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
