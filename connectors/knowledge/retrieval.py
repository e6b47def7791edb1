"""Search over the knowledge base: vector (Chroma), keyword (BM25) and hybrid (reciprocal rank
fusion of both). The reader's groups filter *inside* each search — a Chroma ``where`` on the
chunk's ``allowed_groups`` and a BM25 weight mask — so restricted chunks never compete for, or
occupy, a result slot.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

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

    def vector(self, query: str, groups: frozenset[str], k: int) -> list[Hit]:
        vec = self.embedder.embed_query(query)
        found = self.store.query(vec, k, where=group_filter(groups))
        return [
            Hit(Passage.from_stored(h.id, h.text, h.metadata), 1.0 - h.distance, i, {"vector": i})
            for i, h in enumerate(found, start=1)
        ]

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
        vector_hits = self.vector(query, groups, depth)
        keyword_hits = self.bm25.search(query, groups, depth)
        scores: dict[str, float] = {}
        ranks: dict[str, dict[str, int]] = {}
        ranked_lists = (
            ("vector", [h.passage.chunk_id for h in vector_hits]),
            ("bm25", [h.id for h in keyword_hits]),
        )
        for name, ids in ranked_lists:
            for rank, cid in enumerate(ids, start=1):
                scores[cid] = scores.get(cid, 0.0) + 1.0 / (self.rrf_k + rank)
                ranks.setdefault(cid, {})[name] = rank
        order = sorted(scores, key=lambda c: (-scores[c], c))
        passages = {h.passage.chunk_id: h.passage for h in vector_hits}
        out: list[Hit] = []
        pos = 0
        # Only keyword-only winners need a store read; one missing from the store (deleted
        # since the keyword index was built) gives its slot to the next candidate.
        while len(out) < k and pos < len(order):
            batch = order[pos : pos + (k - len(out))]
            pos += len(batch)
            passages.update(self._fetch([c for c in batch if c not in passages]))
            for c in batch:
                if c in passages:
                    out.append(Hit(passages[c], scores[c], len(out) + 1, ranks[c]))
        return out

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
