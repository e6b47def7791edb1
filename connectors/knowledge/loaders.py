"""Read documents from disk into a structured form: title, access groups, and sections with their
heading path. Markdown, plain text, HTML and PDF. (DOCX is not supported: python-docx is not a
dependency.)

Per-document metadata comes from YAML front matter in Markdown and text files::

    ---
    title: Expense policy
    groups: [hr, finance]       # who may read it; omit for everyone
    updated: 2026-03-01
    uri: https://intranet.example/handbook/expense-policy   # optional; default file://...
    id: expense-policy          # optional; default: the path relative to the ingested folder
    ---

and from ``<title>`` / ``<meta name="groups|updated|uri|id" content="...">`` in HTML. PDFs use
their document info title. A document that names no groups gets the ingest-time default.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx")


class DocumentError(ValueError):
    """A file could not be read as a document (bad front matter, unreadable PDF...)."""


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path (outermost heading first)."""

    path: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    uri: str
    updated: str  # ISO 8601 date or datetime
    # Groups named by the document itself; None when it names none (the ingest default applies).
    groups: frozenset[str] | None
    sections: tuple[Section, ...]
    content_hash: str  # sha256 of the file's bytes
    format: str  # "markdown" | "text" | "html" | "pdf"
    source_path: str


def iter_files(root: Path) -> Iterator[Path]:
    """Supported files under ``root`` (or ``root`` itself), in a stable order; hidden ones skipped."""
    if root.is_file():
        if root.suffix.lower() in SUPPORTED_SUFFIXES:
            yield root
        return
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if any(part.startswith((".", "_")) for part in rel.parts):
            continue
        if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES:
            yield p


def unsupported_files(root: Path) -> dict[str, str]:
    """Files under ``root`` that ingestion leaves out, each with the reason (so none is silent)."""
    if root.is_file():
        paths = [root]
    else:
        paths = [
            p
            for p in sorted(root.rglob("*"))
            if p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)
        ]
    out = {}
    for p in paths:
        suffix = p.suffix.lower()
        if suffix in SUPPORTED_SUFFIXES:
            continue
        if suffix == ".doc":
            out[str(p)] = "legacy Word .doc is not supported; save it as .docx"
        else:
            out[str(p)] = f"unsupported file type {suffix or '(none)'!r}; supported: {', '.join(SUPPORTED_SUFFIXES)}"
    return out


def default_doc_id(path: Path, root: Path) -> str:
    rel = path.name if root.is_file() else path.relative_to(root).as_posix()
    stem = rel.rsplit(".", 1)[0]
    return slug(stem)


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9/_.-]+", "-", text.lower()).strip("-/")
    if not s:
        raise DocumentError(f"cannot derive a document id from {text!r}; set 'id:' in its front matter")
    return s


def load_document(path: Path, root: Path | None = None) -> Document:
    """Read one file. ``root`` is the ingested folder (it scopes the default document id)."""
    root = root or path
    raw = path.read_bytes()
    suffix = path.suffix.lower()
    digest = hashlib.sha256(raw).hexdigest()
    mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).date().isoformat()
    if suffix in (".md", ".markdown", ".txt"):
        text = _decode(raw, path)
        meta, body = split_front_matter(text, path)
        if suffix == ".txt":
            sections = _text_sections(body)
            fmt = "text"
        else:
            sections = markdown_sections(body)
            fmt = "markdown"
        title = str(meta.get("title") or _first_heading(sections) or _title_from_name(path))
        sections = _drop_title_heading(sections, title)
    elif suffix in (".html", ".htm"):
        meta, title_found, sections = _html(_decode(raw, path))
        title = str(meta.get("title") or title_found or _title_from_name(path))
        sections = _drop_title_heading(sections, title)
        fmt = "html"
    elif suffix == ".pdf":
        meta, title_found, sections = _pdf(path)
        title = str(meta.get("title") or title_found or _title_from_name(path))
        fmt = "pdf"
    elif suffix == ".docx":
        meta, title_found, sections = _docx(path)
        title = str(meta.get("title") or title_found or _title_from_name(path))
        sections = _drop_title_heading(sections, title)
        fmt = "docx"
    else:
        raise DocumentError(f"{path}: unsupported file type {suffix!r}; use one of {SUPPORTED_SUFFIXES}")
    doc_id = slug(str(meta["id"])) if meta.get("id") else default_doc_id(path, root)
    return Document(
        doc_id=doc_id,
        title=title.strip(),
        uri=str(meta.get("uri") or path.resolve().as_uri()),
        updated=_iso(meta.get("updated")) or mtime,
        groups=parse_groups(meta.get("groups"), path),
        sections=tuple(s for s in sections if s.text.strip()),
        content_hash=digest,
        format=fmt,
        source_path=str(path.resolve()),
    )


