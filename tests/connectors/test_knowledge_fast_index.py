"""The incremental keyword index (SQLite FTS5) and the over-fetching vector side keep every
access guarantee: real Chroma, real SQLite, hashing embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.knowledge import BM25Index, HashingEmbedder, KnowledgeIndex
from connectors.knowledge.retrieval import MODES, Retriever


def _doc(folder: Path, name: str, body: str, groups: list[str] | None = None) -> None:
    front = f"---\ngroups: [{', '.join(groups)}]\n---\n" if groups else ""
    (folder / f"{name}.md").write_text(front + body)


@pytest.fixture
def crowded(tmp_path: Path) -> KnowledgeIndex:
    """60 restricted chunks crowd the query's neighbourhood; two public ones sit far behind."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(6):
        sections = "\n\n".join(f"## Merger {i}.{s}\n\nmerger target valuation merger target {i} {s}" for s in range(10))
        _doc(docs, f"deal{i}", f"# Deal room {i}\n\n{sections}", ["exec"])
    _doc(docs, "faq", "# FAQ\n\nWe do not comment on a merger or any target. Ask press.")
    _doc(docs, "press", "# Press\n\nPress contacts for merger questions.")
    idx = KnowledgeIndex.open(tmp_path / "data", embedder=HashingEmbedder(64))
    idx.ingest(docs)
    return idx


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("widest", [4000, 8])
def test_outsider_gets_public_chunks_behind_a_wall_of_restricted_ones(
    crowded: KnowledgeIndex, mode: str, widest: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # widest=8 forces the fallback to Chroma's filtered search; 4000 the widening over-fetch.
    monkeypatch.setattr(Retriever, "MAX_UNFILTERED", widest)
    hits = crowded.search("merger target valuation", {"sales"}, 3, mode)  # type: ignore[arg-type]
    assert {h.passage.doc_id for h in hits} == {"faq", "press"}
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    insider = crowded.search("merger target valuation", {"exec"}, 3, mode)  # type: ignore[arg-type]
    assert len(insider) == 3 and all(h.passage.doc_id.startswith("deal") for h in insider)


def test_keyword_index_updates_in_place(tmp_path: Path) -> None:
    bm = BM25Index(tmp_path / "kw")
    bm.build(["a#0", "b#0"], ["budget review", "holiday calendar"], [["*"], ["finance"]], "gen1")
    assert [h.id for h in bm.search("budget", {"sales"}, 5)] == ["a#0"]
    bm.upsert(["c#0"], ["budget forecast budget"], [["finance"]])
    assert [h.id for h in bm.search("budget", {"finance"}, 5)] == ["c#0", "a#0"]
    assert [h.id for h in bm.search("budget", {"sales"}, 5)] == ["a#0"]
    # Replacing a chunk replaces its groups too: the old access never lingers.
    bm.upsert(["a#0"], ["budget review"], [["hr"]], fingerprint="gen2")
    assert bm.search("budget", {"sales"}, 5) == []
    assert bm.readable(["a#0", "b#0", "c#0", "zzz"], {"hr"}) == {"a#0"}
    bm.delete(["c#0"])
    assert [h.id for h in bm.search("budget", {"finance", "hr"}, 5)] == ["a#0"]
    assert len(bm) == 2
    reopened = BM25Index(tmp_path / "kw")
    assert reopened.fingerprint == "gen2"
    assert [h.id for h in reopened.search("budget", {"hr"}, 5)] == ["a#0"]


def test_group_names_are_not_query_syntax(tmp_path: Path) -> None:
    bm = BM25Index(tmp_path / "kw")
    bm.build(["a#0"], ["quarterly budget"], [['fin" OR *']], "g")
    assert bm.search("budget", {"fin"}, 5) == []
    assert [h.id for h in bm.search('budget" OR "x', {'fin" OR *'}, 5)] == ["a#0"]


def test_adding_and_removing_a_document_needs_no_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(5):
        _doc(docs, f"note{i}", f"# Note {i}\n\nroutine note number {i}")
    idx = KnowledgeIndex.open(tmp_path / "data", embedder=HashingEmbedder(64))
    idx.ingest(docs)

    def no_rebuild(*_a: object, **_k: object) -> None:
        raise AssertionError("the keyword index was rebuilt")

    monkeypatch.setattr(BM25Index, "build", no_rebuild)
    _doc(docs, "dpa", "# Data processing\n\nsubprocessor list and retention", ["legal"])
    report = idx.ingest(docs)
    assert report.added == ["dpa"]
    assert [h.passage.doc_id for h in idx.search("subprocessor retention", {"legal"}, 1, "bm25")] == ["dpa"]
    assert idx.search("subprocessor retention", {"sales"}, 3, "bm25") == []
    (docs / "dpa.md").unlink()
    assert idx.ingest(docs).removed == ["dpa"]
    assert idx.search("subprocessor retention", {"legal"}, 3, "bm25") == []
    assert idx.refresh() is False  # keyword index and store agree: nothing to rebuild


def test_an_interrupted_ingest_makes_the_keyword_index_rebuild(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    _doc(docs, "a", "# A\n\nalpha text")
    idx = KnowledgeIndex.open(tmp_path / "data", embedder=HashingEmbedder(64))
    idx.ingest(docs)
    idx.bm25.set_fingerprint("ingesting:crashed")  # what a killed ingest leaves behind
    assert idx.refresh() is True
    assert [h.passage.doc_id for h in idx.search("alpha", set(), 1, "bm25")] == ["a"]


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__(64)
        self.queries = 0

    def embed_query(self, text: str):  # type: ignore[no-untyped-def]
        self.queries += 1
        return super().embed_query(text)


def test_repeated_questions_reuse_the_query_embedding(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    _doc(docs, "a", "# A\n\nalpha text")
    embedder = CountingEmbedder()
    idx = KnowledgeIndex.open(tmp_path / "data", embedder=embedder)
    idx.ingest(docs)
    first = idx.search("alpha  text", set(), 1)
    again = idx.search("alpha text", {"hr"}, 1, "vector")
    assert embedder.queries == 1
    assert first[0].passage.chunk_id == again[0].passage.chunk_id


def test_stopwords_are_bm25s_list_so_indexes_built_before_stay_valid() -> None:
    stopwords = pytest.importorskip("bm25s.stopwords")
    from connectors.knowledge import bm25

    assert frozenset(stopwords.STOPWORDS_EN) == bm25._STOP


def test_tokenizing_imports_neither_bm25s_nor_scipy() -> None:
    # Importing bm25s for its stopword list pulled in scipy: 0.3-0.5 s of every first ingest.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from connectors.knowledge.bm25 import tokenize\n"
        "assert tokenize('The receipts of policies') == ['receipt', 'policy']\n"
        "print(sorted(m for m in ('bm25s', 'scipy') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stderr[-1500:]
