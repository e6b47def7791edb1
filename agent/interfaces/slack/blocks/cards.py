"""Approval cards: what approvers see before and after a decision, the reject modal, the pending list."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from agent.events import ApprovalView, RouteStage
from agent.interfaces.slack.blocks.text import (
    _MAX_BLOCKS,
    _VALUE,
    APPROVE_ACTION,
    OPEN_STATUSES,
    REASON_BLOCK,
    REASON_INPUT,
    REJECT_ACTION,
    REJECT_CALLBACK,
    RETRY_ACTION,
    Block,
    Labeler,
    _chunks,
    _clip,
    _context,
    _plain,
    _section,
    escape,
    mrkdwn,
)

# -- approval cards ------------------------------------------------------------------------------


def current_stage(view: ApprovalView) -> RouteStage | None:
    """The stage waiting for decisions now (None once the request is decided)."""
    if not is_open(view):
        return None
    for wanted in ("pending", "waiting"):
        for stage in view.stages:
            if stage.status == wanted:
                return stage
    return None


def is_open(view: ApprovalView) -> bool:
    return view.status in OPEN_STATUSES


def _value(value: Any) -> str:
    if value is None:
        return "_(empty)_"
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return escape(_clip(text, _VALUE)) or "_(empty)_"


def diff_lines(current: Mapping[str, Any], proposed: Mapping[str, Any]) -> list[str]:
    """One line per field that changes: ``*field*: ~old~ → new`` (or just the new value)."""
    lines: list[str] = []
    for key in [*proposed.keys(), *(k for k in current if k not in proposed)]:
        new = proposed.get(key)
        if key in current:
            old = current[key]
            if old == new:
                continue
            lines.append(f"• *{escape(str(key))}*: ~{_value(old)}~ → {_value(new)}")
        else:
            lines.append(f"• *{escape(str(key))}*: {_value(new)}")
    return lines


def _card_body(view: ApprovalView, label: Labeler) -> list[Block]:
    blocks: list[Block] = [
        {"type": "header", "text": _plain(f"Approval needed: {view.title}")},
        # The summary names records read from other systems: plain text, never markup.
        _section(f"*{escape(view.requester_label)}* asked to: {escape(view.summary)}"),
    ]
    changes = diff_lines(view.current, view.proposed)
    if changes:
        heading = "*What will change* (current → proposed)" if view.current else "*What will be created*"
        for chunk in _chunks(heading + "\n" + "\n".join(changes)):
            blocks.append(_section(chunk))
    else:
        blocks.append(_section("*What will change*: nothing differs from the current record."))
    blocks.append(_section(f"*Why approval is needed*: {mrkdwn(view.reason)}"))
    quoted = quoted_lines(view)
    if quoted:
        heading = "*Text written by others* (quoted as data, not the system's words)"
        for chunk in _chunks(heading + "\n" + "\n".join(quoted)):
            blocks.append(_section(chunk))
    if view.related:
        blocks.append(_section("*Related requests* (same person, kind and period): " + escape(", ".join(view.related))))
    warning = _taint_warning(view)
    if warning:
        blocks.append(_section(warning))
    blocks.append(_context(_route_text(view, label)))
    return blocks


def quoted_lines(view: ApprovalView) -> list[str]:
    """Each free-text field as a quote with its source: ``> “…” — description, from the requester``."""
    out = []
    for q in view.quoted:
        text = escape(_clip(" ".join(q.text.split()), 500))
        out.append(f"> “{text}” — _{escape(q.field)}, {escape(q.source)}_")
    return out


def _taint_warning(view: ApprovalView) -> str:
    parts: list[str] = []
    if view.untrusted_sources:
        parts.append("drafted after reading untrusted content (" + escape(", ".join(view.untrusted_sources)) + ")")
    if view.tainted_arguments:
        parts.append("fields that came from that content: " + escape(", ".join(view.tainted_arguments)))
    if view.injection_score >= 0.5:
        parts.append(f"possible prompt injection (score {view.injection_score:.2f})")
    if view.flags:
        parts.append("flags: " + escape(", ".join(view.flags)))
    if not parts:
        return ""
    return ":warning: *Check carefully* — " + "; ".join(parts) + "."


def _route_text(view: ApprovalView, label: Labeler) -> str:
    stages = []
    for i, stage in enumerate(view.stages, start=1):
        who = ", ".join(escape(label(a)) for a in stage.approvers) or "nobody"
        mode = "all of" if stage.mode == "all" and len(stage.approvers) > 1 else ""
        stages.append(f"{i}. {escape(stage.name)} ({stage.status}): {mode + ' ' if mode else ''}{who}")
    route = " · ".join(stages) or "no route"
    expires = f" · expires {view.expires_at:%Y-%m-%d %H:%M} UTC" if view.expires_at else ""
    return f"Route: {route}{expires} · request `{escape(view.id)}`"


def approval_buttons(approval_id: str) -> Block:
    return {
        "type": "actions",
        "block_id": f"approval:{approval_id}"[:255],
        "elements": [
            {
                "type": "button",
                "action_id": APPROVE_ACTION,
                "text": _plain("Approve"),
                "style": "primary",
                "value": approval_id,
            },
            {
                "type": "button",
                "action_id": REJECT_ACTION,
                "text": _plain("Reject…"),
                "style": "danger",
                "value": approval_id,
            },
        ],
    }


def approval_card(view: ApprovalView, label: Labeler = str) -> tuple[str, list[Block]]:
    """``(fallback text, blocks)`` of the card approvers act on."""
    text = f"Approval needed: {view.title} — requested by {view.requester_label}"
    return text, [*_card_body(view, label), approval_buttons(view.id)]


_MARKS = {
    "approved": ":white_check_mark:",
    "executing": ":gear:",
    "executed": ":white_check_mark:",
    "failed": ":warning:",
    "rejected": ":x:",
    "expired": ":alarm_clock:",
    "withdrawn": ":leftwards_arrow_with_hook:",
    "stale": ":no_entry_sign:",
}


def decision_text(view: ApprovalView, label: Labeler = str) -> str:
    """What became of the request: its end state (agent/end_state.py) once it is decided, so a
    card never says "approved" about an action that failed or went stale."""
    by = label(view.decided_by) if view.decided_by else "someone"
    if view.status in OPEN_STATUSES:
        stage = current_stage(view)
        who = ", ".join(escape(label(a)) for a in stage.approvers) if stage else "the next approver"
        return f":hourglass_flowing_sand: Stage approved by {escape(by)}; now waiting for {who}"
    if view.end is not None:
        text = f"{_MARKS.get(view.status, ':information_source:')} {escape(view.end.headline)}"
        if view.end.retry_command:
            who = ", ".join(escape(w) for w in view.end.retry_by)
            text += f"\n*Who can retry*: {who} — `{escape(view.end.retry_command)}`"
        return text
    if view.status == "approved" or view.status in ("executed", "done", "executing"):
        return f":white_check_mark: Approved by {escape(by)}"
    if view.status == "rejected":
        why = f": “{escape(view.decision_reason)}”" if view.decision_reason else ""
        return f":x: Rejected by {escape(by)}{why}"
    why = f" ({escape(view.decision_reason)})" if view.decision_reason else ""
    special = {
        "failed": f":warning: Approved by {escape(by)}, but the change failed",
        "expired": ":alarm_clock: Expired without a decision",
        "withdrawn": ":leftwards_arrow_with_hook: Withdrawn by the requester",
        "stale": ":no_entry_sign: No longer valid: the record changed after the request was made",
    }
    return special.get(view.status, f":no_entry_sign: {escape(view.status.replace('_', ' ').capitalize())}") + why


def retry_button(approval_id: str) -> Block:
    return {
        "type": "actions",
        "block_id": f"retry:{approval_id}"[:255],
        "elements": [
            {"type": "button", "action_id": RETRY_ACTION, "text": _plain("Retry"), "value": approval_id},
        ],
    }


def decided_card(view: ApprovalView, label: Labeler = str) -> tuple[str, list[Block]]:
    """The card after a decision: same facts, no buttons, who decided and why."""
    status = decision_text(view, label)
    body = _card_body(view, label)
    body[0] = {"type": "header", "text": _plain(f"Approval: {view.title}")}
    blocks = [*body, _section(status)]
    if view.status == "failed" and view.end is not None and view.end.retry_command:
        blocks.append(retry_button(view.id))
    return f"{view.title}: {status}", blocks


def reject_modal(view: ApprovalView, *, channel: str | None = None) -> dict[str, Any]:
    """The modal asking for a rejection reason; the request id travels in private_metadata."""
    meta = json.dumps({"approval_id": view.id, "channel": channel})
    return {
        "type": "modal",
        "callback_id": REJECT_CALLBACK,
        "private_metadata": meta,
        "title": _plain("Reject request", 24),
        "submit": _plain("Reject", 24),
        "close": _plain("Cancel", 24),
        "blocks": [
            _section(f"*{escape(view.title)}* requested by {escape(view.requester_label)}"),
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": _plain("Why are you rejecting it?"),
                "hint": _plain("The requester and the assistant will see this.", 150),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": True,
                    "min_length": 3,
                    "max_length": 1000,
                },
            },
        ],
    }


def pending_list(views: Sequence[ApprovalView], label: Labeler = str, *, limit: int = 10) -> list[Block]:
    """``/chamberlain approvals``: a card per waiting item (with buttons), newest first."""
    if not views:
        return [_section(":tada: Nothing is waiting for your approval.")]
    blocks: list[Block] = [_section(f"*{len(views)} request(s) waiting for you*")]
    for view in list(views)[:limit]:
        blocks.append({"type": "divider"})
        blocks.append(
            _section(f"*{escape(view.title)}* — {escape(view.requester_label)}\n{escape(_clip(view.summary, 500))}")
        )
        blocks.append(approval_buttons(view.id))
    if len(views) > limit:
        blocks.append(_context(f"…and {len(views) - limit} more."))
    return blocks[:_MAX_BLOCKS]
