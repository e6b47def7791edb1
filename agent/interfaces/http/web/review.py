"""The review queue: answers worth a second look, and turning one into an eval case.

An answer is flagged when the output guard changed it (dropped a citation, redacted PII,
withheld the system prompt), when someone gave it a thumbs-down (``feedback`` audit events,
from the web page or Slack: ``data = {"vote": "down", "comment": ..., "source": ...}``), or when
a policy check failed in that turn (a denied tool call, a turn that failed, a write whose
arguments differed from what was approved). Everything is read from the audit log, so every
replica shows the same queue; labelling writes a ``review_labeled`` entry that takes the item off it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from agent.service.records import AuditEntry, AuditLog

FLAG_EVENTS = ("answer", "feedback", "policy_decision", "turn_failed", "approval_mismatch", "review_labeled")


@dataclass
class ReviewItem:
    thread_id: str
    reasons: list[str] = field(default_factory=list)
    last_seq: int = 0
    at: datetime | None = None
    actor: str = ""


def _reason(e: AuditEntry) -> str | None:
    d = e.data
    if e.event == "answer":
        parts = []
        if d.get("dropped_citations"):
            parts.append(f"output guard dropped citations {', '.join(map(str, d['dropped_citations']))}")
        if d.get("redacted"):
            parts.append("output guard redacted PII")
        if d.get("withheld_prompt"):
            parts.append("output guard withheld system-prompt text")
        return "; ".join(parts) or None
    if e.event == "feedback" and d.get("vote") == "down":
        comment = str(d.get("comment") or "").strip()
        src = d.get("source", "web")
        return f"thumbs-down from {e.actor} ({src})" + (f": “{comment[:200]}”" if comment else "")
    if e.event == "policy_decision" and d.get("decision") == "deny":
        return f"policy denied {d.get('tool')}"
    if e.event == "turn_failed":
        return "the turn failed"
    if e.event == "approval_mismatch":
        return "a write differed from what was approved"
    return None


def review_queue(audit: AuditLog, *, scan: int = 2000) -> list[ReviewItem]:
    """Flagged threads, newest first, minus those a reviewer already labelled after the flag."""
    items: dict[str, ReviewItem] = {}
    labelled_at: dict[str, int] = {}
    for e in audit.search(events=FLAG_EVENTS, limit=scan):
        if not e.thread_id:
            continue
        if e.event == "review_labeled":
            labelled_at.setdefault(e.thread_id, e.seq)
            continue
        why = _reason(e)
        if why is None:
            continue
        item = items.setdefault(e.thread_id, ReviewItem(e.thread_id, last_seq=e.seq, at=e.at, actor=e.actor))
        if why not in item.reasons:
            item.reasons.append(why)
    return [i for i in items.values() if labelled_at.get(i.thread_id, 0) < i.last_seq]


def thread_owner(audit: AuditLog, thread_id: str) -> str | None:
    first = audit.search(thread_id=thread_id, events=("request",), limit=1)
    return first[0].actor if first else None


# -- eval cases ------------------------------------------------------------------------------------


def _turn_specs(messages: Sequence[Any]) -> tuple[str, list[dict[str, Any]]]:
    """The last user message and the model turns after it, in the eval suite's TurnSpec shape."""
    from langchain_core.messages import AIMessage, HumanMessage

    start = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    if start < 0:
        raise ValueError("this conversation has no user message to replay")
    human = messages[start]
    text = human.content if isinstance(human.content, str) else str(human.content)
    turns: list[dict[str, Any]] = []
    for m in messages[start + 1 :]:
        if not isinstance(m, AIMessage):
            continue
        calls = [{"tool": c["name"], "args": dict(c["args"])} for c in m.tool_calls]
        if len(calls) == 1:
            turns.append(calls[0])
        elif calls:
            turns.append({"calls": calls})
        else:
            turns.append({"text": str(m.text)})
    if not turns:
        raise ValueError("the model never answered in this conversation; nothing to replay")
    return text, turns


def build_case(
    *,
    thread_id: str,
    user_id: str,
    messages: Sequence[Any],
    trail: Sequence[AuditEntry],
    label: str,
    note: str = "",
    answer_contains: Sequence[str] = (),
    answer_lacks: Sequence[str] = (),
) -> dict[str, Any]:
    """An eval case (``evals.trajectories.Case``) that replays the flagged turn and pins what
    the reviewer expects. ``trail``: the thread's audit entries, oldest first."""
    from evals.trajectories import Case

    message, turns = _turn_specs(messages)
    last_request = max((e.seq for e in trail if e.event == "request"), default=0)
    this_turn = [e for e in trail if e.seq >= last_request]
    decisions = [e.data.get("decision") for e in this_turn if e.event == "policy_decision"]
    steps = [
        {"decide": {"by": e.actor, "approve": bool(e.data.get("approve")), "reason": e.data.get("reason")}}
        for e in trail
        if e.event == "approval_decision" and e.seq >= last_request
    ]
    failed = any(e.event == "turn_failed" for e in this_turn)
    expect: dict[str, Any] = {
        "status": "failed" if failed else "answered",
        "decisions": decisions,
        "executed_writes": sum(1 for e in trail if e.event == "write_executed" and e.seq >= last_request),
    }
    if answer_contains:
        expect["answer_contains"] = list(answer_contains)
    if answer_lacks:
        expect["answer_lacks"] = list(answer_lacks)
    slug = re.sub(r"[^a-z0-9]+", "-", thread_id.lower()).strip("-")[-24:]
    case = {
        "name": f"review-{slug}-{last_request}",
        "description": (f"From the review queue ({label}). " + note).strip()[:500],
        "tags": ["review", label],
        "user": user_id,
        "message": message,
        "turns": turns,
        "steps": steps,
        "expect": expect,
    }
    case = json.loads(json.dumps(case, default=str))  # plain types only: YAML-safe
    Case.model_validate(case)  # the suite must be able to load what we write
    return case


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def append_case(path: Path, case: Mapping[str, Any]) -> bool:
    """Add ``case`` to the YAML list at ``path``; False if a case of that name is already there."""
    with _locked(path):
        existing = (yaml.safe_load(path.read_text(encoding="utf-8")) or []) if path.exists() else []
        if any(c.get("name") == case["name"] for c in existing):
            return False
        existing.append(dict(case))
        tmp = path.with_suffix(path.suffix + ".tmp")
        header = "# Eval cases written from the web page's review queue (python -m evals.run loads this format).\n"
        tmp.write_text(header + yaml.safe_dump(existing, sort_keys=False, allow_unicode=True), encoding="utf-8")
        tmp.replace(path)
    return True


__all__ = ["ReviewItem", "append_case", "build_case", "review_queue", "thread_owner"]
