"""A minimal PDF writer for the demo's text-only documents: pages of left-aligned lines in the
standard Helvetica fonts (the PDF base-14 fonts every reader has, so nothing is embedded).

Written by hand because the demo needs one two-page text PDF at seed time, and rendering it
with matplotlib cost more than a second per seed (importing pyplot, then subsetting and
embedding a TrueType font) for a file of a few kilobytes. The output is deterministic: no
dates, no ids, so the same lines give the same bytes (and the same content hash at ingest).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

A4 = (595.28, 841.89)  # points
_FONTS = {"regular": ("F1", "Helvetica"), "bold": ("F2", "Helvetica-Bold")}


@dataclass(frozen=True)
class Line:
    """One line of text, its baseline ``y`` a fraction of the page height from the bottom."""

    text: str
    y: float
    size: float = 10.0
    weight: str = "regular"  # "regular" | "bold"
    x: float = 0.08  # fraction of the page width from the left


def _escape(text: str) -> bytes:
    # WinAnsi (cp1252) covers the demo's text; a literal string escapes only \ ( ).
    raw = text.encode("cp1252")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _content(lines: Sequence[Line], size: tuple[float, float]) -> bytes:
    width, height = size
    ops = [b"BT"]
    for line in lines:
        if line.weight not in _FONTS:
            raise ValueError(f"unknown font weight {line.weight!r}; use one of {', '.join(_FONTS)}")
        font = _FONTS[line.weight][0]
        ops.append(
            b"/%s %.2f Tf 1 0 0 1 %.2f %.2f Tm (%s) Tj"
            % (font.encode(), line.size, line.x * width, line.y * height, _escape(line.text))
        )
    ops.append(b"ET")
    return b"\n".join(ops)


def write_text_pdf(path: Path, pages: Sequence[Sequence[Line]], *, title: str, size: tuple[float, float] = A4) -> Path:
    """Write ``pages`` of lines to ``path`` as a PDF whose document info title is ``title``."""
    if not pages:
        raise ValueError("a PDF needs at least one page")
    n_pages = len(pages)
    # Objects: 1 catalog, 2 page tree, 3-4 fonts, 5 info, then a page and its content per page.
    page_ids = [6 + 2 * i for i in range(n_pages)]
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % p for p in page_ids), n_pages),
        5: b"<< /Title (%s) /Producer (Chamberlain) >>" % _escape(title),
    }
    for obj, (_, base) in zip((3, 4), _FONTS.values(), strict=True):
        objects[obj] = b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>" % base.encode()
    for page_id, lines in zip(page_ids, pages, strict=True):
        stream = _content(lines, size)
        objects[page_id] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] "
            b"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents %d 0 R >>" % (*size, page_id + 1)
        )
        objects[page_id + 1] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for obj in sorted(objects):
        offsets[obj] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (obj, objects[obj])
    xref = len(out)
    count = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % count
    out += b"".join(b"%010d 00000 n \n" % offsets[obj] for obj in range(1, count))
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 5 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (count, xref)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path


__all__ = ["A4", "Line", "write_text_pdf"]