def _docx(path: Path) -> tuple[dict[str, Any], str | None, list[Section]]:
    """Word paragraphs and tables, headings kept as the section path (like Markdown's)."""
    try:
        import docx
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DocumentError(f"{path}: reading .docx needs the python-docx package") from exc
    try:
        word = docx.Document(str(path))
    except Exception as exc:  # python-docx raises zipfile/lxml/KeyError types for broken files
        raise DocumentError(f"{path}: not a readable .docx file ({type(exc).__name__})") from exc
    lines: list[str] = []
    title: str | None = None
    for para in word.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        style = (para.style.name if para.style is not None else "") or ""
        level = re.fullmatch(r"Heading (\d)", style)
        if style == "Title" and title is None:
            title = text
        elif level:
            lines.append("#" * int(level.group(1)) + " " + text)
        else:
            lines.append(text)
        lines.append("")
    for table in word.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells]
            if any(cells):
                lines.append(" | ".join(cells))
        lines.append("")
    meta: dict[str, Any] = {}
    props = word.core_properties
    if props.title:
        meta["title"] = props.title
    if props.keywords and props.keywords.lower().startswith("groups:"):
        meta["groups"] = [g.strip() for g in props.keywords.split(":", 1)[1].split(",") if g.strip()]
    sections = markdown_sections("\n".join(lines))
    return meta, title or _first_heading(sections), sections


def parse_groups(value: Any, where: object = "groups") -> frozenset[str] | None:
    """``[hr, finance]`` or ``"hr, finance"`` -> frozenset; None/empty -> None (not specified)."""
    if value is None:
        return None
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, list | tuple | set | frozenset):
        items = [str(v).strip() for v in value]
    else:
        raise DocumentError(f"{where}: 'groups' must be a list of group names, got {value!r}")
    groups = frozenset(i for i in items if i)
    bad = [g for g in groups if not re.fullmatch(r"[A-Za-z0-9_.-]+", g)]
    if bad:
        raise DocumentError(f"{where}: invalid group name(s) {sorted(bad)}; use letters, digits, _ . -")
    return groups or None


_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)


