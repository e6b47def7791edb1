"""The primary/fallback model pair, and binding tools to both before the fallback is attached."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

from agent.models.chat.caching import cached_tool_specs
from agent.models.chat.config import ModelConfig
from agent.models.chat.openai_adapter import is_openai
from agent.models.chat.providers import build_chat_model


# What makes a fallback model worth trying: the primary is overloaded or unreachable.
# A bad key or a malformed request would fail the same way on the fallback.
def fallback_on() -> tuple[type[BaseException], ...]:
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
        if is_openai(chat):
            plain = [{k: v for k, v in spec.items() if k != "cache_control"} for spec in specs]
            return chat.bind_tools(plain, **kwargs)
        return chat.bind_tools(specs, **kwargs)

    bound = bind(model)
    if fallback is None:
        return bound
    return bound.with_fallbacks([bind(fallback)], exceptions_to_handle=fallback_on())
