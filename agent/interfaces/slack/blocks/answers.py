"""Answers in Block Kit: the text, numbered citations, tables inline or as uploads, errors, help."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent.events import Answer, Table
from agent.interfaces.slack.blocks.text import (
    _CELL,
    _MAX_BLOCKS,
    _SECTION_LIMIT,
    MAX_INLINE_COLS,
    MAX_INLINE_ROWS,
    Block,
    _chunks,
    _clip,
    _context,
    _section,
    escape,
    mrkdwn,
)


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
