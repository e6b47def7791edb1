"""The knowledge index: one object that ingests documents and searches them within a reader's
groups. Opens Chroma under the data directory (or a Chroma server), the BM25 index beside it,
and an embedder (MiniLM by default, loaded on first use).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from connectors.knowledge.bm25 import BM25Index
from connectors.knowledge.embeddings import Embedder
from connectors.knowledge.ingest import Ingestor, IngestReport, ProgressCallback, rebuild_keyword_index
from connectors.knowledge.retrieval import Hit, Mode, Retriever
from connectors.knowledge.store import DEFAULT_COLLECTION, ChromaStore


@runtime_checkable
class DocumentSearch(Protocol):
    """What the document tools need: search within the reader's groups."""

    def search(self, query: str, groups: Iterable[str], k: int = 5, mode: Mode = "hybrid") -> list[Hit]: ...


class KnowledgeIndex:
    # With a shared Chroma server, another worker may ingest: check for a newer corpus
    # generation at most this often before searching.
    REFRESH_SECONDS = 30.0

    def __init__(self, store: ChromaStore, bm25: BM25Index, embedder: Embedder) -> None:
        self.store = store
        self.bm25 = bm25
        self.embedder = embedder
        self.retriever = Retriever(store, bm25, embedder)
        self._ingestor = Ingestor(store, bm25, embedder)
        self._lock = threading.Lock()
        self._checked = float("-inf")  # first search checks the store's corpus generation

    @classmethod
    def open(
        cls,
        data_dir: str | Path,
        *,
        chroma_url: str | None = None,
        embedder: Embedder | None = None,
        collection: str = DEFAULT_COLLECTION,
    ) -> KnowledgeIndex:
        """Chroma at ``data_dir/chroma`` (or the server at ``chroma_url``); BM25 at
        ``data_dir/bm25/<collection>``. Without ``embedder``, an existing collection uses the
        embedder recorded with it (by name, not install path) and a new one uses MiniLM."""
        data_dir = Path(data_dir).expanduser()
        if chroma_url:
            store = ChromaStore.http(chroma_url, embedder, collection)
        else:
            store = ChromaStore.persistent(data_dir / "chroma", embedder, collection)
        return cls(store, BM25Index(data_dir / "bm25" / collection), store.embedder)

    def ingest(
        self,
        path: str | Path,
        groups: Iterable[str] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> IngestReport:
        with self._lock:
            report = self._ingestor.ingest(path, groups, on_progress)
            self._checked = time.monotonic()
            return report

    def refresh(self, *, force: bool = False) -> bool:
        """Rebuild the keyword index if the store holds a newer corpus; True if rebuilt."""
        with self._lock:
            self._checked = time.monotonic()
            return rebuild_keyword_index(self.store, self.bm25, force=force)

    def search(self, query: str, groups: Iterable[str], k: int = 5, mode: Mode = "hybrid") -> list[Hit]:
        """The top ``k`` passages for ``query`` readable by a member of ``groups``."""
        if time.monotonic() - self._checked > self.REFRESH_SECONDS:
            self.refresh()
        return self.retriever.search(query, groups, k, mode)

    def count(self) -> int:
        return self.store.count()

    def document_ids(self) -> Sequence[str]:
        return sorted({str(c.metadata["doc_id"]) for c in self.store.get(where={"chunk_index": 0}, with_text=False)})


__all__ = ["DocumentSearch", "KnowledgeIndex"]
