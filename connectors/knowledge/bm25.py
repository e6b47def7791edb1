"""A BM25 keyword index (bm25s) over the same chunks as the vector store, persisted on disk.

Access control happens *inside* the search: before top-k selection, every chunk the reader may
not see gets weight 0 (bm25s ``weight_mask``), and only chunks with a positive score are
returned. A restricted chunk therefore never takes a top-k slot, and never leaves this module.

The index is derived data: it records the corpus fingerprint it was built from, and the
knowledge index rebuilds it from the vector store whenever the fingerprints differ.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

PUBLIC = "*"  # the group marker of a chunk anyone may read

_WORD = re.compile(r"[a-z0-9]+")
_STOP: frozenset[str] | None = None


def _stopwords() -> frozenset[str]:
    global _STOP
    if _STOP is None:
        from bm25s.stopwords import STOPWORDS_EN

        _STOP = frozenset(STOPWORDS_EN)
    return _STOP


@lru_cache(maxsize=500_000)
def _stem(word: str) -> str:
    """A deliberately light stemmer (plurals only): receipts -> receipt, policies -> policy."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    stop = _stopwords()
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in stop]


@dataclass(frozen=True)
class KeywordHit:
    id: str
    score: float


class BM25Index:
    """bm25s index + chunk ids + per-chunk allowed groups, stored under ``directory``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._retriever: Any = None
        self._ids: list[str] = []
        self._fingerprint: str | None = None
        self._members: dict[str, NDArray[np.bool_]] = {}
        self._mask_cache: dict[frozenset[str], NDArray[np.float32]] = {}
        self._loaded = False

    # -- building -------------------------------------------------------------------------

    def build(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        groups: Sequence[Sequence[str]],
        fingerprint: str,
    ) -> None:
        """(Re)build from all chunks and save atomically."""
        import bm25s

        if not (len(ids) == len(texts) == len(groups)):
            raise ValueError("ids, texts and groups must have the same length")
        retriever = None
        if ids:
            retriever = bm25s.BM25()
            # bm25s cannot index an empty token list; a placeholder keeps positions aligned.
            retriever.index([tokenize(t) or ["\x00"] for t in texts], show_progress=False)
        tmp = self.directory.with_name(self.directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if retriever is not None:
            retriever.save(str(tmp / "bm25"))
        (tmp / "chunks.json").write_text(
            json.dumps({"fingerprint": fingerprint, "ids": list(ids), "groups": [list(g) for g in groups]})
        )
        with self._lock:
            old = self.directory.with_name(self.directory.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            if self.directory.exists():
                self.directory.rename(old)
            tmp.rename(self.directory)
            shutil.rmtree(old, ignore_errors=True)
            self._set(retriever, list(ids), [list(g) for g in groups], fingerprint)

    def _set(self, retriever: Any, ids: list[str], groups: list[list[str]], fingerprint: str | None) -> None:
        self._retriever = retriever
        self._ids = ids
        self._fingerprint = fingerprint
        members: dict[str, NDArray[np.bool_]] = {}
        for row, gs in enumerate(groups):
            for g in gs:
                arr = members.get(g)
                if arr is None:
                    arr = members[g] = np.zeros(len(ids), dtype=np.bool_)
                arr[row] = True
        self._members = members
        self._mask_cache = {}
        self._loaded = True

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            meta_path = self.directory / "chunks.json"
            if not meta_path.is_file():
                self._set(None, [], [], None)
                return
            import bm25s

            meta = json.loads(meta_path.read_text())
            retriever = bm25s.BM25.load(str(self.directory / "bm25")) if meta["ids"] else None
            self._set(retriever, meta["ids"], meta["groups"], meta["fingerprint"])

    @property
    def fingerprint(self) -> str | None:
        self._ensure_loaded()
        return self._fingerprint

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._ids)

    # -- searching ------------------------------------------------------------------------

    def _mask(self, groups: frozenset[str]) -> NDArray[np.float32]:
        key = groups | {PUBLIC}
        mask = self._mask_cache.get(key)
        if mask is None:
            allowed = np.zeros(len(self._ids), dtype=np.bool_)
            for g in key:
                arr = self._members.get(g)
                if arr is not None:
                    allowed |= arr
            mask = allowed.astype(np.float32)
            if len(self._mask_cache) > 256:
                self._mask_cache.clear()
            self._mask_cache[key] = mask
        return mask

    def search(self, query: str, groups: frozenset[str], k: int) -> list[KeywordHit]:
        """Top ``k`` chunks by BM25 among those readable by a member of ``groups``."""
        self._ensure_loaded()
        retriever = self._retriever
        if retriever is None or k <= 0:
            return []
        vocab = retriever.vocab_dict
        tokens = [t for t in tokenize(query) if t in vocab]
        if not tokens:
            return []
        mask = self._mask(frozenset(groups))
        k = min(k, len(self._ids))
        res = retriever.retrieve([tokens], k=k, weight_mask=mask, show_progress=False, n_threads=0)
        out: list[KeywordHit] = []
        for idx, score in zip(res.documents[0], res.scores[0], strict=True):
            # Masked chunks score exactly 0; so do chunks sharing no term with the query.
            if score > 0 and mask[int(idx)] > 0:
                out.append(KeywordHit(self._ids[int(idx)], float(score)))
        return out


__all__ = ["PUBLIC", "BM25Index", "KeywordHit", "tokenize"]