def split_front_matter(text: str, where: object = "document") -> tuple[dict[str, Any], str]:
    m = _FRONT.match(text)
    if not m:
        return {}, text
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as exc:
        raise DocumentError(f"{where}: front matter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise DocumentError(f"{where}: front matter must be a YAML mapping")
    return meta, text[m.end() :]


def markdown_sections(body: str) -> list[Section]:
    """Split Markdown at its headings (ATX and setext; not inside code fences)."""
    from markdown_it import MarkdownIt

    lines = body.splitlines()
    tokens = MarkdownIt("commonmark").enable("table").parse(body)
    heads: list[tuple[int, int, int, str]] = []  # start line, end line, level, text
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.map is not None and tok.level == 0:
            text = tokens[i + 1].content.strip() if i + 1 < len(tokens) else ""
            heads.append((tok.map[0], tok.map[1], int(tok.tag[1]), text))
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    cursor = 0
    path: tuple[str, ...] = ()
    for start, end, level, text in heads:
        sections.append(Section(path, "\n".join(lines[cursor:start]).strip()))
        while trail and trail[-1][0] >= level:
            trail.pop()
        trail.append((level, text))
        path = tuple(t for _, t in trail)
        cursor = end
    sections.append(Section(path, "\n".join(lines[cursor:]).strip()))
    # Keep heading-only sections (no body) out, but their names live on in children's paths.
    return [s for s in sections if s.text or not s.path]


def _text_sections(body: str) -> list[Section]:
    return [Section((), body.strip())]


def _first_heading(sections: list[Section]) -> str | None:
    for s in sections:
        if s.path:
            return s.path[0]
    return None


def _drop_title_heading(sections: list[Section], title: str) -> list[Section]:
    """A top heading that repeats the title adds nothing to section paths."""
    norm = title.strip().lower()
    if sections and all(not s.path or s.path[0].strip().lower() == norm for s in sections):
        return [Section(s.path[1:], s.text) for s in sections]
    return sections


def _title_from_name(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize()


def _decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _iso(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_BLOCKS = ("p", "li", "pre", "tr", "blockquote", "dt", "dd")


def _html(text: str) -> tuple[dict[str, Any], str | None, list[Section]]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    for bad in soup(["script", "style", "noscript", "template"]):
        bad.decompose()
    meta: dict[str, Any] = {}
    for tag in soup.find_all("meta"):
        name = str(tag.get("name") or "").lower()
        if name in ("groups", "updated", "uri", "id", "title"):
            meta[name] = str(tag.get("content") or "")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    root = soup.body or soup
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    buf: list[str] = []

    def flush() -> None:
        sections.append(Section(tuple(t for _, t in trail), "\n\n".join(buf).strip()))
        buf.clear()

    for el in root.find_all([*_HEADINGS, *_BLOCKS]):
        if el.name in _HEADINGS:
            flush()
            level = int(el.name[1])
            while trail and trail[-1][0] >= level:
                trail.pop()
            trail.append((level, el.get_text(" ", strip=True)))
            if title is None and level == 1:
                title = trail[-1][1]
            continue
        if el.find_parent(list(_BLOCKS)) is not None:
            continue  # already included with its enclosing block
        if el.name == "tr":
            cells = [c.get_text(" ", strip=True) for c in el.find_all(["td", "th"])]
            line = " | ".join(c for c in cells if c)
        else:
            line = el.get_text(" ", strip=True)
            if el.name == "li":
                line = "- " + line
        if line:
            buf.append(line)
    flush()
    return meta, title, [s for s in sections if s.text or not s.path]


_PDF_HEADING = re.compile(r"^\d+(\.\d+)*\.?\s+[A-Z][^.!?]{1,70}$")


def _pdf(path: Path) -> tuple[dict[str, Any], str | None, list[Section]]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        info = reader.metadata
        title = str(info.title) if info is not None and info.title else None
        pages = [(p.extract_text() or "") for p in reader.pages]
    except (PdfReadError, OSError, ValueError) as exc:
        raise DocumentError(f"{path}: cannot read PDF: {exc}") from exc
    sections: list[Section] = []
    heading: str | None = None
    buf: list[str] = []

    def flush(page: int) -> None:
        if buf:
            sections.append(Section((heading,) if heading else (f"Page {page}",), "\n".join(buf).strip()))
            buf.clear()

    for number, page_text in enumerate(pages, start=1):
        for line in page_text.splitlines():
            stripped = line.strip()
            if title is not None and stripped == title and not sections and not buf:
                continue
            # Numbered lines such as "2. Battery handling" open a section.
            if _PDF_HEADING.match(stripped):
                flush(number)
                heading = stripped
                continue
            buf.append(line.rstrip())
        if heading is None:
            flush(number)
    flush(len(pages))
    return {}, title, sections


__all__ = [
    "SUPPORTED_SUFFIXES",
    "Document",
    "DocumentError",
    "Section",
    "default_doc_id",
    "iter_files",
    "load_document",
    "markdown_sections",
    "parse_groups",
    "slug",
    "split_front_matter",
    "unsupported_files",
]
