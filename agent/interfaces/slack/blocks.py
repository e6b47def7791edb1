"""Block Kit renderers. Pure functions: values in, JSON-able dicts out, no I/O.

- :func:`render_answer` — the answer text (Slack mrkdwn), numbered citation links, small tables
  inline, bigger tables and attachments as uploads.
- :func:`approval_card` / :func:`decided_card` — what approvers see, before and after a decision.
- :func:`reject_modal` — asks the rejecter why.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.events import Answer, ApprovalView, RouteStage, Table

APPROVE_ACTION = "chamberlain_approve"
REJECT_ACTION = "chamberlain_reject"
APPROVE_ALL_ACTION = "chamberlain_approve_all"
RETRY_ACTION = "chamberlain_retry"
REJECT_CALLBACK = "chamberlain_reject_reason"
REASON_BLOCK = "reason"
REASON_INPUT = "reason_input"

MAX_INLINE_ROWS = 10
MAX_INLINE_COLS = 6
_SECTION_LIMIT = 2900  # Slack allows 3000 characters per section text
_MAX_BLOCKS = 50
_CELL = 28  # characters per table cell inline
_VALUE = 300  # characters per value in a card diff

#: Statuses in which a request still waits for someone.
OPEN_STATUSES = frozenset({"pending", "waiting", "open", "in_progress"})

Block = dict[str, Any]
Labeler = Callable[[str], str]


@dataclass(frozen=True)
class Upload:
    """A file to upload next to a message: a big table as CSV, or an attachment on disk."""

    filename: str
    title: str
    content: bytes | None = None
    path: str | None = None


@dataclass(frozen=True)
class RenderedAnswer:
    text: str  # notification / fallback text
    blocks: list[Block]
    uploads: tuple[Upload, ...] = ()


# -- text ----------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.MULTILINE)


def mrkdwn(markdown: str) -> str:
    """Common Markdown (bold, links, headings) as Slack mrkdwn, with control characters escaped."""
    text = escape(markdown)
    text = _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", text)
    text = _BOLD.sub(r"*\1*", text)
    return _HEADING.sub(r"*\1*", text)


def _chunks(text: str, limit: int = _SECTION_LIMIT) -> list[str]:
    """Split at paragraph, then line, then hard boundaries so each piece fits a section."""
    out: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = rest.rfind("\n\n", 0, limit)
        if cut < limit // 2:
            cut = rest.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = limit
        out.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        out.append(rest)
    return out


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _fit(text)}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _fit(text)}]}


_TEXT_LIMIT = 3000  # Slack refuses a section or context text longer than this (invalid_blocks)


def _fit(text: str, limit: int = _TEXT_LIMIT) -> str:
    """Clip mrkdwn to Slack's limit without cutting an ``&amp;`` entity or a ``<link|label>`` in two."""
    if len(text) <= limit:
        return text or " "
    cut = limit - 1
    for opener, closer in (("<", ">"), ("&", ";")):
        start = text.rfind(opener, 0, cut)
        if start != -1 and text.find(closer, start, cut) == -1:
            cut = start
    return text[:cut] + "…"


def _plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": _clip(text, limit) or " ", "emoji": True}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- answers -------------------------------------------------------------------------------------


def table_fits_inline(table: Table) -> bool:
    return len(table.rows) <= MAX_INLINE_ROWS and len(table.columns) <= MAX_INLINE_COLS


