"""The demo's hand-written PDFs: valid, deterministic, and their text reads back as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader

from connectors.demo.handbook import SITE_SAFETY_GUIDE, SITE_SAFETY_TITLE, materialize, write_site_safety_pdf
from connectors.demo.pdf import Line, write_text_pdf
from connectors.knowledge import load_document


def test_text_pdf_reads_back_in_strict_mode(tmp_path: Path) -> None:
    pages = [
        [Line("Heading (with parentheses) \\ and a backslash", 0.9, 13, "bold"), Line("Body line, café.", 0.8)],
        [Line("Second page", 0.9)],
    ]
    reader = PdfReader(str(write_text_pdf(tmp_path / "t.pdf", pages, title="A (title)")), strict=True)
    assert reader.metadata is not None and reader.metadata.title == "A (title)"
    assert len(reader.pages) == 2
    first = reader.pages[0].extract_text().splitlines()
    assert first == ["Heading (with parentheses) \\ and a backslash", "Body line, café."]
    assert reader.pages[1].extract_text().strip() == "Second page"


def test_text_pdf_rejects_an_unknown_weight(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="weight"):
        write_text_pdf(tmp_path / "t.pdf", [[Line("x", 0.5, weight="italic")]], title="t")


def test_site_safety_pdf_is_deterministic_and_holds_every_section(tmp_path: Path) -> None:
    a = write_site_safety_pdf(tmp_path / "a.pdf").read_bytes()
    b = write_site_safety_pdf(tmp_path / "b.pdf").read_bytes()
    assert a == b  # same bytes, so a re-seed leaves its content hash (and its embeddings) alone
    doc = load_document(tmp_path / "a.pdf", tmp_path)
    assert doc.title == SITE_SAFETY_TITLE
    assert [s.path for s in doc.sections] == [(heading,) for heading, _ in SITE_SAFETY_GUIDE]
    for section, (_, body) in zip(doc.sections, SITE_SAFETY_GUIDE, strict=True):
        assert " ".join(section.text.split()) == body


def test_materialize_keeps_an_existing_pdf(tmp_path: Path) -> None:
    pdf = materialize(tmp_path) / "robot-site-safety-guide.pdf"
    before = pdf.stat().st_mtime_ns
    materialize(tmp_path)
    assert pdf.stat().st_mtime_ns == before
