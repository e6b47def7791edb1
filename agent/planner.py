"""The model call the graph makes: cached static system prompt + per-turn context + tools."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage

from agent.model import (
    CACHE_CONTROL,
    ModelError,
    ModelUnavailable,
    bind_tools_cached,
    invoke_model,
    supports_cache_control,
)
from agent.model_routing import ModelRoute, ModelRoutes, task_kind_for
from policies.limits import CircuitBreaker
from policies.pii import redact

ROUTE_KEY = "chamberlain_route"
"""``response_metadata`` key of the reply: the route that answered, the task kind, and every
switch to a fallback with its reason (the graph audits them)."""


class ChatPlanner:
    """Calls a LangChain chat model (Claude, an OpenAI-compatible server, or the scripted model)
    with our prompt layout, routed by task kind with fallbacks.

    The static system prompt is one text block marked for prompt caching; the per-turn context
    (who is asking, today's date, the untrusted-data boundary) follows it uncached, so the
    cached prefix (tools + static prompt) stays identical across turns and users of a role.
    OpenAI-compatible servers get the same order as plain text (they cache a repeated prefix
    automatically, if at all).
    """

    def __init__(
        self,
        model: BaseChatModel,
        static_prompt: str,
        *,
        fallback: BaseChatModel | None = None,
        breaker: CircuitBreaker | None = None,
        redact_pii: bool = False,
        routes: ModelRoutes | None = None,
        family_of: Callable[[str], str] | None = None,
    ) -> None:
        self.model = model
        self.fallback = fallback
        self.routes = routes or ModelRoutes.single(model, fallback)
        self.family_of = family_of
        self.static_prompt = static_prompt
        # Shared by every conversation in the process: when the model API keeps failing,
        # stop calling it for a while and say so, instead of piling up retries.
        self.breaker = breaker or CircuitBreaker()
        # Optionally keep PII (emails, phones, cards, national ids, IBANs) from ever leaving for
        # the external model API; the model then sees placeholders like [REDACTED:email].
        self.redact_pii = redact_pii

    def __call__(self, *, system: str, messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]]) -> AIMessage:
        permit = self.breaker.allow()
        if not permit.allowed:
            raise ModelUnavailable(permit.message)
        outgoing = [_redacted(m) for m in messages] if self.redact_pii else list(messages)
        kind = task_kind_for(outgoing, self.family_of)
        chain = self.routes.chain(kind)
        names = [str(t.get("name", "")) for t in tools]
        switches: list[dict[str, str]] = []
        for index, route in enumerate(chain):
            try:
                reply = self._call(route, system, outgoing, tools, names)
            except ModelError as exc:
                if not exc.retryable or index == len(chain) - 1:
                    if exc.retryable:
                        self.breaker.record_failure()
                    if switches:
                        exc.switches = switches  # type: ignore[attr-defined]
                    raise
                switches.append({"from": route.name, "to": chain[index + 1].name, "reason": str(exc)})
                continue
            self.breaker.record_success()
            reply.response_metadata[ROUTE_KEY] = {"route": route.name, "task_kind": kind, "switches": switches}
            return reply
        raise AssertionError("unreachable: a route chain is never empty")

    def _call(
        self,
        route: ModelRoute,
        system: str,
        messages: Sequence[BaseMessage],
        tools: Sequence[dict[str, Any]],
        names: Sequence[str],
    ) -> AIMessage:
        bound = bind_tools_cached(route.chat, tools)
        context = f"{system}\nYou are running as the model {route.name}."
        head: SystemMessage
        if supports_cache_control(route.chat):
            head = SystemMessage(
                content=[
                    {"type": "text", "text": self.static_prompt, "cache_control": dict(CACHE_CONTROL)},
                    {"type": "text", "text": context},
                ]
            )
        else:
            head = SystemMessage(content=f"{self.static_prompt}\n\n{context}")
        return invoke_model(bound, [head, *messages], model_config=route.config, tool_names=names)


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
