"""The batch card: the writes one turn proposed, each with its own buttons, and "Approve all"."""

from __future__ import annotations

from collections.abc import Sequence

from agent.events import ApprovalView
from agent.interfaces.slack.blocks.cards import (
    _route_text,
    _taint_warning,
    approval_buttons,
    current_stage,
    decision_text,
    diff_lines,
    is_open,
    quoted_lines,
    retry_button,
)
from agent.interfaces.slack.blocks.text import (
    _MAX_BLOCKS,
    APPROVE_ALL_ACTION,
    Block,
    Labeler,
    _chunks,
    _context,
    _plain,
    _section,
    escape,
)

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
