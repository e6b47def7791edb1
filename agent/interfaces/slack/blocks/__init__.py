"""Block Kit renderers. Pure functions: values in, JSON-able dicts out, no I/O.

- :func:`render_answer` — the answer text (Slack mrkdwn), numbered citation links, small tables
  inline, bigger tables and attachments as uploads.
- :func:`approval_card` / :func:`decided_card` — what approvers see, before and after a decision.
- :func:`reject_modal` — asks the rejecter why.
"""

from __future__ import annotations

from agent.interfaces.slack.blocks.answers import (
    HELP_TEXT,
    RenderedAnswer,
    Upload,
    error_blocks,
    help_blocks,
    render_answer,
    table_csv,
    table_fits_inline,
    table_text,
)
from agent.interfaces.slack.blocks.batches import batch_card
from agent.interfaces.slack.blocks.cards import (
    approval_buttons,
    approval_card,
    current_stage,
    decided_card,
    decision_text,
    diff_lines,
    is_open,
    pending_list,
    reject_modal,
    retry_button,
)
from agent.interfaces.slack.blocks.text import (
    APPROVE_ACTION,
    APPROVE_ALL_ACTION,
    MAX_INLINE_COLS,
    MAX_INLINE_ROWS,
    REASON_BLOCK,
    REASON_INPUT,
    REJECT_ACTION,
    REJECT_CALLBACK,
    RETRY_ACTION,
    escape,
    mrkdwn,
)

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
