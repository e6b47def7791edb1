"""Retrieval with access groups applied inside each search (real Chroma, hashing embedder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.knowledge import PUBLIC, BM25Index, HashingEmbedder, KnowledgeIndex, group_filter
from connectors.knowledge.retrieval import MODES


@pytest.fixture
def index(tmp_path: Path) -> KnowledgeIndex:
    docs = tmp_path / "docs"
    docs.mkdir()
    # The restricted document matches the query best, by far.
    (docs / "secret.md").write_text(
        "---\ngroups: [hr]\n---\n# Salary bands\n\n"
        + "\n\n".join(f"## Band {i}\n\nsalary band salary band level {i}" for i in range(6))
    )
    for i in range(8):
        (docs / f"public{i}.md").write_text(f"# Public {i}\n\nGeneral note {i} that mentions a salary once.")
    (docs / "unrelated.md").write_text("# Unrelated\n\nCafeteria opening hours.")
    idx = KnowledgeIndex.open(tmp_path / "data", embedder=HashingEmbedder(128))
    idx.ingest(docs)
    return idx


@pytest.mark.parametrize("mode", MODES)
def test_restricted_chunks_never_reach_outsiders_nor_take_slots(index: KnowledgeIndex, mode: str) -> None:
    hits = index.search("salary band", {"sales", "all"}, 5, mode)  # type: ignore[arg-type]
    assert hits, "public passages should still be found"
    assert all(h.passage.doc_id != "secret" for h in hits)
    # Filtering happens inside the search: the k slots are filled with readable passages.
    assert len(hits) == 5
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("mode", MODES)
def test_members_see_restricted_documents(index: KnowledgeIndex, mode: str) -> None:
    hits = index.search("salary band", {"hr"}, 5, mode)  # type: ignore[arg-type]
    assert hits[0].passage.doc_id == "secret"
    assert hits[0].passage.allowed_groups == frozenset({"hr"})


def test_no_groups_reads_public_only(index: KnowledgeIndex) -> None:
    hits = index.search("salary", set(), 10)
    assert hits and all(h.passage.allowed_groups == {PUBLIC} for h in hits)


def test_hybrid_fuses_both_rankings(index: KnowledgeIndex) -> None:
    hits = index.search("cafeteria opening hours", set(), 3, "hybrid")
    top = hits[0]
    assert top.passage.doc_id == "unrelated"
    assert set(top.ranks) == {"vector", "bm25"}
    assert top.score == pytest.approx(1 / 61 + 1 / 61)
    assert top.passage.citation_id == "doc:unrelated#0"
    assert top.passage.title == "Unrelated" and top.passage.text == "Cafeteria opening hours."


def test_keyword_search_with_no_known_terms_is_empty(index: KnowledgeIndex) -> None:
    assert index.search("zzzz qqqq", {"hr"}, 5, "bm25") == []
    assert index.search("   ", {"hr"}, 5) == []


def test_group_filter_shape() -> None:
    assert group_filter(set()) == {"allowed_groups": {"$contains": "*"}}
    assert group_filter({"hr"}) == {
        "$or": [{"allowed_groups": {"$contains": "*"}}, {"allowed_groups": {"$contains": "hr"}}]
    }


def test_bm25_mask_applies_before_top_k(tmp_path: Path) -> None:
    bm = BM25Index(tmp_path / "bm25")
    ids = [f"c{i}" for i in range(20)]
    texts = ["budget budget budget"] * 10 + ["budget"] + ["other words"] * 9
    groups = [["finance"]] * 10 + [["*"]] + [["*"]] * 9
    bm.build(ids, texts, groups, "gen1")
    assert [h.id for h in bm.search("budget", frozenset({"sales"}), 3)] == ["c10"]
    assert len(bm.search("budget", frozenset({"finance"}), 20)) == 11
    reloaded = BM25Index(tmp_path / "bm25")
    assert reloaded.fingerprint == "gen1"
    assert [h.id for h in reloaded.search("budget", frozenset(), 3)] == ["c10"]


def test_stale_keyword_index_is_rebuilt_from_the_store(tmp_path: Path, index: KnowledgeIndex) -> None:
    # Another worker (sharing a Chroma server) changed the corpus: our BM25 copy is stale.
    index.store.set_state(generation="someone-else")
    assert index.refresh() is True
    assert index.bm25.fingerprint == "someone-else"
    assert index.refresh() is False


@pytest.mark.parametrize("mode", ["hybrid", "bm25"])
def test_chunk_deleted_behind_the_keyword_index_is_skipped(index: KnowledgeIndex, mode: str) -> None:
    best = index.search("cafeteria opening hours", set(), 1, mode)[0]  # type: ignore[arg-type]
    index.store.delete([best.passage.chunk_id])  # the BM25 copy still lists it
    hits = index.search("cafeteria opening hours", set(), 3, mode)  # type: ignore[arg-type]
    assert best.passage.chunk_id not in [h.passage.chunk_id for h in hits]
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert len(hits) == 3 or mode == "bm25"
