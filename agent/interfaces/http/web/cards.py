"""What an approval card shows: the system's lines (what changes, route, stage, SLA) kept apart
from text people or tools wrote, which is quoted with its source."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agent.end_state import EndState
from agent.service.records import ApprovalRecord
from policies.directory import Directory

# Request fields a person types freely: shown as quotes, never as system text.
# (Short identifiers — item, vendor, merchant — stay inline: the title is built from them.)
FREE_TEXT_FIELDS = ("description", "justification", "note", "reason", "comment")
_VALUE = 300


def _text(value: Any) -> str:
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= _VALUE else text[: _VALUE - 1] + "…"


@dataclass
class Change:
    field: str
    current: str | None  # None: a new field / created record
    proposed: str
    tainted: bool = False


@dataclass
class Quote:
    source: str
    text: str


@dataclass
class StageLine:
    name: str
    status: str
    approvers: list[str]
    mode: str


@dataclass
class Card:
    id: str
    kind: str
    title: str
    summary: str
    reason: str
    status: str
    requester: str
    requester_id: str
    created_at: datetime
    changes: list[Change]
    route: list[StageLine]
    stage: str | None
    sla: timedelta | None
    waited: timedelta | None
    overdue: bool
    expires_at: datetime | None
    warnings: list[str]
    quotes: list[Quote]
    can_decide: bool
    may_delegate: bool
    decided_by: str | None
    executed_at: datetime | None
    result: str | None
    votes: list[str] = field(default_factory=list)
    end: EndState | None = None  # what became of it (agent/end_state.py), the same on every surface
    batch_id: str | None = None  # proposed together with other writes of the same turn


def _label(directory: Directory, pid: str | None) -> str:
    if not pid:
        return "—"
    p = directory.find(pid)
    return p.label if p else pid


QUOTED_BELOW = "(quoted below)"


def _free_texts(rec: ApprovalRecord) -> dict[str, str]:
    req = (rec.request or {}).get("request") or {}
    if not isinstance(req, Mapping):
        return {}
    return {k: req[k] for k in FREE_TEXT_FIELDS if isinstance(req.get(k), str) and req[k].strip()}


def _system_text(text: str, free: Mapping[str, str]) -> str:
    """The system's sentence with people's words taken out (they are quoted, with a source)."""
    for value in sorted(free.values(), key=len, reverse=True):
        text = text.replace(value, QUOTED_BELOW)
    return text


def _changes(rec: ApprovalRecord) -> list[Change]:
    tainted_fields = {t.split("=", 1)[0].split(".")[0] for t in rec.tainted_arguments}
    out: list[Change] = []
    keys = [*rec.proposed.keys(), *(k for k in rec.current if k not in rec.proposed)]
    free = _free_texts(rec)
    for key in keys:
        new = rec.proposed.get(key)
        if key in rec.current and rec.current[key] == new:
            continue
        shown = QUOTED_BELOW if key in free or (isinstance(new, str) and new in free.values()) else _text(new)
        out.append(
            Change(
                str(key),
                _text(rec.current[key]) if key in rec.current else None,
                shown,
                str(key) in tainted_fields,
            )
        )
    return out


def _quotes(rec: ApprovalRecord, directory: Directory) -> list[Quote]:
    quotes: list[Quote] = []
    for key, text in _free_texts(rec).items():
        quotes.append(Quote(f"{key}, written by {_label(directory, rec.requester_id)} (requester)", text))
    for v in rec.votes:
        if v.reason:
            quotes.append(Quote(f"reason given by {_label(directory, v.approver_id)} ({v.decision})", v.reason))
    if rec.decision_reason and not any(v.reason == rec.decision_reason for v in rec.votes):
        quotes.append(Quote(f"note on the decision ({rec.decided_by or 'system'})", rec.decision_reason))
    for t in rec.tainted_arguments:
        quotes.append(Quote("argument taken from untrusted content", t))
    return quotes


def _warnings(rec: ApprovalRecord) -> list[str]:
    out = []
    if rec.untrusted_sources:
        out.append("Drafted after reading untrusted content: " + ", ".join(rec.untrusted_sources))
    if rec.tainted_arguments:
        out.append("Some values came from that content (marked ⚠ below).")
    if rec.injection_score >= 0.5:
        out.append(f"Possible prompt injection in what was read (score {rec.injection_score:.2f}).")
    out.extend(f"Flag: {f}" for f in rec.flags)
    return out


def card(
    rec: ApprovalRecord,
    directory: Directory,
    *,
    viewer: str,
    now: datetime,
    stage_sla: timedelta | None,
    show_result: bool,
    end: EndState | None = None,
    batch_id: str | None = None,
) -> Card:
    stages = []
    for i, s in enumerate(rec.stages):
        if rec.status == "rejected" and i == rec.current_stage:
            st = "rejected"
        elif i < rec.current_stage or rec.status in ("approved", "executing", "executed", "failed"):
            st = "approved"
        elif i == rec.current_stage and rec.status == "pending":
            st = "pending"
        else:
            st = "waiting" if rec.status == "pending" else rec.status
        stages.append(StageLine(s.name, st, [_label(directory, a) for a in s.approvers], s.mode))
    pending = rec.status == "pending"
    waited = now - rec.stage_started_at if pending else None
    can = viewer in rec.approvers_now()
    return Card(
        id=rec.id,
        kind=rec.kind,
        title=rec.title,
        summary=_system_text(rec.summary, _free_texts(rec)),
        reason=_system_text(rec.reason, _free_texts(rec)),
        status=rec.status,
        requester=_label(directory, rec.requester_id),
        requester_id=rec.requester_id,
        created_at=rec.created_at,
        changes=_changes(rec),
        route=stages,
        stage=rec.stage.name if rec.stage and pending else None,
        sla=stage_sla if pending else None,
        waited=waited,
        overdue=bool(pending and stage_sla is not None and waited is not None and waited > stage_sla),
        expires_at=rec.expires_at,
        warnings=_warnings(rec),
        quotes=_quotes(rec, directory),
        can_decide=can,
        may_delegate=can and rec.stage is not None and rec.stage.mode == "any",
        decided_by=_label(directory, rec.decided_by) if rec.decided_by else None,
        executed_at=rec.executed_at,
        result=_text(rec.result) if show_result and rec.result is not None else None,
        votes=[f"{_label(directory, v.approver_id)} {v.decision}d stage {v.stage + 1}" for v in rec.votes],
        end=end,
        batch_id=batch_id,
    )


def duration(td: timedelta | None) -> str:
    if td is None:
        return "—"
    minutes = int(td.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{hours // 24} days {hours % 24} h"


__all__ = ["Card", "Change", "Quote", "StageLine", "card", "duration"]
