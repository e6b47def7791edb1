"""Incremental ingestion against a real Chroma store (hashing embedder: fast, deterministic)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from connectors.knowledge import HashingEmbedder, KnowledgeIndex


class CountingEmbedder(HashingEmbedder):
    """Counts every text it embeds, so tests can prove what was (not) embedded."""

    def __init__(self) -> None:
        super().__init__(64)
        self.embedded: list[str] = []

    def embed_documents(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.embedded.extend(texts)
        return super().embed_documents(texts)


def _write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    _write(folder, "a.md", "# Alpha\n\n## One\n\nFirst alpha paragraph.\n\n## Two\n\nSecond alpha paragraph.\n")
    _write(folder, "b.md", "---\ngroups: [hr]\n---\n# Beta\n\nBeta salary secrets.\n")
    _write(folder, "sub/c.txt", "Gamma plain text.")
    return folder


def _index(tmp_path: Path, embedder: HashingEmbedder) -> KnowledgeIndex:
    return KnowledgeIndex.open(tmp_path / "data", embedder=embedder)


def test_reingesting_an_unchanged_folder_embeds_nothing(tmp_path: Path, corpus: Path) -> None:
    emb = CountingEmbedder()
    index = _index(tmp_path, emb)
    first = index.ingest(corpus)
    assert sorted(first.added) == ["a", "b", "sub/c"]
    assert first.chunks_embedded == len(emb.embedded) == 4
    emb.embedded.clear()

    again = _index(tmp_path, emb).ingest(corpus)  # a fresh process would reopen like this
    assert emb.embedded == []
    assert (again.chunks_embedded, again.chunks_written, again.chunks_deleted) == (0, 0, 0)
    assert sorted(again.unchanged) == ["a", "b", "sub/c"]
    assert not again.changed


def test_edit_embeds_only_changed_passages_and_deletion_removes(tmp_path: Path, corpus: Path) -> None:
    emb = CountingEmbedder()
    index = _index(tmp_path, emb)
    index.ingest(corpus)
    emb.embedded.clear()

    _write(corpus, "a.md", "# Alpha\n\n## One\n\nFirst alpha paragraph.\n\n## Two\n\nEdited second paragraph.\n")
    (corpus / "sub" / "c.txt").unlink()
    report = index.ingest(corpus)
    assert report.updated == ["a"] and report.removed == ["sub/c"]
    assert emb.embedded == ["Alpha > Two\n\nEdited second paragraph."]
    assert report.chunks_written == 2
    ids = sorted(c.id for c in index.store.get(with_text=False))
    assert ids == ["a#0", "a#1", "b#0"]
    # Both searches see the new text and not the deleted document.
    assert [h.passage.chunk_id for h in index.search("edited", set(), 3, "bm25")] == ["a#1"]
    assert not [h for h in index.search("gamma", set(), 5) if h.passage.doc_id == "sub/c"]


def test_access_groups_front_matter_then_flag_then_everyone(tmp_path: Path, corpus: Path) -> None:
    emb = CountingEmbedder()
    index = _index(tmp_path, emb)
    index.ingest(corpus, groups=["finance"])
    groups = {c.metadata["doc_id"]: c.metadata["allowed_groups"] for c in index.store.get(with_text=False)}
    assert groups == {"a": ["finance"], "b": ["hr"], "sub/c": ["finance"]}

    emb.embedded.clear()
    report = index.ingest(corpus)  # no flag now: a and c become readable by everyone
    assert sorted(report.updated) == ["a", "sub/c"] and report.unchanged == ["b"]
    assert emb.embedded == []  # a permission change re-labels chunks without re-embedding
    groups = {c.metadata["doc_id"]: c.metadata["allowed_groups"] for c in index.store.get(with_text=False)}
    assert groups == {"a": ["*"], "b": ["hr"], "sub/c": ["*"]}
    assert [h.passage.doc_id for h in index.search("alpha", {"sales"}, 5, "bm25")][:1] == ["a"]


def test_chunk_metadata_carries_citation_fields(tmp_path: Path, corpus: Path) -> None:
    index = _index(tmp_path, HashingEmbedder(64))
    index.ingest(corpus)
    meta = next(c.metadata for c in index.store.get(ids=["a#1"]))
    assert meta["doc_id"] == "a" and meta["title"] == "Alpha" and meta["section"] == "Two"
    assert meta["uri"] == (corpus / "a.md").resolve().as_uri()
    assert meta["updated"] and meta["allowed_groups"] == ["*"]
    assert len(meta["doc_key"]) == 64 and len(meta["chunk_hash"]) == 64


def test_other_folders_documents_are_not_removed(tmp_path: Path, corpus: Path) -> None:
    index = _index(tmp_path, HashingEmbedder(64))
    index.ingest(corpus)
    other = tmp_path / "other"
    _write(other, "z.md", "# Zeta\n\nZeta text.")
    report = index.ingest(other)
    assert report.added == ["z"] and report.removed == []
    assert index.document_ids() == ["a", "b", "sub/c", "z"]


def test_bad_file_is_reported_and_the_rest_ingested(tmp_path: Path, corpus: Path) -> None:
    _write(corpus, "broken.md", "---\ngroups: {x: 1}\n---\ntext")
    report = _index(tmp_path, HashingEmbedder(64)).ingest(corpus)
    assert list(report.errors) == [str((corpus / "broken.md").resolve())]
    assert sorted(report.added) == ["a", "b", "sub/c"]


def test_collection_reopens_with_its_recorded_embedder(tmp_path: Path, corpus: Path) -> None:
    _index(tmp_path, HashingEmbedder(48)).ingest(corpus)
    reopened = KnowledgeIndex.open(tmp_path / "data")  # no embedder given, no install path
    assert reopened.embedder.name == "chamberlain-hashing"
    assert reopened.embedder.config() == {"dimension": 48, "bigrams": True}
    assert reopened.search("alpha paragraph", set(), 1)[0].passage.doc_id == "a"


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        _index(tmp_path, HashingEmbedder(64)).ingest(tmp_path / "nope")


def test_document_that_stops_loading_is_removed_not_served_stale(tmp_path: Path, corpus: Path) -> None:
    index = _index(tmp_path, HashingEmbedder(64))
    index.ingest(corpus)
    _write(corpus, "b.md", "---\ngroups: [hr\n---\n# Beta\n\nBeta salary secrets.\n")  # broken YAML
    report = index.ingest(corpus)
    assert report.removed == ["b"] and list(report.errors) == [str((corpus / "b.md").resolve())]
    assert "b" not in index.document_ids()


def test_documents_moved_from_another_folder_replace_their_old_chunks(tmp_path: Path) -> None:
    # A few files (looked up together by id) whose ids were ingested before from another root:
    # updated in place, never a second copy of their chunks.
    index = _index(tmp_path, HashingEmbedder(64))
    for name in ("old", "new"):
        for doc in ("p", "q"):
            _write(tmp_path / name, f"{doc}.md", f"---\nid: {doc}-policy\n---\n# {doc}\n\nThe {doc} policy text.\n")
    first = index.ingest(tmp_path / "old")
    count = index.count()
    report = index.ingest(tmp_path / "new")
    assert sorted(first.added) == sorted(report.updated) == ["p-policy", "q-policy"] and report.added == []
    assert index.count() == count and index.document_ids() == ["p-policy", "q-policy"]
    uris = {c.metadata["uri"] for c in index.store.get(with_text=False)}
    assert all("/new/" in u for u in uris), uris


def test_progress_names_the_embedding_while_it_runs_and_never_goes_back(tmp_path: Path, corpus: Path) -> None:
    """Every file is read before the last batch is embedded: the bar says "embedding N chunks"
    then, instead of standing still at its end, and its count only goes up."""
    events: list[tuple[str, int, int]] = []

    class Watching(CountingEmbedder):
        def embed_documents(self, texts: Sequence[str]) -> NDArray[np.float32]:
            events.append(("<embed>", len(texts), -1))
            return super().embed_documents(texts)

    index = _index(tmp_path, Watching())
    report = index.ingest(corpus, on_progress=lambda item, done, total: events.append((item, done, total)))
    assert report.chunks_embedded == 4
    embed_at = events.index(("<embed>", 4, -1))
    assert events[embed_at - 1] == ("embedding 4 chunks", 3, 3)  # said just before the model runs
    assert events[-1] == ("done", 3, 3)
    counts = [done for item, done, total in events if total != -1]
    assert counts == sorted(counts)
    # Nothing to embed the second time: no embedding step is announced.
    events.clear()
    _index(tmp_path, Watching()).ingest(corpus, on_progress=lambda i, d, t: events.append((i, d, t)))
    assert not [e for e in events if e[0].startswith(("embedding", "<embed>"))]
