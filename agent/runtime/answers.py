"""The answer a turn ends with: the guarded text, its citations, and the tables and files its tools returned."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, ToolMessage

from agent.events import Answer, Attachment, Citation, Table


def _this_turn(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], HumanMessage):
            return list(messages[i + 1 :])
    return list(messages)


def build_answer(messages: Sequence[BaseMessage], text: str, citations: Sequence[Mapping[str, Any]] = ()) -> Answer:
    """The guarded answer with its citations, and the tables and files the turn's tools returned."""
    tables: list[Table] = []
    attachments: list[Attachment] = []
    for m in _this_turn(messages):
        if not isinstance(m, ToolMessage) or not isinstance(m.artifact, Mapping):
            continue
        art = m.artifact
        if isinstance(art.get("columns"), list) and isinstance(art.get("rows"), list):
            names = tuple(c.get("name", "") if isinstance(c, Mapping) else str(c) for c in art["columns"])
            tables.append(Table(names, tuple(tuple(r) for r in art["rows"]), bool(art.get("truncated"))))
        for key, mime in (("csv_path", "text/csv"), ("chart_path", "image/png")):
            if art.get(key):
                attachments.append(Attachment(str(art[key]), str(art[key]).rsplit("/", 1)[-1], mime))
    return Answer(
        text=text,
        citations=tuple(Citation(**c) for c in citations),
        tables=tuple(tables),
        attachments=tuple(attachments),
    )


__all__ = ["build_answer"]
