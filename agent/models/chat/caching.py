"""Prompt caching: ``cache_control`` markers on the system prompt and the last tool spec (Anthropic only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import SystemMessage

from agent.models.chat.openai_adapter import is_openai

CACHE_CONTROL: Mapping[str, str] = {"type": "ephemeral"}  # 5-minute TTL


def supports_cache_control(model: BaseChatModel) -> bool:
    """Whether ``model`` takes Anthropic ``cache_control`` markers (OpenAI-compatible servers cache
    a repeated prefix on their own, if at all, and may reject unknown keys)."""
    return not is_openai(model)


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


def system_message(text: str) -> SystemMessage:
    """The system prompt as one text block marked for prompt caching."""
    return SystemMessage(content=[{"type": "text", "text": text, "cache_control": dict(CACHE_CONTROL)}])
