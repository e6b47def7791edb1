""".docx files are loaded (headings become section paths); what cannot be ingested is named with
the reason instead of being skipped silently."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest

from connectors.knowledge.loaders import DocumentError, iter_files, load_document, unsupported_files


def _write_docx(path: Path) -> None:
    d = docx.Document()
    d.core_properties.title = "Travel policy"
    d.core_properties.keywords = "groups: finance, hr"
    d.add_heading("Flights", level=1)
    d.add_paragraph("Book economy class for flights under six hours.")
    d.add_heading("Hotels", level=2)
    d.add_paragraph("Up to 180 USD a night in most cities.")
    t = d.add_table(rows=1, cols=2)
    t.rows[0].cells[0].text, t.rows[0].cells[1].text = "London", "250 USD"
    d.save(str(path))


def test_docx_sections_title_and_groups(tmp_path: Path) -> None:
    f = tmp_path / "travel.docx"
    _write_docx(f)
    doc = load_document(f, tmp_path)
    assert doc.title == "Travel policy" and doc.format == "docx"
    assert doc.groups == frozenset({"finance", "hr"})
    paths = {s.path: s.text for s in doc.sections}
    assert any("economy class" in text and "Flights" in path for path, text in paths.items())
    assert any("180 USD" in text and path[-1:] == ("Hotels",) for path, text in paths.items())
    assert any("London | 250 USD" in text for text in paths.values())


def test_broken_docx_is_a_document_error(tmp_path: Path) -> None:
    f = tmp_path / "broken.docx"
    f.write_bytes(b"not a zip")
    with pytest.raises(DocumentError, match=r"not a readable \.docx"):
        load_document(f, tmp_path)


def test_unsupported_files_are_reported_with_a_reason(tmp_path: Path) -> None:
    _write_docx(tmp_path / "a.docx")
    (tmp_path / "b.md").write_text("# B\n\ntext\n")
    (tmp_path / "old.doc").write_bytes(b"x")
    (tmp_path / "sheet.xlsx").write_bytes(b"x")
    (tmp_path / ".hidden.xlsx").write_bytes(b"x")
    assert [p.name for p in iter_files(tmp_path)] == ["a.docx", "b.md"]
    skipped = {Path(k).name: v for k, v in unsupported_files(tmp_path).items()}
    assert set(skipped) == {"old.doc", "sheet.xlsx"}
    assert "save it as .docx" in skipped["old.doc"] and "'.xlsx'" in skipped["sheet.xlsx"]
