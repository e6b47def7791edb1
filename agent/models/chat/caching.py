"""Prompt caching: ``cache_control`` markers on the system prompt and the last tool spec (Anthropic
only), and the per-turn context block that follows the cached part of a request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import SystemMessage

from agent.models.chat.openai_adapter import is_openai

CACHE_CONTROL: Mapping[str, str] = {"type": "ephemeral"}  # 5-minute TTL

TURN_CONTEXT_OPEN = "<turn-context>"
TURN_CONTEXT_CLOSE = "</turn-context>"
"""Tags around what changes every turn (who asks, the date, the untrusted-data boundary): on a
cached request it goes *after* the cached prefix, at the end of the newest message, so that it
never invalidates the history before it (agent/graph/planner.py)."""


def turn_context_block(text: str) -> dict[str, str]:
    """``text`` as the last text block of a request: the per-turn context, never cached."""
    return {"type": "text", "text": f"{TURN_CONTEXT_OPEN}\n{text}\n{TURN_CONTEXT_CLOSE}"}


def turn_context_of(text: str) -> str | None:
    """The context inside a :func:`turn_context_block` text, or None for any other text."""
    if text.startswith(TURN_CONTEXT_OPEN) and text.endswith(TURN_CONTEXT_CLOSE):
        return text[len(TURN_CONTEXT_OPEN) : -len(TURN_CONTEXT_CLOSE)].strip("\n")
    return None


def supports_cache_control(model: BaseChatModel) -> bool:
    """Whether ``model`` takes Anthropic ``cache_control`` markers (OpenAI-compatible servers cache
    a repeated prefix on their own, if at all, and may reject unknown keys)."""
    return not is_openai(model)


def cached_tool_specs(tool_specs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copies of Anthropic-format tool specs with ``cache_control`` on the last one that is not
    deferred (``defer_loading``: out of the prompt, so not in the cached prefix either).

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
    shown = [s for s in specs if not s.get("defer_loading")]
    if shown:
        shown[-1]["cache_control"] = dict(CACHE_CONTROL)
    return specs


def system_message(text: str) -> SystemMessage:
    """The system prompt as one text block marked for prompt caching."""
    return SystemMessage(content=[{"type": "text", "text": text, "cache_control": dict(CACHE_CONTROL)}])
