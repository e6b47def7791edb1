from __future__ import annotations

import numpy as np
import pytest

from connectors.knowledge import Embedder, HashingEmbedder, MiniLMEmbedder, build_embedder


def test_hashing_embedder_is_deterministic_and_normalised() -> None:
    a = HashingEmbedder(64).embed_documents(["expense receipts above 25", ""])
    b = HashingEmbedder(64).embed_documents(["expense receipts above 25", ""])
    assert np.array_equal(a, b) and a.dtype == np.float32
    assert np.isclose(np.linalg.norm(a[0]), 1.0) and not a[1].any()
    q = HashingEmbedder(64).embed_query("expense receipts")
    assert float(a[0] @ q) > 0.5


def test_embedders_rebuild_from_name_and_config() -> None:
    for emb in (HashingEmbedder(32, bigrams=False), MiniLMEmbedder(batch_size=16)):
        assert isinstance(emb, Embedder)
        again = build_embedder(emb.name, emb.config())
        assert (again.name, again.config()) == (emb.name, emb.config())
    with pytest.raises(ValueError, match="unknown embedder"):
        build_embedder("openai-ada", {})


def test_constructing_minilm_loads_nothing() -> None:
    # Loading costs seconds: it must wait for the first embed call.
    from connectors.knowledge import embeddings

    before = embeddings._load_minilm_cached.cache_info().currsize
    MiniLMEmbedder()
    assert embeddings._load_minilm_cached.cache_info().currsize == before
