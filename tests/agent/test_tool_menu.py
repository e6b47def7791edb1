"""The tool menu (agent/graph/tool_menu.py): which tools a call shows, compact schemas, and the
built-in load_tools / read_more — through the real graph, the Anthropic SDK and its fake API."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from pydantic import BaseModel, Field, SecretStr

from agent.fakes.scripted_wire import scripted_anthropic_server
from agent.graph.tool_menu import compact_schema, cued_families, shown_tools
from agent.models.scripted import text_turn, tool_turn
from agent.runtime.chamberlain import build_runtime
from agent.settings import Settings
from tools.base import ToolArgs, ToolContext, ToolRegistry, ToolResult, tool

LONG = "Receipts are required above $25. " * 150  # ~5,000 characters: stubbed in later turns


class Query(ToolArgs):
    q: str = Field(description="What to look for.")


class Found(ToolResult):
    text: str


@tool(effect="read", family="crm")
def crm_lookup(args: Query, ctx: ToolContext) -> Found:
    """Look a customer up in the CRM."""
    return Found(text=f"customer {args.q}: Acme, negotiation")


@tool(effect="read", family="documents", untrusted_output=True)
def doc_search(args: Query, ctx: ToolContext) -> Found:
    """Search the handbook."""
    return Found(text=LONG)


@tool(effect="read", family="messaging")
def ping(args: Query, ctx: ToolContext) -> Found:
    """Ping a colleague."""
    return Found(text="pinged")


@tool(effect="read", family="analytics")
def payroll(args: Query, ctx: ToolContext) -> Found:
    """Salaries (not for employees)."""
    return Found(text="secret")


@tool(effect="read")
def plugin(args: Query, ctx: ToolContext) -> Found:
    """A tool of no known family (an MCP server's, say)."""
    return Found(text="plugged")


REGISTRY = ToolRegistry([crm_lookup, doc_search, ping, payroll, plugin])
ALLOWED = ["crm_lookup", "doc_search", "ping", "plugin"]


def test_a_call_is_shown_the_families_the_thread_cued_or_used_and_the_menu_only_grows() -> None:
    assert cued_families("Above what amount do I need a receipt?") == {"documents"}
    first = [HumanMessage("What does the handbook say about receipts?")]
    assert shown_tools(REGISTRY, ALLOWED, first) == ["doc_search", "plugin"]
    used = [*first, AIMessage("", tool_calls=[{"name": "crm_lookup", "args": {"q": "x"}, "id": "c1"}])]
    # documents stays shown after its turn, and crm is appended after it: the earlier calls'
    # tools remain a prefix of this call's, so their cache entries still match.
    assert shown_tools(REGISTRY, ALLOWED, [*used, HumanMessage("thanks")]) == ["doc_search", "plugin", "crm_lookup"]
    loaded = [AIMessage("", tool_calls=[{"name": "load_tools", "args": {"families": ["messaging"]}, "id": "c2"}])]
    assert shown_tools(REGISTRY, ALLOWED, [*used, *loaded]) == ["doc_search", "plugin", "crm_lookup", "ping"]
    later = [*first, AIMessage("Above $25."), HumanMessage("And the Acme customer?"), AIMessage("Negotiation.")]
    assert shown_tools(REGISTRY, ALLOWED, [*later, HumanMessage("thanks")]) == ["doc_search", "plugin", "crm_lookup"]
    # A tool the asker may no longer use leaves the menu at once (here nothing known was cued
    # first, so everything the asker may use was shown).
    assert shown_tools(REGISTRY, ["crm_lookup", "plugin"], [*later, HumanMessage("thanks")]) == [
        "crm_lookup",
        "plugin",
    ]
    # Nothing cued and nothing used: everything the asker may use, as without the menu.
    assert shown_tools(REGISTRY, ALLOWED, [HumanMessage("hello")]) == sorted(ALLOWED)


class Inner(BaseModel):
    kind: str = Field(description="Which kind.")


class Outer(ToolArgs):
    title: str = Field(max_length=50, description="A property that happens to be called title.")
    inner: Inner | None = Field(None, description="Optional inner part.")
    items: list[Inner] = Field(default_factory=list, description="Parts.")


def test_compact_schemas_inline_defs_and_drop_titles_but_keep_meaning() -> None:
    full = Outer.model_json_schema()
    compact = compact_schema(full)
    assert "$defs" in full and "$defs" not in str(compact) and "$ref" not in str(compact)
    assert "title" in compact["properties"] and "title" not in compact["properties"]["title"]
    assert compact["properties"]["title"]["maxLength"] == 50  # a real constraint stays
    inner = compact["properties"]["inner"]
    assert inner["type"] == "object" and inner["properties"]["kind"]["description"] == "Which kind."
    assert "anyOf" not in inner and inner["description"] == "Optional inner part."
    assert compact["properties"]["items"]["items"]["required"] == ["kind"]
    assert compact["required"] == ["title"]


def _names(body: Mapping[str, Any]) -> list[str]:
    return [t["name"] for t in body.get("tools") or []]


def _read_back_stub(messages: Sequence[BaseMessage]) -> AIMessage:
    """Turn 2: the model finds the stubbed earlier result and reads it through its handle."""
    stub = next(m for m in messages if isinstance(m, ToolMessage) and "read_more" in str(m.content))
    handle = str(stub.content).split('handle="', 1)[1].split('"', 1)[0]
    return tool_turn("read_more", {"handle": handle, "offset": 0})


def _references(body: Mapping[str, Any]) -> list[str]:
    return [
        item["tool_name"]
        for m in body["messages"]
        if isinstance(m["content"], list)
        for block in m["content"]
        if block.get("type") == "tool_result" and isinstance(block.get("content"), list)
        for item in block["content"]
        if item.get("type") == "tool_reference"
    ]


def test_hidden_tools_are_deferred_loaded_by_reference_and_decided_by_role(tmp_path: Path) -> None:
    access = tmp_path / "access.yaml"
    policy = {
        "roles": {"employee": {"tools": ALLOWED}},
        "approvals": {"default": [{"stage": "m", "approvers": ["manager"]}]},
    }
    access.write_text(yaml.safe_dump({"version": "t", **policy}))
    turns: list[Any] = [
        tool_turn("load_tools", {"families": ["crm"]}),
        tool_turn("crm_lookup", {"q": "acme"}),  # loaded by the reference above: it runs
        tool_turn("payroll", {"q": "all"}),  # not in the tools at all (not permitted): denied
        tool_turn("doc_search", {"q": "receipts"}),
        text_turn("Receipts above $25."),
        _read_back_stub,
        tool_turn("ping", {"q": "erin"}),  # loaded for turn 2's cue word ("tell")
        text_turn("It said receipts are needed above $25."),
    ]
    with scripted_anthropic_server(turns) as server:
        settings = Settings(
            data_dir=tmp_path / "data",
            access_policy_path=access,
            anthropic_api_key=SecretStr(server.api_key),
            anthropic_base_url=server.url,
        )
        with build_runtime(settings, registry=REGISTRY) as rt:
            assert rt.ask("u_erin", "What does the handbook policy say about receipts?", thread_id="t").status == (
                "answered"
            )
            assert rt.ask("u_erin", "Thanks. Show me that again and tell Bob?", thread_id="t").status == "answered"
            history = rt.history("t")
        bodies = [r.body for r in server.message_requests]
    # One tools array for the whole thread: what the first call showed, then the asker's other
    # tools deferred; payroll (not permitted) is not there at all.
    arrays = [[{k: v for k, v in t.items() if k != "cache_control"} for t in b["tools"]] for b in bodies]
    assert all(a == arrays[0] for a in arrays)
    assert _names(bodies[0]) == ["doc_search", "plugin", "load_tools", "read_more", "crm_lookup", "ping"]
    assert [t["name"] for t in arrays[0] if t.get("defer_loading")] == ["crm_lookup", "ping"]
    assert "cache_control" in bodies[0]["tools"][3], "the cache marker ends the tools in the prompt"
    # load_tools' result loads crm_lookup by reference; turn 2's cue word loads ping right after
    # the person's message, before the model answers it.
    assert _references(bodies[0]) == [] and _references(bodies[1]) == ["crm_lookup"]
    assert _references(bodies[5]) == ["crm_lookup", "ping"]
    results = {m.name: m for m in history if isinstance(m, ToolMessage)}
    assert "Acme" in str(results["crm_lookup"].content) and results["crm_lookup"].status != "error"
    assert "Denied by policy" in str(results["payroll"].content) and "secret" not in str(results["payroll"].content)
    assert '"crm":["crm_lookup"]' in str(results["load_tools"].content)
    assert results["ping"].status != "error"
    # The synthetic load is only in what Claude was sent, never in the thread.
    assert not any(isinstance(m, AIMessage) and "toolu_cued" in str(m.tool_calls) for m in history)
    # Turn 2 sent the earlier handbook result as a stub, and read_more brought the text back as data.
    sent = str(bodies[5]["messages"])
    assert LONG[:200] not in sent and "read_more" in sent
    again = str(results["read_more"].content)
    assert "untrusted-data" in again and "Receipts are required above $25." in again


def test_loading_a_family_mid_thread_keeps_the_previous_calls_prompt_a_cache_read(tmp_path: Path) -> None:
    from agent.fakes.anthropic_api import FakeAnthropicState

    turns: list[Any] = [
        tool_turn("doc_search", {"q": "receipts"}),
        tool_turn("load_tools", {"families": ["crm", "messaging"]}),
        tool_turn("crm_lookup", {"q": "acme"}),
        text_turn("Done."),
    ]
    access = tmp_path / "access.yaml"
    policy = {
        "roles": {"employee": {"tools": ALLOWED}},
        "approvals": {"default": [{"stage": "m", "approvers": ["manager"]}]},
    }
    access.write_text(yaml.safe_dump({"version": "t", **policy}))
    with scripted_anthropic_server(turns) as server:
        settings = Settings(
            data_dir=tmp_path / "data",
            access_policy_path=access,
            anthropic_api_key=SecretStr(server.api_key),
            anthropic_base_url=server.url,
        )
        with build_runtime(settings, registry=REGISTRY) as rt:
            assert rt.ask("u_erin", "What does the handbook say about receipts?", thread_id="t").status == "answered"
        bodies = [r.body for r in server.message_requests]
    # Replayed through a cache that takes prompts of any length (these are small).
    cache = FakeAnthropicState(min_cache_tokens=0)
    usages = [cache.usage_for(b) for b in bodies]
    # Call 3 follows the load_tools call: its tools array is call 2's, so the whole of call 2's
    # cached prompt is read back (the loaded definitions are written after it, inline).
    for before, after in itertools.pairwise(usages[1:]):
        assert (
            after["cache_read_input_tokens"]
            == before["cache_read_input_tokens"] + before["cache_creation_input_tokens"]
        )
    assert _references(bodies[2]) == ["crm_lookup", "ping"]
    before_load = sum(usages[1].values())
    assert sum(usages[2].values()) - before_load > 40, "the definitions count where they are loaded"


def test_a_long_result_is_cut_and_read_on_page_by_page() -> None:
    from agent.graph.tool_menu import FULL_TEXT_KEY, READ_MORE, RESULT_CHARS, cut_result, meta_tools
    from policies.directory import Directory

    text = "".join(f"row {i:05d}\n" for i in range(3000))  # 30,000 characters
    head, note, full = cut_result(text, "call_1")
    assert head == text[:RESULT_CHARS] and full == text and 'handle="call_1"' in note
    assert cut_result("short", "call_2") == ("short", "", None)
    msg = ToolMessage(content=head + note, tool_call_id="call_1", response_metadata={FULL_TEXT_KEY: full})
    read_more = meta_tools()[READ_MORE]
    ctx = ToolContext(principal=Directory.load().get("u_erin"), extras={"messages": [msg]})
    pages, offset = [], 0
    while offset is not None:
        page = read_more.fn(read_more.parse_args({"handle": "call_1", "offset": offset}), ctx)
        pages.append(page.text)
        offset = page.next_offset
    assert "".join(pages) == text and len(pages) == 3


def test_models_without_deferred_loading_get_the_shown_and_loaded_tools_without_the_flag() -> None:
    from agent.graph.planner import loaded_tools, with_tool_references
    from agent.graph.tool_menu import shown_specs

    first = [HumanMessage("What does the handbook say about receipts?"), AIMessage("Above $25.")]
    menu = shown_specs(REGISTRY, ALLOWED, [*first, HumanMessage("thanks")])
    assert [t["name"] for t in menu if t.get("defer_loading")] == ["crm_lookup", "ping"]
    assert [t["name"] for t in loaded_tools(menu)] == ["doc_search", "plugin", "load_tools", "read_more"]
    cued = [*first, HumanMessage("And tell Bob about the Acme customer?")]
    menu = shown_specs(REGISTRY, ALLOWED, cued)
    shown = loaded_tools(menu)
    assert [t["name"] for t in shown][-2:] == ["crm_lookup", "ping"] and not any("defer_loading" in t for t in shown)
    # For Claude the same thread gets a load right after the cueing message, nothing else changed.
    sent = with_tool_references(cued, menu)
    assert sent[:3] == cued and [type(m).__name__ for m in sent[3:]] == ["AIMessage", "ToolMessage"]
    assert sent[4].content[1:] == [
        {"type": "tool_reference", "tool_name": "crm_lookup"},
        {"type": "tool_reference", "tool_name": "ping"},
    ]
