"""Incremental ingestion of a folder (or one file) into the knowledge index.

- Each document gets a key from its content hash, effective access groups, URI, the chunker
  version and the embedder; an unchanged key means nothing is read from or written to the store.
- A changed document is re-chunked; chunks whose text-with-context is unchanged reuse their
  stored embedding, so only new or edited passages are embedded.
- Documents previously ingested from the same folder that are gone now are deleted. So is one
  that no longer loads (e.g. its front matter broke): failing closed, rather than serving a
  stale copy whose access groups may no longer be what its owner intends.
- Access: the document's own groups (front matter / HTML meta), else the ``groups`` given to
  ingest, else everyone (``*``).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from connectors.knowledge.bm25 import PUBLIC, BM25Index
from connectors.knowledge.chunking import DEFAULT_MAX_WORDS, Chunk, chunk_document, indexed_text
from connectors.knowledge.embeddings import Embedder
from connectors.knowledge.loaders import Document, DocumentError, iter_files, load_document, unsupported_files
from connectors.knowledge.store import ChromaStore

CHUNKER_VERSION = "1"
WRITE_BATCH = 2048  # chunks per store write: bigger batches insert much faster into Chroma
_FEW_FILES = 32  # up to this many files, look documents up one by one instead of listing all

# (description, documents done, documents total)
ProgressCallback = Callable[[str, int, int], None]


@dataclass
class IngestReport:
    root: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # path -> message
    skipped: dict[str, str] = field(default_factory=dict)  # path -> why it is not ingested
    chunks_embedded: int = 0
    chunks_written: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "errors": self.errors,
            "skipped": self.skipped,
            "chunks_embedded": self.chunks_embedded,
            "chunks_written": self.chunks_written,
            "chunks_deleted": self.chunks_deleted,
            "seconds": round(self.seconds, 3),
        }


def effective_groups(doc: Document, default: Iterable[str] | None) -> list[str]:
    if doc.groups:
        return sorted(doc.groups)
    default = sorted(set(default or ()))
    return default or [PUBLIC]


def _doc_key(doc: Document, groups: list[str], embedder: Embedder, max_words: int) -> str:
    raw = json.dumps(
        [doc.content_hash, groups, doc.uri, doc.doc_id, CHUNKER_VERSION, max_words, embedder.name],
        separators=(",", ":"),
    )
    return hashlib.sha256(raw.encode()).hexdigest()


def chunk_metadata(chunk: Chunk, doc: Document, groups: list[str], key: str, root: str) -> dict[str, Any]:
    return {
        "doc_id": doc.doc_id,
        "chunk_index": chunk.index,
        "title": doc.title,
        "section": chunk.section_label,
        "uri": doc.uri,
        "updated": doc.updated,
        "allowed_groups": groups,
        "format": doc.format,
        "source_root": root,
        "source_path": doc.source_path,
        "doc_key": key,
        "chunk_hash": chunk.hash,
    }


@dataclass
class _Pending:
    id: str
    text: str
    indexed: str
    meta: dict[str, Any]
    embedding: np.ndarray | None


class Ingestor:
    def __init__(
        self,
        store: ChromaStore,
        bm25: BM25Index,
        embedder: Embedder,
        *,
        max_words: int = DEFAULT_MAX_WORDS,
        batch_size: int = WRITE_BATCH,
    ) -> None:
        self.store = store
        self.bm25 = bm25
        self.embedder = embedder
        self.max_words = max_words
        self.batch_size = batch_size
        self._existing_ids: set[str] = set()

    def ingest(
        self,
        path: str | Path,
        groups: Iterable[str] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> IngestReport:
        started = time.perf_counter()
        root = Path(path).expanduser().resolve()
        if not root.exists():
            raise FileNotFoundError(f"{root}: no such file or folder to ingest")
        report = IngestReport(root=str(root))
        default_groups = sorted(set(groups or ()))
        files = list(iter_files(root))
        report.skipped = unsupported_files(root)
        total = len(files)
        progress = on_progress or (lambda _d, _n, _t: None)
        progress("scanning", 0, total)

        # The keyword index follows the store change by change. It must start in step with the
        # store (else rebuild it once), and is marked "in flux" until this run ends, so a crash
        # half-way makes the next run or search rebuild it instead of trusting a partial copy.
        rebuild_keyword_index(self.store, self.bm25)
        self.bm25.set_fingerprint(f"ingesting:{uuid.uuid4().hex}")
        self._existing_ids = set()  # chunk ids already in the store, for add vs upsert
        # One row per document (its first chunk), never every chunk; and for a few files only
        # the documents from this root plus those files' own ids, so adding one file to a big
        # corpus reads a handful of rows instead of one per document.
        few = len(files) <= _FEW_FILES
        first_chunks: dict[str, Any] = {"chunk_index": 0}
        if few:
            first_chunks = {"$and": [{"chunk_index": 0}, {"source_root": str(root)}]}
        known: dict[str, Mapping[str, Any]] = {
            str(c.metadata["doc_id"]): c.metadata for c in self.store.get(where=first_chunks, with_text=False)
        }
        loaded: Iterable[tuple[Path, Document | str]] = (_load(file, root) for file in files)
        if few:
            # Ingested before from another root? One lookup for all of them, not one per file.
            loaded = list(loaded)
            others = sorted({d.doc_id for _, d in loaded if isinstance(d, Document)} - known.keys())
            if others:
                where = {"$and": [{"chunk_index": 0}, {"doc_id": {"$in": others}}]}
                for c in self.store.get(where=where, with_text=False):
                    known[str(c.metadata["doc_id"])] = c.metadata
        seen: set[str] = set()
        pending: list[_Pending] = []
        for n, (file, doc) in enumerate(loaded, start=1):
            if isinstance(doc, str):
                report.errors[str(file)] = doc
                progress(file.name, n, total)
                continue
            if doc.doc_id in seen:
                report.errors[str(file)] = f"duplicate document id {doc.doc_id!r}; set a unique 'id:'"
                progress(file.name, n, total)
                continue
            seen.add(doc.doc_id)
            doc_groups = effective_groups(doc, default_groups)
            key = _doc_key(doc, doc_groups, self.embedder, self.max_words)
            previous = known.get(doc.doc_id)
            if previous is not None and previous.get("doc_key") == key:
                report.unchanged.append(doc.doc_id)
                progress(file.name, n, total)
                continue
            chunks = chunk_document(doc, self.max_words)
            if not chunks:
                report.errors[str(file)] = "no text to index (a scanned PDF or an empty file?)"
                seen.discard(doc.doc_id)  # any earlier version is removed below
                progress(file.name, n, total)
                continue
            (report.updated if previous is not None else report.added).append(doc.doc_id)
            pending.extend(self._plan(doc, chunks, doc_groups, key, str(root), previous is not None, report))
            if len(pending) >= self.batch_size:
                self._flush(pending, report, partial(_announce, progress, done=n - 1, total=total))
                pending = []
            progress(file.name, n, total)
        # The last batch is embedded after every file is read: the bar says so instead of
        # standing still at its end.
        self._flush(pending, report, partial(_announce, progress, done=total, total=total))

        gone = [d for d, meta in known.items() if meta.get("source_root") == str(root) and d not in seen]
        for doc_id in gone:
            stale = [c.id for c in self.store.get(where={"doc_id": doc_id}, with_text=False)]
            self.store.delete(stale)
            self.bm25.delete(stale)
            report.chunks_deleted += len(stale)
            report.removed.append(doc_id)

        generation = str(self.store.state().get("generation", ""))
        if report.changed or not generation:
            generation = uuid.uuid4().hex
            self.store.set_state(generation=generation)
        self.bm25.set_fingerprint(generation)
        report.seconds = time.perf_counter() - started
        progress("done", total, total)
        return report

    def _plan(
        self,
        doc: Document,
        chunks: list[Chunk],
        groups: list[str],
        key: str,
        root: str,
        exists: bool,
        report: IngestReport,
    ) -> list[_Pending]:
        reuse: dict[str, np.ndarray] = {}
        old_ids: list[str] = []
        if exists:
            for c in self.store.get(where={"doc_id": doc.doc_id}, with_embeddings=True, with_text=False):
                old_ids.append(c.id)
                h = c.metadata.get("chunk_hash")
                if h and c.embedding is not None:
                    reuse[str(h)] = c.embedding
        new_ids = {c.id for c in chunks}
        stale = [i for i in old_ids if i not in new_ids]
        self._existing_ids.update(old_ids)
        if stale:
            self.store.delete(stale)
            self.bm25.delete(stale)
            self._existing_ids.difference_update(stale)
            report.chunks_deleted += len(stale)
        return [
            _Pending(
                id=c.id,
                text=c.text,
                indexed=c.indexed_text,
                meta=chunk_metadata(c, doc, groups, key, root),
                embedding=reuse.get(c.hash),
            )
            for c in chunks
        ]

    def _flush(
        self, pending: list[_Pending], report: IngestReport, announce: Callable[[int], object] | None = None
    ) -> None:
        if not pending:
            return
        todo = [p for p in pending if p.embedding is None]
        if todo:
            if announce is not None:
                announce(len(todo))
            vectors = self.embedder.embed_documents([p.indexed for p in todo])
            for p, v in zip(todo, vectors, strict=True):
                p.embedding = v
            report.chunks_embedded += len(todo)
        for write, group in (
            (self.store.add, [p for p in pending if p.id not in self._existing_ids]),
            (self.store.upsert, [p for p in pending if p.id in self._existing_ids]),
        ):
            if group:
                write(
                    [p.id for p in group],
                    [p.text for p in group],
                    np.stack([np.asarray(p.embedding, dtype=np.float32) for p in group]),
                    [p.meta for p in group],
                )
        self._existing_ids.update(p.id for p in pending)
        self.bm25.upsert(
            [p.id for p in pending],
            [p.indexed for p in pending],
            [list(p.meta.get("allowed_groups") or []) for p in pending],
        )
        report.chunks_written += len(pending)


def _announce(progress: ProgressCallback, chunks: int, *, done: int, total: int) -> None:
    progress(f"embedding {chunks} chunks", done, total)


def _load(file: Path, root: Path) -> tuple[Path, Document | str]:
    """The document, or why it does not load (one line)."""
    try:
        return file, load_document(file, root)
    except (DocumentError, OSError) as exc:
        return file, str(exc)


def rebuild_keyword_index(store: ChromaStore, bm25: BM25Index, *, force: bool = False) -> bool:
    """Rebuild the BM25 index from the store if it was built from another generation."""
    generation = str(store.state().get("generation", ""))
    if not force and bm25.fingerprint == generation:
        return False
    chunks = store.get()
    chunks.sort(key=lambda c: c.id)
    bm25.build(
        [c.id for c in chunks],
        [indexed_text(str(c.metadata.get("title", "")), str(c.metadata.get("section", "")), c.text) for c in chunks],
        [list(c.metadata.get("allowed_groups") or []) for c in chunks],
        generation,
    )
    return True


@contextmanager
def rich_progress(description: str = "ingesting", console: Any = None) -> Iterator[ProgressCallback]:
    """A rich progress bar as a :data:`ProgressCallback`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[item]}"),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=None, item="")

        def update(item: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, item=item)

        yield update


__all__ = [
    "CHUNKER_VERSION",
    "IngestReport",
    "Ingestor",
    "ProgressCallback",
    "chunk_metadata",
    "effective_groups",
    "rebuild_keyword_index",
    "rich_progress",
]
