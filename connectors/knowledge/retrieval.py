"""Search over the knowledge base: vector (Chroma), keyword (SQLite FTS5, bm25()) and hybrid
(reciprocal rank fusion of the two top-k lists). Restricted chunks never compete for, or occupy,
a result slot:

- keyword side: the reader's groups are part of the FTS query (see :mod:`.bm25`);
- vector side: Chroma's metadata filter costs time in proportion to the chunks it admits (at
  100k chunks, 0.6-1.2 s for a reader who may see 70 % of them, whatever the filter's form:
  ``$contains``, boolean keys or ``$in``), while the unfiltered ANN search returning ids and
  distances only takes a few milliseconds. So the vector side asks for the nearest ``n``
  unfiltered, keeps those the reader may read (by the groups kept in the keyword index), and
  widens ``n`` until it holds ``k`` readable ones. That is exact, not a post-filter: the ``k``
  nearest readable chunks are the first ``k`` readable ones of any longer nearest list. Only
  when few chunks near the query are readable does it fall back to Chroma's filtered search.

Every passage handed out is checked once more against the groups stored with it in Chroma.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from connectors.knowledge.bm25 import PUBLIC, BM25Index
from connectors.knowledge.embeddings import Embedder
from connectors.knowledge.store import ChromaStore

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "vector", "bm25"]
MODES: tuple[Mode, ...] = ("hybrid", "vector", "bm25")
RRF_K = 60  # the usual constant from Cormack et al.; damps the weight of top ranks


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk, with everything needed to cite it."""

    chunk_id: str  # "expense-policy#3"
    doc_id: str
    title: str
    section: str  # "Receipts > Lost receipts" ("" for a document's opening text)
    uri: str
    updated: str
    text: str  # the exact passage
    allowed_groups: frozenset[str]

    @property
    def citation_id(self) -> str:
        """How an answer cites this passage: ``[doc:expense-policy#3]``."""
        return f"doc:{self.chunk_id}"

    @classmethod
    def from_stored(cls, chunk_id: str, text: str, meta: Mapping[str, Any]) -> Passage:
        groups = meta.get("allowed_groups") or []
        return cls(
            chunk_id=chunk_id,
            doc_id=str(meta.get("doc_id", chunk_id.split("#", 1)[0])),
            title=str(meta.get("title", "")),
            section=str(meta.get("section", "")),
            uri=str(meta.get("uri", "")),
            updated=str(meta.get("updated", "")),
            text=text,
            allowed_groups=frozenset(str(g) for g in groups),
        )

    def readable_by(self, groups: Iterable[str]) -> bool:
        return PUBLIC in self.allowed_groups or bool(self.allowed_groups & set(groups))


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float  # mode-specific: cosine similarity, BM25 score, or RRF score
    rank: int  # 1-based
    # Rank of this passage in each underlying search ({"vector": 2, "bm25": 1}).
    ranks: Mapping[str, int] = field(default_factory=dict)


def group_filter(groups: Iterable[str]) -> dict[str, Any]:
    """Chroma ``where`` matching chunks readable by a member of ``groups`` (or by anyone)."""
    names = sorted(set(groups) | {PUBLIC})
    clauses: list[dict[str, Any]] = [{"allowed_groups": {"$contains": g}} for g in names]
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