def table_text(table: Table) -> str:
    """A monospace table (inside a code block), columns padded to their widest cell."""
    header = [_clip(str(c), _CELL) for c in table.columns]
    rows = [[_clip(_cell(v), _CELL) for v in row] for row in table.rows]
    widths = [max([len(header[i])] + [len(r[i]) for r in rows if i < len(r)]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()

    body = [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    # Inside ``` Slack shows text verbatim, but &, <, > must still be escaped.
    return "```\n" + escape("\n".join(body)) + "\n```"


def table_csv(table: Table) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(list(table.columns))
    for row in table.rows:
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue().encode("utf-8")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def citation_line(number: int, title: str, section: str = "", uri: str = "") -> str:
    label = escape(f"{title} — {section}" if section else title)
    return f"[{number}] <{uri}|{label}>" if uri else f"[{number}] {label}"


def render_answer(answer: Answer) -> RenderedAnswer:
    blocks: list[Block] = [_section(chunk) for chunk in _chunks(mrkdwn(answer.text))]
    uploads: list[Upload] = []
    for i, table in enumerate(answer.tables, start=1):
        title = table.title or f"Table {i}"
        if table_fits_inline(table) and len(table_text(table)) <= _SECTION_LIMIT:
            if table.title:
                blocks.append(_section(f"*{escape(table.title)}*"))
            blocks.append(_section(table_text(table)))
            if table.truncated:
                blocks.append(_context("Showing the first rows only; the result was truncated."))
        else:
            name = re.sub(r"[^A-Za-z0-9_-]+", "_", title).strip("_").lower() or f"table_{i}"
            uploads.append(Upload(filename=f"{name}.csv", title=title, content=table_csv(table)))
            blocks.append(
                _context(
                    f":page_facing_up: *{escape(title)}*: {len(table.rows)} rows × {len(table.columns)}"
                    f" columns, attached as CSV{' (truncated)' if table.truncated else ''}."
                )
            )
    for att in answer.attachments:
        uploads.append(Upload(filename=att.path.rsplit("/", 1)[-1], title=att.title, path=att.path))
    if answer.citations:
        lines = [citation_line(c.number, c.title, c.section, c.uri) for c in answer.citations]
        blocks.append({"type": "divider"})
        for chunk in _chunks("*Sources*\n" + "\n".join(lines)):
            blocks.append(_context(chunk) if len(chunk) <= 2000 else _section(chunk))
    if len(blocks) > _MAX_BLOCKS:
        blocks = [*blocks[: _MAX_BLOCKS - 1], _context("(answer shortened to fit in one Slack message)")]
    fallback = _clip(mrkdwn(answer.text), 3000) or "Here is what I found."
    return RenderedAnswer(text=fallback, blocks=blocks, uploads=tuple(uploads))


def error_blocks(message: str, *, retryable: bool) -> tuple[str, list[Block]]:
    hint = (
        "This looks temporary: try again in a minute, here in this thread."
        if retryable
        else "You can rephrase or ask something else here in this thread."
    )
    text = f":warning: {message}"
    return text, [_section(mrkdwn(text)), _context(hint)]


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


# -- batch cards ---------------------------------------------------------------------------------


def batch_card(
    batch_id: str, views: Sequence[ApprovalView], label: Labeler = str, *, viewer: str | None = None
) -> tuple[str, list[Block]]:
    """One card for the writes one turn proposed: each item with its own diff and its own
    Approve / Reject (or its end state), and "Approve all" for the items waiting for ``viewer``.

    ``viewer``: the approver this copy is for; items of the batch routed to other people show
    only their title and route (approvers never receive more of a request than theirs).
    ``None``: the shared approvals channel card, which shows everything, like single cards."""
    requester = views[0].requester_label if views else "someone"
    open_items = [v for v in views if is_open(v)]
    mine = [v for v in open_items if viewer is None or _may_decide_now(v, viewer)]
    title = f"{len(views)} change{'s' if len(views) != 1 else ''} from {requester}"
    blocks: list[Block] = [
        {"type": "header", "text": _plain(("Approval needed: " if open_items else "Approvals: ") + title)},
        _context(
            "Proposed together in one conversation. Each change is its own request: approve or reject "
            "them one by one, or approve all the ones waiting for you."
        ),
    ]
    item_blocks: list[Block] = []
    for n, view in enumerate(views, start=1):
        item: list[Block] = [{"type": "divider"}]
        if viewer is not None and not _sees(view, viewer):
            item.append(
                _section(f"*{n}. {escape(view.title)}* — routed to other approvers; its details are shown to them.")
            )
            item.append(_context(decision_text(view, label) if not is_open(view) else _route_text(view, label)))
            item_blocks.extend(item)
            continue
        # The summary names records read from other systems: plain text, never markup.
        lines = [f"*{n}. {escape(view.title)}*: {escape(view.summary)}"]
        changes = diff_lines(view.current, view.proposed)
        lines.extend(changes or ["_nothing differs from the current record_"])
        item.extend(_section(chunk) for chunk in _chunks("\n".join(lines)))
        quoted = quoted_lines(view)
        if quoted:
            item.append(_section("_Text written by others (quoted as data):_\n" + "\n".join(quoted)))
        warning = _taint_warning(view)
        if warning:
            item.append(_section(warning))
        if is_open(view) and (viewer is None or _may_decide_now(view, viewer)):
            item.append(_context(_route_text(view, label)))
            item.append(approval_buttons(view.id))
        elif is_open(view):
            item.append(_context(_route_text(view, label)))
        else:
            item.append(_section(decision_text(view, label)))
            if view.status == "failed" and view.end is not None and view.end.retry_command:
                item.append(retry_button(view.id))
        item_blocks.extend(item)
    tail: list[Block] = []
    if len(mine) >= 2:
        tail.append(
            {
                "type": "actions",
                "block_id": f"batch:{batch_id}"[:255],
                "elements": [
                    {
                        "type": "button",
                        "action_id": APPROVE_ALL_ACTION,
                        "text": _plain(f"Approve all {len(mine)}"),
                        "style": "primary",
                        "value": batch_id,
                    }
                ],
            }
        )
    tail.append(_context(f"Batch `{escape(batch_id)}` · {len(open_items)} of {len(views)} still open"))
    room = _MAX_BLOCKS - len(blocks) - len(tail)
    if len(item_blocks) > room:
        item_blocks = [*item_blocks[: room - 1], _context("(more items: see `chamberlain approvals show`)")]
    status = f"{len(open_items)} of {len(views)} waiting" if open_items else "all decided"
    return f"Approval needed: {title} ({status})", [*blocks, *item_blocks, *tail]


def _sees(view: ApprovalView, viewer: str) -> bool:
    return viewer == view.requester_id or any(viewer in s.approvers for s in view.stages)


def _may_decide_now(view: ApprovalView, viewer: str) -> bool:
    stage = current_stage(view)
    return stage is not None and viewer in stage.approvers and viewer != view.requester_id


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


HELP_TEXT = (
    "*Chamberlain* answers questions from the CRM, the warehouse and the handbook, within your "
    "permissions, and asks the right people before it changes anything.\n"
    "• `/chamberlain ask <question>` — start a conversation (I answer in a thread)\n"
    "• `/chamberlain approvals` — requests waiting for your approval\n"
    "• `/chamberlain help` — this message\n"
    "You can also mention me in a channel or send me a direct message; reply in the thread to continue."
)


def help_blocks() -> list[Block]:
    return [_section(HELP_TEXT)]


__all__ = [
    "APPROVE_ACTION",
    "APPROVE_ALL_ACTION",
    "HELP_TEXT",
    "MAX_INLINE_COLS",
    "MAX_INLINE_ROWS",
    "REASON_BLOCK",
    "REASON_INPUT",
    "REJECT_ACTION",
    "REJECT_CALLBACK",
    "RETRY_ACTION",
    "RenderedAnswer",
    "Upload",
    "approval_buttons",
    "approval_card",
    "batch_card",
    "current_stage",
    "decided_card",
    "decision_text",
    "diff_lines",
    "error_blocks",
    "escape",
    "help_blocks",
    "is_open",
    "mrkdwn",
    "pending_list",
    "reject_modal",
    "render_answer",
    "retry_button",
    "table_csv",
    "table_fits_inline",
    "table_text",
]
