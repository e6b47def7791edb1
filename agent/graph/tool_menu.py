"""Which tools the model is shown on a call, in what form, and the two built-in tools that widen
what it sees: ``load_tools`` (show more tool families) and ``read_more`` (the rest of a long
tool result).

Showing is not permitting. The gate decides every call by the asker's roles whether or not the
tool was shown, so a hidden tool the model names anyway is decided exactly as a shown one; the
menu only keeps the prompt short. A call is shown the tool families that any of the person's
messages in the thread cued (a cheap, deterministic word match) or that the model used or
loaded, and ``load_tools`` naming every family the asker may use. Within a thread the menu only
grows, by appending (a tool once shown stays where it was first shown), because the tools open
the cached prefix of every call and a change there invalidates everything after it.
Tools with a family this module does not know (MCP servers, external tools) are always shown:
we cannot tell when they are needed. Nothing matched and nothing used yet: everything the asker
may use is shown, as before the menu.

Schemas go to the model compact: no pydantic titles, ``$defs`` inlined, ``X | None = None``
shown as an optional ``X``, no ``additionalProperties: false`` (the gate validates against the
full pydantic model either way). They are computed once per tool.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from pydantic import BaseModel, Field

from tools.base import Effect, Tool, ToolArgs, ToolContext, ToolRegistry, ToolResult
from tools.errors import ToolInputError

LOAD_TOOLS = "load_tools"
READ_MORE = "read_more"

# Words that cue a family, matched case-insensitively at word starts in the person's newest
# message. Generous on purpose: a false cue costs a few hundred tokens, a missed one a
# ``load_tools`` round trip.
FAMILY_CUES: Mapping[str, tuple[str, ...]] = {
    "crm": (
        "crm", "customer", "client", "account", "deal", "pipeline", "renewal", "opportunit", "contact",
        "compan", "lead", "prospect", "note", "task", "stage", "hubspot", "owner", "close date",
        "follow up", "follow-up", "discount",
    ),
    "analytics": (
        "sales", "revenue", "net ", "gross", "margin", "quarter", "q1", "q2", "q3", "q4", "region", "how many",
        "how much", "total", "average", "sum", "count", "trend", "chart", "graph", "plot", "sql", "query",
        "table", "data", "warehouse", "return", "order", "product", "expenses by", "spend", "employees",
        "headcount", "top ", "per month", "monthly", "yearly", "kpi", "metric", "figures", "numbers", "compare",
        "growth", "forecast", "csv",
    ),
    "documents": (
        "policy", "policies", "handbook", "rule", "allowed", "receipt", "travel", "hotel", "flight", "per diem",
        "reimburs", "guideline", "procedure", "security", "password", "faq", "document", "doc ", "docs",
        "how do i", "how does", "can i", "may i", "am i", "do i need", "what is", "what are", "benefit",
        "leave policy", "onboarding", "product", "warranty", "support", "manual", "limit", "cite", "source",
    ),
    "requests": (
        "request", "expense", "purchase", "buy", "order ", "time off", "vacation", "holiday", "leave", "pto",
        "sick", "discount", "access", "approv", "reimburs", "submit", "file ", "claim", "my requests",
        "invoice", "budget", "spent", "paid", "lunch", "dinner", "taxi", "day off", "days off", "laptop",
        "monitor", "licence", "license", "permission", "grant",
    ),
    "messaging": (
        "send", "message", "email", "e-mail", "mail", "tell ", "notify", "ping", "dm ", "slack", "let them know",
        "write to", "forward", "share",
    ),
    "reports": (
        "schedule", "every week", "every day", "every month", "weekly", "daily", "monthly", "recurring",
        "each monday", "report", "digest", "subscribe",
    ),
}  # fmt: skip

_CUE_RES: dict[str, re.Pattern[str]] = {}


def _cue_re(family: str) -> re.Pattern[str]:
    if family not in _CUE_RES:
        words = sorted(FAMILY_CUES[family], key=len, reverse=True)
        _CUE_RES[family] = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + ")", re.IGNORECASE)
    return _CUE_RES[family]


def cued_families(text: str) -> set[str]:
    """The known families ``text`` mentions."""
    return {family for family in FAMILY_CUES if _cue_re(family).search(text)}


def families_used(messages: Sequence[BaseMessage], registry: ToolRegistry) -> set[str]:
    """Families of every tool the model called in the thread, and those it loaded."""
    out: set[str] = set()
    for m in messages:
        if not isinstance(m, AIMessage):
            continue
        for call in m.tool_calls:
            if call["name"] == LOAD_TOOLS:
                requested = call["args"].get("families")
                if isinstance(requested, list):
                    out |= {f for f in requested if isinstance(f, str)}
                continue
            t = registry.get(call["name"])
            if t is not None and t.family:
                out.add(t.family)
    return out


def shown_tools(registry: ToolRegistry, allowed: Iterable[str], messages: Sequence[BaseMessage]) -> list[str]:
    """Names of the registry tools the model has on this call: those shown from the thread's
    first call, then those loaded since (see :func:`shown_specs`)."""
    menu = shown_specs(registry, allowed, messages)
    return [
        str(s["name"])
        for s in menu
        if s["name"] not in (LOAD_TOOLS, READ_MORE) and (not s.get(DEFER_LOADING) or s["name"] in menu.loaded)
    ]


DEFER_LOADING = "defer_loading"
"""Anthropic's tool-definition flag: the tool is in the ``tools`` array but out of the prompt
until a ``tool_reference`` block in a tool result loads it (see :class:`ToolMenu`)."""


class ToolMenu(list[dict[str, Any]]):
    """The tools array of one call, stable for the whole thread, and where the definitions that
    were deferred get loaded.

    The array holds every tool the asker may use: first what the thread's first call showed
    (the cued families, ``load_tools`` when something was hidden, ``read_more``), then every
    other tool with ``defer_loading: true``, in registry order. A family loaded later (by
    ``load_tools``, by cue words of a later message, or by the model calling one of its tools
    anyway) does not change the array: its deferred tools are named by ``tool_reference``
    blocks in a tool result, which Anthropic expands inline at that point of the conversation
    (agent/graph/planner.py), so tools, system prompt and history before it stay byte-identical
    and cached. Models without deferred loading get the non-deferred tools plus
    :attr:`loaded` (planner.py), the menu they had before."""

    def __init__(
        self,
        specs: Iterable[dict[str, Any]] = (),
        *,
        in_result: Mapping[str, list[str]] | None = None,
        after_message: Mapping[int, dict[str, list[str]]] | None = None,
    ) -> None:
        super().__init__(specs)
        self.in_result: dict[str, list[str]] = dict(in_result or {})
        """tool_call_id of a ``load_tools`` call → the deferred tools its result loads."""
        self.after_message: dict[int, dict[str, list[str]]] = dict(after_message or {})
        """message index → families nothing had loaded yet, with their deferred tools, that the
        planner loads right after that message: those cued by a person's later message, and
        that of a deferred tool called anyway (loaded right before the call)."""

    @property
    def loaded(self) -> set[str]:
        """Deferred tools loaded somewhere in the thread so far."""
        out = {n for names in self.in_result.values() for n in names}
        return out | {n for cued in self.after_message.values() for names in cued.values() for n in names}


def shown_specs(registry: ToolRegistry, allowed: Iterable[str], messages: Sequence[BaseMessage]) -> ToolMenu:
    """Compact tool definitions for this call (a :class:`ToolMenu`): the tools shown on the
    thread's first call, ``load_tools`` once some of the asker's families were hidden, and
    ``read_more``; then the asker's other tools, deferred.

    The tools are the first thing in the model's prompt and a changed byte invalidates the
    cache after it, so the array stays the same for the whole thread; what is loaded later is
    loaded by reference. Only a change of what the asker may use changes it."""
    allowed = set(allowed)
    mine = [t for t in registry if t.name in allowed]
    known = {t.family for t in mine if t.family in FAMILY_CUES}
    first: list[str] | None = None
    deferred: dict[str, str] = {}  # name -> family
    loaded: set[str] = set()
    in_result: dict[str, list[str]] = {}
    after_message: dict[int, dict[str, list[str]]] = {}

    def load(families: set[str]) -> list[str]:
        names = [n for n, f in deferred.items() if f in families and n not in loaded]
        loaded.update(names)
        return names

    def load_after(index: int, names: list[str]) -> None:
        cued = after_message.setdefault(index, {})
        for n in names:
            cued.setdefault(deferred[n], []).append(n)
        if not cued:
            del after_message[index]
        else:
            after_message[index] = dict(sorted(cued.items()))

    prefix: list[BaseMessage] = []
    for index, m in enumerate(messages):
        if first is None and isinstance(m, AIMessage):
            first = _menu(registry, allowed, prefix)
            deferred = {t.name: t.family or "" for t in mine if t.name not in first}
        prefix.append(m)
        if first is None:
            continue
        if isinstance(m, AIMessage):
            for c in m.tool_calls:
                if c["name"] == LOAD_TOOLS:
                    requested = c["args"].get("families")
                    families = {f for f in requested if f in known} if isinstance(requested, list) else set()
                    if names := load(families):
                        in_result[str(c["id"])] = names
                elif (t := registry.get(c["name"])) is not None and t.family in known and t.name in deferred:
                    # Called while deferred (another model was answering, or the thread predates
                    # the menu): loaded just before the call, so the call follows its definition.
                    load_after(index - 1, load({t.family or ""}))
        elif isinstance(m, HumanMessage):
            text = m.content if isinstance(m.content, str) else json.dumps(m.content)
            load_after(index, load(cued_families(text) & known))
    if first is None:  # the thread's first call
        first = _menu(registry, allowed, messages)
        deferred = {t.name: t.family or "" for t in mine if t.name not in first}
    specs: list[dict[str, Any]] = []
    for name in first:
        if name == LOAD_TOOLS:
            specs.append(_load_tools_spec(registry, allowed))
        elif (t := registry.get(name) or meta_tools().get(name)) is not None:
            specs.append(model_spec(t))
    for name in deferred:
        t = registry.get(name)
        if t is not None:
            specs.append({**model_spec(t), DEFER_LOADING: True})
    return ToolMenu(specs, in_result=in_result, after_message=after_message)


def load_tools_text(loaded: Mapping[str, Sequence[str]]) -> str:
    """What ``load_tools`` says beside its tool references (the same JSON as its result)."""
    return LoadToolsResult(loaded={f: list(n) for f, n in loaded.items()}).model_dump_json()


def _menu(registry: ToolRegistry, allowed: set[str], messages: Sequence[BaseMessage]) -> list[str]:
    """Every tool shown on any model call of the thread so far, this one included, in the order
    first shown. One pass: each earlier call saw the messages before its reply."""
    mine = [t for t in registry if t.name in allowed]
    known = {t.family for t in mine if t.family in FAMILY_CUES}
    in_play: set[str] = set()
    some_hidden = False
    order: dict[str, None] = {}

    def call() -> None:
        nonlocal some_hidden
        if in_play:
            names = [t.name for t in mine if t.family in in_play or t.family not in FAMILY_CUES]
        else:  # nothing cued and nothing used: everything the asker may use, as without the menu
            names = [t.name for t in mine]
        shown = {t.family for t in mine if t.name in names or t.name in order}
        some_hidden = some_hidden or bool(known - shown)
        if some_hidden:
            names.append(LOAD_TOOLS)
        # Always there, though only needed once a result is cut or an earlier turn's result is
        # stubbed (planner.py): appearing later would change the tools under the whole cache.
        names.append(READ_MORE)
        order.update(dict.fromkeys(names))

    for m in messages:
        if isinstance(m, AIMessage):
            call()
            for c in m.tool_calls:
                if c["name"] == LOAD_TOOLS:
                    requested = c["args"].get("families")
                    if isinstance(requested, list):
                        in_play |= {f for f in requested if f in known}
                elif (t := registry.get(c["name"])) is not None and t.family in known:
                    in_play.add(t.family)
        elif isinstance(m, HumanMessage):
            text = m.content if isinstance(m.content, str) else json.dumps(m.content)
            in_play |= cued_families(text) & known
    call()
    return list(order)


def _load_tools_spec(registry: ToolRegistry, allowed: set[str]) -> dict[str, Any]:
    by_family: dict[str, list[str]] = {}
    for t in registry:
        if t.name in allowed and t.family in FAMILY_CUES:
            by_family.setdefault(t.family, []).append(t.name)
    listing = "; ".join(f"{f}: {', '.join(names)}" for f, names in sorted(by_family.items()))
    return {
        "name": LOAD_TOOLS,
        "description": f"Show more tool families (only those this request seemed to need are shown): {listing}.",
        "input_schema": {
            "type": "object",
            "properties": {"families": {"type": "array", "items": {"enum": sorted(by_family)}, "minItems": 1}},
            "required": ["families"],
        },
    }


# -- compact schemas ------------------------------------------------------------------------------


def model_spec(t: Tool[Any, Any]) -> dict[str, Any]:
    """The model-facing definition of ``t`` (computed once per tool; callers must not mutate it)."""
    return _model_spec(t.name, t.description, t.args_model)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=512)
def _model_spec(name: str, description: str, args_model: type[BaseModel]) -> dict[str, Any]:
    return {"name": name, "description": description, "input_schema": compact_schema(args_model.model_json_schema())}


def compact_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` as the model needs it: ``$defs`` inlined, no titles, nullable optionals shown as
    optional, no ``additionalProperties: false``."""
    defs = schema.get("$defs", {})

    def walk(node: Any, *, in_properties: bool = False) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        if in_properties:  # keys are property names (one may be called "title")
            return {k: walk(v) for k, v in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in defs:
            merged = {**copy.deepcopy(defs[ref[8:]]), **{k: v for k, v in node.items() if k != "$ref"}}
            return walk(merged)
        options = node.get("anyOf")
        if (
            isinstance(options, list)
            and len(options) == 2
            and {"type": "null"} in options
            and node.get("default", 0) is None
        ):
            # ``X | None = None``: optional already; the null branch only costs tokens.
            (inner,) = [o for o in options if o != {"type": "null"}]
            rest = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
            return walk({**inner, **rest})
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k in ("title", "$defs") or (k == "additionalProperties" and v is False):
                continue
            if k == "maxLength" and isinstance(v, int) and v >= 100:
                continue  # a generous cap the model will not reach; the gate still enforces it
            out[k] = walk(v, in_properties=k == "properties")
        return out

    out: dict[str, Any] = walk(dict(schema))
    return out


# -- built-in tools -------------------------------------------------------------------------------

FULL_TEXT_KEY = "chamberlain_full_text"
"""``ToolMessage.response_metadata`` key holding a cut result's whole text (never sent to the model)."""

STALE_RESULT_CHARS = 2_000
"""Tool results of earlier turns longer than this (about 500 tokens) reach the model as a stub
with a ``read_more`` handle (agent/graph/planner.py ``compact_history``)."""

RESULT_CHARS = 12_000
"""Tool results longer than this (about 3,000 tokens) reach the model cut, with a ``read_more`` handle."""


class LoadToolsArgs(ToolArgs):
    families: list[str] = Field(min_length=1, max_length=10, description="Tool families to show.")


class LoadToolsResult(ToolResult):
    loaded: dict[str, list[str]] = Field(description="Each family shown from now on, with its tools.")


class ReadMoreArgs(ToolArgs):
    handle: str = Field(max_length=80, description="The handle given at the end of the cut result.")
    offset: int = Field(ge=0, description="Character offset to continue from (given with the handle).")


class ReadMoreResult(ToolResult):
    text: str = Field(description="The next part of the result.")
    next_offset: int | None = Field(description="Pass as offset to read on; null at the end.")


def _load_tools(args: LoadToolsArgs, ctx: ToolContext) -> LoadToolsResult:
    registry: ToolRegistry = ctx.extras["registry"]
    allowed: frozenset[str] = ctx.extras["allowed"]
    mine: dict[str, list[str]] = {}
    for t in registry:
        if t.name in allowed and t.family:
            mine.setdefault(t.family, []).append(t.name)
    unknown = [f for f in args.families if f not in mine]
    if unknown:
        raise ToolInputError(f"unknown tool families {', '.join(unknown)}; you may use: {', '.join(sorted(mine))}")
    return LoadToolsResult(loaded={f: mine[f] for f in args.families})


def _read_more(args: ReadMoreArgs, ctx: ToolContext) -> ReadMoreResult:
    messages: Sequence[BaseMessage] = ctx.extras["messages"]
    found = [m for m in messages if isinstance(m, ToolMessage) and m.tool_call_id == args.handle]
    if not found:
        raise ToolInputError(f"no tool result has the handle {args.handle!r} in this conversation")
    # The checkpointed message holds the whole text (cut results keep it beside the content).
    full = str(found[-1].response_metadata.get(FULL_TEXT_KEY) or found[-1].content)
    end = args.offset + RESULT_CHARS
    return ReadMoreResult(text=full[args.offset : end], next_offset=end if end < len(full) else None)


@functools.cache
def meta_tools() -> dict[str, Tool[Any, Any]]:
    """The built-in tools, by name. They reveal only the asker's own tool names and the rest of
    a result this conversation already received, so the gate allows them without a role."""
    load = Tool(
        name=LOAD_TOOLS,
        description="Show more of your tool families.",
        args_model=LoadToolsArgs,
        result_model=LoadToolsResult,
        effect=Effect.READ,
        fn=_load_tools,
    )
    more = Tool(
        name=READ_MORE,
        description="Read a tool result that was cut or left out: pass the handle and offset its note gave.",
        args_model=ReadMoreArgs,
        result_model=ReadMoreResult,
        effect=Effect.READ,
        fn=_read_more,
        # The rest of the text keeps the taint of its source: always treated as data.
        untrusted_output=True,
    )
    return {LOAD_TOOLS: load, READ_MORE: more}


def tool_named(deps: Any, name: str) -> Tool[Any, Any] | None:
    """The registry's tool called ``name``, else the built-in one, else None (unknown: denied)."""
    return deps.registry.get(name) or meta_tools().get(name)


def cut_result(text: str, handle: str) -> tuple[str, str, str | None]:
    """``(head, note, whole text or None)``: a result longer than :data:`RESULT_CHARS` is cut,
    and the note (our words, shown outside any untrusted-data block) says how to read on."""
    if len(text) <= RESULT_CHARS:
        return text, "", None
    note = (
        f"\n[Result cut at {RESULT_CHARS:,} of {len(text):,} characters. "
        f'Call read_more with handle="{handle}" and offset={RESULT_CHARS} for the rest.]'
    )
    return text[:RESULT_CHARS], note, text


__all__ = [
    "DEFER_LOADING",
    "FAMILY_CUES",
    "FULL_TEXT_KEY",
    "LOAD_TOOLS",
    "READ_MORE",
    "RESULT_CHARS",
    "STALE_RESULT_CHARS",
    "ToolMenu",
    "compact_schema",
    "cued_families",
    "cut_result",
    "families_used",
    "load_tools_text",
    "meta_tools",
    "model_spec",
    "shown_specs",
    "shown_tools",
    "tool_named",
]
