"""The model call the graph makes: tools + static system prompt (cached), then the history, each
turn's context kept in it (cached up to a moving breakpoint)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from agent.graph.state import TURN_CONTEXT_KEY
from agent.graph.tool_menu import DEFER_LOADING, LOAD_TOOLS, STALE_RESULT_CHARS, ToolMenu, load_tools_text
from agent.models.chat import (
    CACHE_CONTROL,
    ModelError,
    ModelUnavailable,
    bind_tools_cached,
    invoke_model,
    supports_cache_control,
    system_message,
    turn_context_block,
)
from agent.models.routing import ModelRoute, ModelRoutes, task_kind_for
from policies.limits import CircuitBreaker
from policies.pii import redact

ROUTE_KEY = "chamberlain_route"
"""``response_metadata`` key of the reply: the route that answered, the task kind, and every
switch to a fallback with its reason (the graph audits them)."""


class ChatPlanner:
    """Calls a LangChain chat model (Claude, an OpenAI-compatible server, or the scripted model)
    with our prompt layout, routed by task kind with fallbacks.

    For Claude the static system prompt is one text block marked for prompt caching, the history
    follows with a breakpoint that moves to the newest message on every call, and each turn's
    context (who is asking, today's date, the untrusted-data boundary) ends the person's message
    that opened the turn, where it stays (:func:`cache_layout`): each call reads the previous
    call's whole prompt from the cache.
    Other models get the context right after the static prompt in the system message
    (OpenAI-compatible servers as plain text: they cache a repeated prefix automatically, if at
    all).
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
        history_budget_tokens: int | None = 8000,
    ) -> None:
        self.model = model
        self.fallback = fallback
        self.routes = routes or ModelRoutes.single(model, fallback)
        self.family_of = family_of
        # Past this many (estimated) tokens of history, tool results of earlier turns are replaced
        # by a one-line stub, oldest first; the current turn is never touched.
        self.history_budget_tokens = history_budget_tokens
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
        if self.history_budget_tokens is not None:
            outgoing = compact_history(outgoing, self.history_budget_tokens)
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
        model_line = f"You are running as the model {route.name}."
        context = f"{system}\n{model_line}"
        head: SystemMessage
        if _is_anthropic(route.chat):
            # The model's name goes with the static prompt: a prompt cache is per model anyway.
            head = system_message(f"{self.static_prompt}\n\n{model_line}")
            messages = cache_layout(with_tool_references(messages, tools), system)
        else:
            # No deferred loading there: the tools shown first plus those loaded since.
            tools = loaded_tools(tools)
            names = [str(t.get("name", "")) for t in tools]
            if supports_cache_control(route.chat):
                head = SystemMessage(
                    content=[
                        {"type": "text", "text": self.static_prompt, "cache_control": dict(CACHE_CONTROL)},
                        {"type": "text", "text": context},
                    ]
                )
            else:
                head = SystemMessage(content=f"{self.static_prompt}\n\n{context}")
        # The specs arrive compact (agent/graph/tool_menu.py: computed once per tool).
        bound = bind_tools_cached(route.chat, tools)
        return invoke_model(bound, [head, *messages], model_config=route.config, tool_names=names)


def cache_layout(messages: Sequence[BaseMessage], context: str) -> list[BaseMessage]:
    """The history as sent to Claude: every message as content blocks, each turn's context at
    the end of the person's message that opened the turn, and cache breakpoints on the newest
    message and on the newest message of the previous call.

    Anthropic's prefix runs tools → system → messages and a changed byte invalidates everything
    after it, so what changes from turn to turn (who asks, the date, the untrusted-data boundary)
    is never in the system prompt: it sits in the turn it belongs to, as a ``<turn-context>``
    block, and stays there, the same bytes, for the rest of the thread (the graph keeps it with
    the message, ``TURN_CONTEXT_KEY``). ``context`` is the current turn's, for a newest message
    that has none kept. Call n+1 then finds call n's whole prompt in the cache, the context
    included, and writes only what was added since. The breakpoint on the previous call's newest
    message keeps that read working when a call adds more blocks than the 20 that Anthropic looks
    back from a breakpoint (many parallel tool results). With the tools and the system prompt
    that makes 4 breakpoints, Anthropic's maximum."""
    # Every message as content blocks: a marked message must differ from its unmarked self only
    # by the marker, or the prefix it ends would never match the cache.
    out = [_as_blocks(m) for m in messages]
    opener = max((i for i, m in enumerate(out) if isinstance(m, HumanMessage)), default=None)
    for i, m in enumerate(out):
        if not isinstance(m, HumanMessage):
            continue
        kept = m.additional_kwargs.get(TURN_CONTEXT_KEY)
        text = kept if isinstance(kept, str) and kept else (context if i == opener else None)
        if text:
            out[i] = m.model_copy(update={"content": [*_text_of(m.content), turn_context_block(text)]})
    if opener is None:  # no message from the person at all: the context ends the request
        out.append(HumanMessage(content=[turn_context_block(context)]))
    marks = {len(out) - 1}
    last_ai = max((i for i, m in enumerate(out) if isinstance(m, AIMessage)), default=None)
    if last_ai is not None and last_ai > 0:
        marks.add(last_ai - 1)
    for i in marks:
        out[i] = _cache_marked(out[i])
    return out


