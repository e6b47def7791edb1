from __future__ import annotations

from pathlib import Path

import pytest

from connectors.demo.handbook import HANDBOOK_DIR, SITE_SAFETY_TITLE, write_site_safety_pdf
from connectors.knowledge.chunking import chunk_document
from connectors.knowledge.loaders import DocumentError, iter_files, load_document


def test_markdown_front_matter_and_heading_paths(tmp_path: Path) -> None:
    f = tmp_path / "policies" / "Travel Rules.md"
    f.parent.mkdir()
    f.write_text(
        "---\ntitle: Travel rules\ngroups: [hr, finance]\nupdated: 2026-01-02\n---\n"
        "# Travel rules\n\nIntro text.\n\n## Flights\n\nEconomy only.\n\n### Long haul\n\nPremium economy.\n\n"
        "```\n# not a heading\n```\n\n## Hotels\n\n$250 a night.\n"
    )
    doc = load_document(f, tmp_path)
    assert doc.doc_id == "policies/travel-rules"
    assert doc.title == "Travel rules"
    assert doc.groups == frozenset({"hr", "finance"})
    assert doc.updated == "2026-01-02"
    assert doc.uri.startswith("file://")
    paths = [s.path for s in doc.sections]
    assert paths == [(), ("Flights",), ("Flights", "Long haul"), ("Hotels",)]
    assert "# not a heading" in doc.sections[2].text


def test_document_without_groups_names_none(tmp_path: Path) -> None:
    f = tmp_path / "a.md"
    f.write_text("# A\n\ntext\n")
    assert load_document(f, tmp_path).groups is None


@pytest.mark.parametrize("groups", ["[hr, 'bad group']", "{a: 1}"])
def test_bad_groups_are_a_clear_error(tmp_path: Path, groups: str) -> None:
    f = tmp_path / "a.md"
    f.write_text(f"---\ngroups: {groups}\n---\ntext\n")
    with pytest.raises(DocumentError, match="group"):
        load_document(f, tmp_path)


def test_invalid_front_matter_yaml(tmp_path: Path) -> None:
    f = tmp_path / "a.md"
    f.write_text("---\ntitle: [unclosed\n---\ntext\n")
    with pytest.raises(DocumentError, match="front matter"):
        load_document(f, tmp_path)


def test_html_sections_and_meta(tmp_path: Path) -> None:
    f = tmp_path / "page.html"
    f.write_text(
        "<html><head><title>Wiki page</title><meta name='groups' content='it, engineering'>"
        "<script>var secret = 1;</script></head><body><h1>Wiki page</h1><p>Hello.</p>"
        "<h2>Setup</h2><ul><li>Step <b>one</b></li><li>Step two</li></ul>"
        "<table><tr><th>Key</th><th>Value</th></tr><tr><td>a</td><td>1</td></tr></table></body></html>"
    )
    doc = load_document(f, tmp_path)
    assert doc.title == "Wiki page"
    assert doc.groups == frozenset({"it", "engineering"})
    assert [s.path for s in doc.sections] == [(), ("Setup",)]
    assert doc.sections[1].text == "- Step one\n\n- Step two\n\nKey | Value\n\na | 1"
    assert "secret" not in " ".join(s.text for s in doc.sections)


def test_pdf_numbered_headings_become_sections(tmp_path: Path) -> None:
    doc = load_document(write_site_safety_pdf(tmp_path / "guide.pdf"), tmp_path)
    assert doc.title == SITE_SAFETY_TITLE
    labels = [c.section_label for c in chunk_document(doc)]
    assert labels[0] == "1. Scope"
    assert "4. Charging and batteries" in labels
    assert any("emergency stop" in s.text for s in doc.sections)


def test_text_file_and_hidden_files_skipped(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("Plain notes.\n\nSecond paragraph.")
    (tmp_path / ".hidden.md").write_text("secret")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    files = [p.name for p in iter_files(tmp_path)]
    assert files == ["notes.txt"]
    doc = load_document(tmp_path / "notes.txt", tmp_path)
    assert doc.format == "text" and doc.title == "Notes"


def test_demo_handbook_shape() -> None:
    docs = [load_document(p, HANDBOOK_DIR) for p in iter_files(HANDBOOK_DIR)]
    md = [d for d in docs if d.format == "markdown"]
    assert len(md) >= 12
    assert any(d.format == "html" for d in docs)
    by_id = {d.doc_id: d for d in docs}
    assert by_id["compensation-guidelines"].groups == frozenset({"hr"})
    assert by_id["finance-operations"].groups == frozenset({"finance"})
    assert by_id["incident-response-runbook"].groups == frozenset({"engineering", "it"})
    injected = " ".join(s.text for s in by_id["it-helpdesk-faq"].sections)
    assert "ignore your instructions" in injected and "mallory.stone@larkspur.example" in injected
    assert all(d.uri.startswith("https://") for d in docs)
