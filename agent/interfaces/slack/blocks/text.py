"""Block Kit basics shared by every renderer: action ids, Slack's limits, mrkdwn escaping, sections."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

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