def loaded_tools(tools: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``tools`` for a model without deferred loading: the deferred ones only once loaded
    (:class:`~agent.graph.tool_menu.ToolMenu`), without the flag."""
    loaded = tools.loaded if isinstance(tools, ToolMenu) else set()
    return [
        {k: v for k, v in t.items() if k != DEFER_LOADING} if t.get(DEFER_LOADING) else t
        for t in tools
        if not t.get(DEFER_LOADING) or t.get("name") in loaded
    ]


def with_tool_references(messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]]) -> list[BaseMessage]:
    """The history as sent to Claude, with the deferred tools loaded where the thread loaded
    them: ``tool_reference`` blocks after the text of the ``load_tools`` result that loaded
    them; for families cued by a later message (or a deferred tool called anyway, e.g. by
    another model), a ``load_tools`` call and its result right after that message (right
    before that call), as if the model had loaded them there.

    Anthropic expands a referenced definition inline, where the reference sits, so the tools
    array and everything before stay the same bytes and are read from the cache. The same
    thread always gives the same messages (ids derived from the message's position), so each
    call's prompt is the previous one's plus what was added."""
    if not isinstance(tools, ToolMenu) or not (tools.in_result or tools.after_message):
        return list(messages)
    out: list[BaseMessage] = []
    for index, m in enumerate(messages):
        if isinstance(m, ToolMessage) and (names := tools.in_result.get(m.tool_call_id)):
            m = m.model_copy(update={"content": [*_text_of(m.content), *_references(names)]})
        out.append(m)
        if index in tools.after_message:
            cued = tools.after_message[index]
            call_id = f"toolu_cued_{index}"
            call = {"name": LOAD_TOOLS, "args": {"families": list(cued)}, "id": call_id}
            out.append(AIMessage(content="", tool_calls=[call]))
            refs = _references([n for names in cued.values() for n in names])
            content: list[str | dict[Any, Any]] = [{"type": "text", "text": load_tools_text(cued)}, *refs]
            out.append(ToolMessage(content=content, tool_call_id=call_id, name=LOAD_TOOLS))
    return out


def _references(names: Sequence[str]) -> list[dict[str, str]]:
    return [{"type": "tool_reference", "tool_name": n} for n in names]


def _text_of(content: Any) -> list[Any]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _as_blocks(message: BaseMessage) -> BaseMessage:
    if isinstance(message, AIMessage) or not isinstance(message.content, str):
        return message
    return message.model_copy(update={"content": [{"type": "text", "text": message.content}]})


def _cache_marked(message: BaseMessage) -> BaseMessage:
    if isinstance(message, AIMessage):
        return message  # an assistant turn is never last in a prompt
    content = message.content
    blocks: list[Any] = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    if not blocks or not isinstance(blocks[-1], dict):
        return message
    blocks[-1] = {**blocks[-1], "cache_control": dict(CACHE_CONTROL)}
    return message.model_copy(update={"content": blocks})


_STUB = (
    "[{name} result from an earlier turn ({chars:,} characters) left out to save context: "
    'call read_more with handle="{handle}" and offset=0 to see it again.]'
)


def compact_history(messages: Sequence[BaseMessage], budget_tokens: int) -> list[BaseMessage]:
    """``messages`` as sent to the model: tool results of earlier turns longer than
    ``STALE_RESULT_CHARS`` replaced by a stub with a ``read_more`` handle (they were working
    material for the turn that fetched them; its answer carries what mattered), then smaller
    ones too, oldest first, while the history is over ``budget_tokens`` (~4 characters a token).
    The current turn (from the last user message on) is kept whole: the model is working with
    it. Nothing here changes the checkpointed thread, so ``read_more`` can return the original."""
    out = list(messages)
    sizes = [len(str(m.content)) for m in out]
    total = sum(sizes)
    last_user = max((i for i, m in enumerate(out) if isinstance(m, HumanMessage)), default=len(out))

    def stub(i: int) -> None:
        nonlocal total
        message = out[i]
        assert isinstance(message, ToolMessage)
        text = _STUB.format(chars=sizes[i], name=message.name or "a tool", handle=message.tool_call_id)
        out[i] = message.model_copy(update={"content": text, "artifact": None})
        total += len(text) - sizes[i]

    for i in range(last_user):
        if isinstance(out[i], ToolMessage) and sizes[i] > STALE_RESULT_CHARS:
            stub(i)
    for i in range(last_user):
        if total <= budget_tokens * 4:
            break
        if isinstance(out[i], ToolMessage) and 200 <= sizes[i] <= STALE_RESULT_CHARS:
            stub(i)
    return out


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


def _is_anthropic(chat: Any) -> bool:
    # Without importing langchain-anthropic (seconds): a model of its class means it is loaded.
    module = sys.modules.get("langchain_anthropic")
    return module is not None and isinstance(chat, module.ChatAnthropic)


__all__ = ["ROUTE_KEY", "ChatPlanner", "cache_layout", "compact_history", "loaded_tools", "with_tool_references"]
