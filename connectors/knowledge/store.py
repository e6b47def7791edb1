"""The vector store: a Chroma collection of chunks (text, metadata, embedding).

Embedded default: ``PersistentClient`` under the data directory. Scale-out: ``HttpClient`` to a
Chroma server. Either way we compute embeddings ourselves (batched, offline) and hand Chroma
vectors; the collection also records a *named* embedding function (``chamberlain-minilm-l6-v2``
with a small JSON config), so it reopens without the model's install path and never falls back
to Chroma's default function (which downloads a model).

Chroma exceptions are translated into :mod:`connectors.errors` here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
from numpy.typing import NDArray

from connectors.errors import (
    ConnectorAuthError,
    ConnectorUnavailable,
    InvalidRequest,
)
from connectors.knowledge.embeddings import (
    HASHING_NAME,
    MINILM_NAME,
    Embedder,
    MiniLMEmbedder,
    build_embedder,
)

DEFAULT_COLLECTION = "knowledge"
_PAGE = 2000  # rows per Chroma get() page
_WRITE_BATCH = 2000  # rows per upsert (below Chroma's max batch size)


@dataclass(frozen=True)
class StoredChunk:
    id: str
    text: str
    metadata: Mapping[str, Any]
    embedding: NDArray[np.float32] | None = None


@dataclass(frozen=True)
class VectorHit:
    id: str
    text: str
    metadata: Mapping[str, Any]
    distance: float  # cosine distance: 0 = same direction


def _chroma_ef_classes() -> dict[str, type]:
    """Chroma EmbeddingFunction classes for our embedders, registered by stable name.

    Built on first use (chromadb is imported lazily) and registered once per process.
    """
    global _EF_CLASSES
    if _EF_CLASSES is not None:
        return _EF_CLASSES
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
    from chromadb.utils.embedding_functions import register_embedding_function

    def make(ef_name: str) -> type:
        class _EF(EmbeddingFunction[Documents]):
            def __init__(self, embedder: Embedder | None = None, config: dict[str, Any] | None = None):
                self._embedder = embedder or build_embedder(ef_name, config or {})

            def __call__(self, input: Documents) -> Embeddings:
                return list(self._embedder.embed_documents(list(input)))

            @staticmethod
            def name() -> str:
                return ef_name

            def default_space(self) -> Any:
                return "cosine"

            def get_config(self) -> dict[str, Any]:
                return dict(self._embedder.config())

            @staticmethod
            def build_from_config(config: dict[str, Any]) -> EmbeddingFunction[Documents]:
                return _EF(config=config)

        _EF.__name__ = _EF.__qualname__ = "ChamberlainEF_" + ef_name.replace("-", "_")
        register_embedding_function(_EF)
        return _EF

    _EF_CLASSES = {n: make(n) for n in (MINILM_NAME, HASHING_NAME)}
    return _EF_CLASSES


_EF_CLASSES: dict[str, type] | None = None


@contextmanager
def _translate(what: str) -> Iterator[None]:
    """Turn Chroma / transport exceptions into connector errors."""
    import httpx
    from chromadb import errors as cerr

    try:
        yield
    except (cerr.ChromaAuthError, cerr.AuthorizationError) as exc:
        raise ConnectorAuthError(f"Chroma rejected our credentials while {what}: {exc}") from exc
    except (cerr.RateLimitError, cerr.InternalError) as exc:
        raise ConnectorUnavailable(f"Chroma is unavailable while {what}: {exc}") from exc
    except (httpx.TransportError, ConnectionError, TimeoutError) as exc:
        raise ConnectorUnavailable(f"cannot reach the Chroma server while {what}: {exc}") from exc
    except cerr.ChromaError as exc:
        raise InvalidRequest(f"Chroma rejected the request while {what}: {exc}") from exc
    except ValueError as exc:
        msg = str(exc)
        if "connect" in msg.lower():
            raise ConnectorUnavailable(f"cannot reach the Chroma server while {what}: {msg}") from exc
        raise InvalidRequest(f"Chroma rejected the request while {what}: {msg}") from exc


class ChromaStore:
    """One Chroma collection of chunks, with cosine distance."""

    def __init__(self, client: Any, embedder: Embedder | None, collection: str = DEFAULT_COLLECTION) -> None:
        """Open (or create) ``collection``. With ``embedder=None`` an existing collection uses the
        embedder recorded with it, and a new one uses MiniLM."""
        ef_classes = _chroma_ef_classes()
        if embedder is None:
            embedder = self._recorded_embedder(client, collection) or MiniLMEmbedder()
        ef_cls = ef_classes.get(embedder.name)
        if ef_cls is None:
            raise ValueError(f"embedder {embedder.name!r} has no registered Chroma embedding function")
        self.embedder: Embedder = embedder
        self.collection_name = collection
        with _translate(f"opening collection {collection!r}"):
            self._col = client.get_or_create_collection(
                collection,
                embedding_function=ef_cls(embedder),
                configuration={"hnsw": {"space": "cosine"}},
            )
        self._client = client

    @staticmethod
    def _recorded_embedder(client: Any, collection: str) -> Embedder | None:
        from chromadb.errors import NotFoundError

        try:
            with _translate(f"opening collection {collection!r}"):
                col = client.get_collection(collection)
        except (NotFoundError, InvalidRequest):
            return None
        ef = (col.configuration or {}).get("embedding_function")
        embedder = getattr(ef, "_embedder", None)
        if embedder is None:
            raise InvalidRequest(
                f"collection {collection!r} was not created by Chamberlain (no recorded embedder); "
                "use another collection name"
            )
        return embedder

    @classmethod
    def persistent(
        cls, path: str | Path, embedder: Embedder | None, collection: str = DEFAULT_COLLECTION
    ) -> ChromaStore:
        import chromadb
        from chromadb.config import Settings

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with _translate(f"opening {path}"):
            client = chromadb.PersistentClient(
                path=str(path), settings=Settings(anonymized_telemetry=False, allow_reset=False)
            )
        return cls(client, embedder, collection)

    @classmethod
    def http(
        cls,
        url: str,
        embedder: Embedder | None,
        collection: str = DEFAULT_COLLECTION,
        headers: Mapping[str, str] | None = None,
    ) -> ChromaStore:
        """Connect to a Chroma server, e.g. ``http://chroma:8000``."""
        import chromadb
        from chromadb.config import Settings

        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"Chroma server URL must look like http://host:8000, got {url!r}")
        ssl = parsed.scheme == "https"
        with _translate(f"connecting to {url}"):
            client = chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or (443 if ssl else 8000),
                ssl=ssl,
                headers=dict(headers or {}),
                settings=Settings(anonymized_telemetry=False),
            )
        return cls(client, embedder, collection)

    # -- writes ---------------------------------------------------------------------------

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        embeddings: NDArray[np.float32],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        self._write("upsert", ids, texts, embeddings, metadatas)

    def _write(
        self,
        method: str,
        ids: Sequence[str],
        texts: Sequence[str],
        embeddings: NDArray[np.float32],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        if not ids:
            return
        if embeddings.shape != (len(ids), self.embedder.dimension):
            raise ValueError(f"expected embeddings of shape ({len(ids)}, {self.embedder.dimension})")
        write = getattr(self._col, method)
        for start in range(0, len(ids), _WRITE_BATCH):
            end = start + _WRITE_BATCH
            with _translate("writing chunks"):
                write(
                    ids=list(ids[start:end]),
                    documents=list(texts[start:end]),
                    embeddings=embeddings[start:end],
                    metadatas=[dict(m) for m in metadatas[start:end]],
                )

    def add(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        embeddings: NDArray[np.float32],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        """Insert chunks whose ids are new (faster than upsert). Chroma silently keeps the old
        row for an id that already exists, so callers must only pass unseen ids."""
        self._write("add", ids, texts, embeddings, metadatas)

    def delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), _WRITE_BATCH):
            with _translate("deleting chunks"):
                self._col.delete(ids=list(ids[start : start + _WRITE_BATCH]))

    # -- reads ----------------------------------------------------------------------------

    def count(self) -> int:
        with _translate("counting chunks"):
            return int(self._col.count())

    def get(
        self,
        *,
        ids: Sequence[str] | None = None,
        where: Mapping[str, Any] | None = None,
        with_embeddings: bool = False,
        with_text: bool = True,
    ) -> list[StoredChunk]:
        """Chunks matching ``ids`` / ``where`` (all chunks when both are None), paged."""
        include: list[str] = ["metadatas"]
        if with_text:
            include.append("documents")
        if with_embeddings:
            include.append("embeddings")
        out: list[StoredChunk] = []
        offset = 0
        while True:
            with _translate("reading chunks"):
                res = self._col.get(
                    ids=list(ids) if ids is not None else None,
                    where=dict(where) if where else None,
                    include=include,
                    limit=_PAGE,
                    offset=offset,
                )
            got = res["ids"]
            docs = res.get("documents") if with_text else None
            embs = res.get("embeddings") if with_embeddings else None
            metas = res.get("metadatas") or [{}] * len(got)
            for i, cid in enumerate(got):
                out.append(
                    StoredChunk(
                        id=cid,
                        text=docs[i] if docs is not None else "",
                        metadata=metas[i] or {},
                        embedding=np.asarray(embs[i], dtype=np.float32) if embs is not None else None,
                    )
                )
            if len(got) < _PAGE:
                return out
            offset += _PAGE

    def query(self, embedding: NDArray[np.float32], k: int, where: Mapping[str, Any] | None = None) -> list[VectorHit]:
        """Nearest ``k`` chunks to ``embedding`` among those matching ``where`` (filter applied
        inside the search, before ranking)."""
        if k <= 0:
            return []
        with _translate("searching"):
            res = self._col.query(
                query_embeddings=[np.asarray(embedding, dtype=np.float32)],
                n_results=k,
                where=dict(where) if where else None,
                include=["documents", "metadatas", "distances"],
            )
        ids = res["ids"][0]
        docs = (res.get("documents") or [[]])[0]
        metas = (res.get("metadatas") or [[]])[0]
        dists = (res.get("distances") or [[]])[0]
        return [
            VectorHit(id=ids[i], text=docs[i], metadata=metas[i] or {}, distance=float(dists[i]))
            for i in range(len(ids))
        ]

    def nearest(self, embedding: NDArray[np.float32], n: int) -> list[tuple[str, float]]:
        """(id, cosine distance) of the ``n`` nearest chunks, unfiltered, without their text or
        metadata: reading metadata is what makes a Chroma query slow (~0.1 ms a row), the ANN
        search itself takes a few milliseconds at 100k chunks."""
        if n <= 0:
            return []
        with _translate("searching"):
            res = self._col.query(
                query_embeddings=[np.asarray(embedding, dtype=np.float32)], n_results=n, include=["distances"]
            )
        ids = res["ids"][0]
        dists = (res.get("distances") or [[]])[0]
        return [(ids[i], float(dists[i])) for i in range(len(ids))]

    # -- collection-level state -----------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Small key/value state kept in the collection metadata (e.g. the corpus fingerprint)."""
        meta = self._fresh_metadata()
        return {k[len("chamberlain:") :]: v for k, v in meta.items() if k.startswith("chamberlain:")}

    def _fresh_metadata(self) -> dict[str, Any]:
        # The collection object caches its metadata; another worker may have changed it.
        with _translate("reading collection metadata"):
            col = self._client.get_collection(self.collection_name)
            return dict(col.metadata or {})

    def set_state(self, **values: str | int) -> None:
        meta = self._fresh_metadata()
        meta.update({f"chamberlain:{k}": v for k, v in values.items()})
        with _translate("writing collection metadata"):
            self._col.modify(metadata=meta)

    def embedding_function_name(self) -> str | None:
        """The embedding function recorded with the collection (None for legacy collections)."""
        conf = self._col.configuration or {}
        ef = conf.get("embedding_function")
        return ef.name() if ef is not None else None


__all__ = ["DEFAULT_COLLECTION", "ChromaStore", "StoredChunk", "VectorHit"]
