"""Structure-aware chunking: a chunk never crosses a section boundary, and carries its document
title and heading path as context.

The chunk's ``text`` is the exact passage (what a citation quotes). ``indexed_text`` prefixes it
with the title and section path; that is what gets embedded and BM25-indexed, so a paragraph
under "Receipts" matches a question about receipts even if the word is only in the heading.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property

from connectors.knowledge.loaders import Document

# all-MiniLM-L6-v2 reads at most 256 word pieces; ~160 words stay under that with the context.
DEFAULT_MAX_WORDS = 160
SECTION_SEP = " > "


@dataclass(frozen=True)
class Chunk:
    doc_id: str
    index: int  # position within the document, from 0
    text: str  # the exact passage
    section: tuple[str, ...]
    title: str

    @property
    def id(self) -> str:
        return f"{self.doc_id}#{self.index}"

    @property
    def section_label(self) -> str:
        return SECTION_SEP.join(self.section)

    # Cached: ingest reads both several times per chunk (plan, metadata, keyword index).
    @cached_property
    def indexed_text(self) -> str:
        return indexed_text(self.title, self.section_label, self.text)

    @cached_property
    def hash(self) -> str:
        """Identifies what gets embedded: equal hashes can share an embedding."""
        return hashlib.sha256(self.indexed_text.encode()).hexdigest()


def indexed_text(title: str, section_label: str, text: str) -> str:
    """What is embedded and keyword-indexed for a passage: its context, then the passage."""
    head = f"{title}{SECTION_SEP}{section_label}" if section_label else title
    return f"{head}\n\n{text}"


def chunk_document(doc: Document, max_words: int = DEFAULT_MAX_WORDS) -> list[Chunk]:
    chunks: list[Chunk] = []
    for section in doc.sections:
        for text in _pack(_blocks(section.text), max_words):
            chunks.append(Chunk(doc.doc_id, len(chunks), text, section.path, doc.title))
    return chunks


def _blocks(text: str) -> list[str]:
    """Paragraph-ish blocks: separated by blank lines (a list or table stays one block)."""
    return [b.strip("\n") for b in re.split(r"\n[ \t]*\n", text) if b.strip()]


def _words(text: str) -> int:
    return len(text.split())


def _pack(blocks: list[str], max_words: int) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    size = 0
    for block in blocks:
        pieces = [block] if _words(block) <= max_words else _split_long(block, max_words)
        for piece in pieces:
            n = _words(piece)
            if cur and size + n > max_words:
                out.append("\n\n".join(cur))
                cur, size = [], 0
            cur.append(piece)
            size += n
    if cur:
        out.append("\n\n".join(cur))
    return out


def _split_long(block: str, max_words: int) -> list[str]:
    """Split an oversized block at line, then sentence, then word boundaries."""
    units = block.splitlines() if "\n" in block else re.split(r"(?<=[.!?])\s+", block)
    out: list[str] = []
    cur: list[str] = []
    size = 0
    joiner = "\n" if "\n" in block else " "
    for unit in units:
        words = unit.split()
        while len(words) > max_words:  # a single enormous sentence
            if cur:
                out.append(joiner.join(cur))
                cur, size = [], 0
            out.append(" ".join(words[:max_words]))
            words = words[max_words:]
        unit = " ".join(words) if len(words) != len(unit.split()) else unit
        if cur and size + len(words) > max_words:
            out.append(joiner.join(cur))
            cur, size = [], 0
        if words:
            cur.append(unit)
            size += len(words)
    if cur:
        out.append(joiner.join(cur))
    return out


__all__ = ["DEFAULT_MAX_WORDS", "SECTION_SEP", "Chunk", "chunk_document", "indexed_text"]
