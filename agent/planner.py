"""The model call the graph makes: cached static system prompt + per-turn context + tools."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage

from agent.model import CACHE_CONTROL, ModelUnavailable, bind_tools_cached, invoke_model
from policies.limits import CircuitBreaker
from policies.pii import redact


class ChatPlanner:
    """Calls a LangChain chat model (Claude, or the scripted model) with our prompt layout.

    The static system prompt is one text block marked for prompt caching; the per-turn context
    (who is asking, today's date, the untrusted-data boundary) follows it uncached, so the
    cached prefix (tools + static prompt) stays identical across turns and users of a role.
    """

    def __init__(
        self,
        model: BaseChatModel,
        static_prompt: str,
        *,
        fallback: BaseChatModel | None = None,
        breaker: CircuitBreaker | None = None,
        redact_pii: bool = False,
    ) -> None:
        self.model = model
        self.fallback = fallback
        self.static_prompt = static_prompt
        # Shared by every conversation in the process: when the model API keeps failing,
        # stop calling it for a while and say so, instead of piling up retries.
        self.breaker = breaker or CircuitBreaker()
        # Optionally keep PII (emails, phones, cards, national ids, IBANs) from ever leaving for
        # the external model API; the model then sees placeholders like [REDACTED:email].
        self.redact_pii = redact_pii

    def __call__(self, *, system: str, messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]]) -> AIMessage:
        bound = bind_tools_cached(self.model, tools, fallback=self.fallback)
        head = SystemMessage(
            content=[
                {"type": "text", "text": self.static_prompt, "cache_control": dict(CACHE_CONTROL)},
                {"type": "text", "text": system},
            ]
        )
        permit = self.breaker.allow()
        if not permit.allowed:
            raise ModelUnavailable(permit.message)
        outgoing = [_redacted(m) for m in messages] if self.redact_pii else list(messages)
        try:
            reply = invoke_model(bound, [head, *outgoing])
        except ModelUnavailable:
            self.breaker.record_failure()
            raise
        self.breaker.record_success()
        return reply


def _redacted(message: BaseMessage) -> BaseMessage:
    if isinstance(message, AIMessage):
        return message  # the model's own words (and tool-call ids) go back unchanged
    content = message.content
    if isinstance(content, str):
        return message.model_copy(update={"content": redact(content)})
    blocks = [
        {**b, "text": redact(b["text"])} if isinstance(b, dict) and isinstance(b.get("text"), str) else b
        for b in content
    ]
    return message.model_copy(update={"content": blocks})


__all__ = ["ChatPlanner"]
