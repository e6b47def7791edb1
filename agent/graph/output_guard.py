"""What an answer may contain: citations only to passages actually retrieved in this
conversation (for this user), and PII only as far as the asker's clearance allows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage, ToolMessage

from agent.events import Citation
from policies.citations import check_citations
from policies.directory import Clearance
from policies.link_guard import remove_unknown_links
from policies.pii import redact_for
from policies.prompt_leak import PromptLeakGuard
from policies.spotlight import strip_markup


@dataclass(frozen=True)
class GuardedAnswer:
    text: str
    citations: tuple[Citation, ...]
    dropped_citations: tuple[str, ...]
    redacted: bool
    withheld_prompt: bool = False
    removed_links: tuple[str, ...] = ()


def retrieved_passages(messages: Sequence[BaseMessage]) -> dict[str, Mapping[str, Any]]:
    """Citation id → {title, section, uri} of every passage a tool returned in the conversation."""
    out: dict[str, Mapping[str, Any]] = {}
    for m in messages:
        art = m.artifact if isinstance(m, ToolMessage) else None
        if not isinstance(art, Mapping):
            continue
        for p in art.get("passages", []) or []:
            if isinstance(p, Mapping) and p.get("cite_as"):
                out[str(p["cite_as"]).strip("[]")] = p
    return out


def guard_answer(
    text: str,
    messages: Sequence[BaseMessage],
    clearance: Clearance,
    *,
    leak_guard: PromptLeakGuard | None = None,
) -> GuardedAnswer:
    """Drop unsupported citations, withhold copies of the system prompt, redact PII for the
    audience's clearance — in that order, so nothing a later step removes survives in the text."""
    withheld = False
    # Spotlight delimiters a model (or a scripted turn) copied from a tool result are internal.
    text = strip_markup(text)
    if leak_guard is not None:
        cut = leak_guard.redact(text)
        withheld = cut.verdict.leaked
        text = cut.text
    # A link the model built itself (not one the user or a tool gave) can carry data out when
    # the answer is rendered or clicked (image beacons, URLs with data in the query).
    known = [str(m.content) for m in messages if m.type in ("human", "tool")]
    links = remove_unknown_links(text, known)
    text = links.text
    passages = retrieved_passages(messages)
    check = check_citations(text, passages.keys())
    numbered = check.numbered()
    citations = tuple(
        Citation(
            i,
            str(passages[cid].get("title", "")),
            str(passages[cid].get("section", "")),
            str(passages[cid].get("uri", "")),
        )
        for i, cid in enumerate(check.cited, start=1)
    )
    safe = redact_for(clearance, numbered)
    removed = tuple(getattr(f, "url", str(f)) for f in links.removed)
    return GuardedAnswer(safe, citations, check.dropped, safe != numbered, withheld, removed)


__all__ = ["GuardedAnswer", "guard_answer", "retrieved_passages"]
