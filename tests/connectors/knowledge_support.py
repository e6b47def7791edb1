"""Shared, expensive knowledge-base fixtures for tests: the demo handbook ingested once per
process with the real MiniLM model and a real Chroma store (tests of other layers reuse it)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def handbook_data_dir() -> Path:
    """A Chamberlain data dir whose knowledge base (``knowledge/``) holds the demo handbook,
    ingested with MiniLM into Chroma + BM25."""
    from connectors.demo.handbook import materialize
    from connectors.knowledge import KnowledgeIndex, MiniLMEmbedder

    root = Path(tempfile.mkdtemp(prefix="chamberlain-kb-"))
    atexit.register(shutil.rmtree, root, True)
    index = KnowledgeIndex.open(root / "data" / "knowledge", embedder=MiniLMEmbedder())
    report = index.ingest(materialize(root / "handbook"))
    assert not report.errors, report.errors
    return root


def handbook_dir() -> Path:
    return handbook_data_dir() / "handbook"