class Retriever:
    # Over-fetch limits of the vector side (see the module docstring).
    MAX_UNFILTERED = 4000
    QUERY_CACHE = 1024  # query embeddings kept (repeated questions skip the embedder)

    def __init__(
        self,
        store: ChromaStore,
        bm25: BM25Index,
        embedder: Embedder,
        *,
        candidates: int = 50,
        rrf_k: int = RRF_K,
    ) -> None:
        self.store = store
        self.bm25 = bm25
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k
        self._vectors: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        self._vectors_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def search(self, query: str, groups: Iterable[str], k: int = 5, mode: Mode = "hybrid") -> list[Hit]:
        groups = frozenset(groups)
        if not query.strip() or k <= 0:
            return []
        if mode == "vector":
            hits = self.vector(query, groups, k)
        elif mode == "bm25":
            hits = self.keyword(query, groups, k)
        elif mode == "hybrid":
            hits = self.hybrid(query, groups, k)
        else:
            raise ValueError(f"unknown search mode {mode!r}; use one of {MODES}")
        return self._guard(hits, groups)

    def query_vector(self, query: str) -> NDArray[np.float32]:
        """The query's embedding, from a small LRU cache when the question was asked before."""
        key = " ".join(query.split())
        with self._vectors_lock:
            vec = self._vectors.get(key)
            if vec is not None:
                self._vectors.move_to_end(key)
                return vec
        vec = self.embedder.embed_query(key)
        with self._vectors_lock:
            self._vectors[key] = vec
            if len(self._vectors) > self.QUERY_CACHE:
                self._vectors.popitem(last=False)
        return vec

    def vector_ranked(self, query: str, groups: frozenset[str], k: int) -> list[tuple[str, float, Passage | None]]:
        """The ``k`` nearest chunks the reader may read: (id, cosine distance, passage if
        already read from the store)."""
        vec = self.query_vector(query)
        n = max(2 * k, k + 20)
        while True:
            found = self.store.nearest(vec, n)
            ok = self.bm25.readable([cid for cid, _ in found], groups)
            readable: list[tuple[str, float, Passage | None]] = [(c, d, None) for c, d in found if c in ok]
            if len(readable) >= k or len(found) < n:  # enough, or the whole corpus seen
                return readable[:k]
            if n >= self.MAX_UNFILTERED:
                break
            n = min(4 * n, self.MAX_UNFILTERED)
        # Few chunks near the query are readable: let Chroma filter inside the search.
        return [
            (h.id, h.distance, Passage.from_stored(h.id, h.text, h.metadata))
            for h in self.store.query(vec, k, where=group_filter(groups))
        ]

    def vector(self, query: str, groups: frozenset[str], k: int) -> list[Hit]:
        ranked = self.vector_ranked(query, groups, k)
        passages = self._fetch([cid for cid, _, p in ranked if p is None])
        passages.update({cid: p for cid, _, p in ranked if p is not None})
        out: list[Hit] = []
        for cid, dist, _ in ranked:
            p = passages.get(cid)
            # The store's groups are the truth; the keyword index's copy may lag behind it.
            if p is not None and p.readable_by(groups):
                out.append(Hit(p, 1.0 - dist, len(out) + 1, {"vector": len(out) + 1}))
        return out

    def keyword(self, query: str, groups: frozenset[str], k: int) -> list[Hit]:
        found = self.bm25.search(query, groups, k)
        passages = self._fetch([h.id for h in found])
        out: list[Hit] = []
        for h in found:
            p = passages.get(h.id)
            if p is not None:  # a chunk deleted since the keyword index was built
                out.append(Hit(p, h.score, len(out) + 1, {"bm25": len(out) + 1}))
        return out

    def hybrid(self, query: str, groups: frozenset[str], k: int) -> list[Hit]:
        depth = max(self.candidates, k)
        # Both searches spend their time in native code (Chroma's HNSW, SQLite's FTS5) with the
        # interpreter released: run them side by side.
        keyword_future = self._pool().submit(self.bm25.search, query, groups, depth)
        vector_ranked = self.vector_ranked(query, groups, depth)
        keyword_hits = keyword_future.result()
        scores: dict[str, float] = {}
        ranks: dict[str, dict[str, int]] = {}
        ranked_lists = (
            ("vector", [cid for cid, _, _ in vector_ranked]),
            ("bm25", [h.id for h in keyword_hits]),
        )
        for name, ids in ranked_lists:
            for rank, cid in enumerate(ids, start=1):
                scores[cid] = scores.get(cid, 0.0) + 1.0 / (self.rrf_k + rank)
                ranks.setdefault(cid, {})[name] = rank
        order = sorted(scores, key=lambda c: (-scores[c], c))
        passages = {cid: p for cid, _, p in vector_ranked if p is not None}
        out: list[Hit] = []
        pos = 0
        # Only the winners are read from the store; one missing there (deleted since the
        # keyword index was updated) or not readable by its stored groups gives its slot to
        # the next candidate.
        while len(out) < k and pos < len(order):
            batch = order[pos : pos + (k - len(out))]
            pos += len(batch)
            passages.update(self._fetch([c for c in batch if c not in passages]))
            for c in batch:
                p = passages.get(c)
                if p is not None and p.readable_by(groups):
                    out.append(Hit(p, scores[c], len(out) + 1, ranks[c]))
        return out

    def _pool(self) -> ThreadPoolExecutor:
        with self._vectors_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="keyword-search")
            return self._executor

    def _fetch(self, ids: Sequence[str]) -> dict[str, Passage]:
        if not ids:
            return {}
        return {c.id: Passage.from_stored(c.id, c.text, c.metadata) for c in self.store.get(ids=list(ids))}

    @staticmethod
    def _guard(hits: list[Hit], groups: frozenset[str]) -> list[Hit]:
        # Belt and braces: both searches already filter; this catches a stale keyword index or
        # a store that ignored the filter, and never lets such a passage out.
        ok = [h for h in hits if h.passage.readable_by(groups)]
        if len(ok) != len(hits):
            log.error("dropped %d passage(s) outside the reader's groups", len(hits) - len(ok))
            ok = [Hit(h.passage, h.score, i, h.ranks) for i, h in enumerate(ok, start=1)]
        return ok


__all__ = ["MODES", "RRF_K", "Hit", "Mode", "Passage", "Retriever", "group_filter"]
