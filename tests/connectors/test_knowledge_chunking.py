from __future__ import annotations

from connectors.knowledge.chunking import chunk_document
from connectors.knowledge.loaders import Document, Section


def _doc(*sections: Section) -> Document:
    return Document("d", "Title", "file:///d", "2026-01-01", None, sections, "h", "markdown", "/d")


def test_chunks_never_cross_sections_and_carry_context() -> None:
    doc = _doc(Section(("A",), "alpha one.\n\nalpha two."), Section(("A", "B"), "beta."))
    chunks = chunk_document(doc)
    assert [c.text for c in chunks] == ["alpha one.\n\nalpha two.", "beta."]
    assert [c.id for c in chunks] == ["d#0", "d#1"]
    assert chunks[1].section_label == "A > B"
    assert chunks[1].indexed_text == "Title > A > B\n\nbeta."


def test_long_sections_split_at_paragraphs_then_words() -> None:
    para = " ".join(f"w{i}" for i in range(50))
    huge = " ".join(f"x{i}" for i in range(250))
    doc = _doc(Section((), "\n\n".join([para] * 5)), Section(("H",), huge))
    chunks = chunk_document(doc, max_words=120)
    assert all(len(c.text.split()) <= 120 for c in chunks)
    # Paragraphs stay whole: two fit in a chunk.
    assert chunks[0].text == f"{para}\n\n{para}"
    rebuilt = " ".join(c.text for c in chunks if c.section == ("H",))
    assert rebuilt.split() == huge.split()


def test_same_text_same_hash_different_context_different_hash() -> None:
    a = chunk_document(_doc(Section(("A",), "same")))[0]
    b = chunk_document(_doc(Section(("A",), "same")))[0]
    c = chunk_document(_doc(Section(("B",), "same")))[0]
    assert a.hash == b.hash != c.hash
