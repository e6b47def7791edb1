"""Knowledge-base benchmark: ingestion throughput and query latency at 10,000 and 100,000 chunks,
hybrid (Chroma + BM25 + RRF) beside a vector-only baseline, in one run.

    python benchmarks/retrieval_bench.py [--sizes 10000,100000] [--queries 200] [--minilm-sample 256]

The synthetic corpus is Markdown files (10 sections = 10 chunks per document, ~80 words each,
Zipf-distributed vocabulary, 30% of documents restricted to one group) ingested through the
real pipeline: loader, chunker, embedder, Chroma PersistentClient, FTS5 keyword index. Embeddings come
from the deterministic *hashing embedder* (384 dimensions, no model), so 100,000 chunks fit in
minutes on a laptop; a MiniLM sample shows what real embedding costs per chunk on this machine.
Queries run as readers with different group sets, so the access filter is always active.

Baselines in the same run: the vector side as it was before (Chroma's own metadata filter,
``$or`` of ``$contains``, on the same store), vector-only retrieval, and a full rebuild of the
keyword index beside adding one document incrementally. ``--quick`` is a smoke run (1,000
chunks); ``--json`` prints the rows for ``make bench``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _rows import Row, emit

GROUPS = ("hr", "finance", "engineering", "sales", "it")
READERS: tuple[frozenset[str], ...] = (
    frozenset({"sales", "all"}),
    frozenset({"hr", "all"}),
    frozenset({"engineering", "it", "all"}),
    frozenset({"finance", "exec", "all"}),
    frozenset({"contractors"}),
)
CHUNKS_PER_DOC = 10
WORDS_PER_CHUNK = 80


@dataclass(frozen=True)
class Result:
    chunks: int
    hybrid_ingest_s: float
    bm25_build_s: float
    latencies_ms: dict[str, list[float]]
    add_document_s: float

    @property
    def vector_ingest_s(self) -> float:
        return self.hybrid_ingest_s - self.bm25_build_s


def make_corpus(folder: Path, chunks: int, seed: int = 7) -> list[str]:
    """Write ``chunks // 10`` Markdown documents; returns the vocabulary (most frequent first)."""
    rng = random.Random(seed)
    vocab = [f"{rng.choice('bcdfghklmnprstvz')}{rng.choice('aeiou')}{i:x}" for i in range(20_000)]
    weights = [1.0 / (r + 1) ** 1.07 for r in range(len(vocab))]
    folder.mkdir(parents=True, exist_ok=True)
    docs = chunks // CHUNKS_PER_DOC
    for d in range(docs):
        words = rng.choices(vocab, weights=weights, k=CHUNKS_PER_DOC * WORDS_PER_CHUNK)
        front = f"---\ntitle: Synthetic document {d}\nupdated: 2026-01-01\n"
        if rng.random() < 0.3:
            front += f"groups: [{rng.choice(GROUPS)}]\n"
        parts = [front + "---\n", f"# Synthetic document {d}\n"]
        for s in range(CHUNKS_PER_DOC):
            body = " ".join(words[s * WORDS_PER_CHUNK : (s + 1) * WORDS_PER_CHUNK])
            parts.append(f"## Section {s} {words[s * WORDS_PER_CHUNK]}\n\n{body}.\n")
        (folder / f"doc{d:06d}.md").write_text("\n".join(parts))
    return vocab


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def run_size(chunks: int, queries: int, workdir: Path) -> Result:
    from connectors.knowledge import HashingEmbedder, KnowledgeIndex
    from connectors.knowledge.ingest import rebuild_keyword_index

    corpus = workdir / f"corpus-{chunks}"
    vocab = make_corpus(corpus, chunks)
    index = KnowledgeIndex.open(workdir / f"data-{chunks}", embedder=HashingEmbedder(384, bigrams=False))
    started = time.perf_counter()
    report = index.ingest(corpus)
    total = time.perf_counter() - started
    assert report.chunks_embedded == chunks, report.as_dict()
    # The BM25 share of ingestion: reading every chunk back and building the keyword index.
    started = time.perf_counter()
    rebuild_keyword_index(index.store, index.bm25, force=True)
    bm25_s = time.perf_counter() - started

    rng = random.Random(11)
    # Mid-frequency words make realistic queries: neither stopword-like nor unseen.
    pool = vocab[50:5000]
    qs = [" ".join(rng.sample(pool, rng.randint(2, 5))) for _ in range(queries)]
    latencies: dict[str, list[float]] = {"hybrid": [], "vector": [], "bm25": [], "chroma-filter": []}
    for mode in ("hybrid", "vector", "bm25"):
        for q in qs[:10]:  # warm caches
            index.search(q, READERS[0], 5, mode)  # type: ignore[arg-type]
        for i, q in enumerate(qs):
            t = time.perf_counter()
            hits = index.search(q, READERS[i % len(READERS)], 5, mode)  # type: ignore[arg-type]
            latencies[mode].append(1000 * (time.perf_counter() - t))
            assert all(h.passage.readable_by(READERS[i % len(READERS)]) for h in hits)
    # The previous vector side: Chroma's metadata filter inside the query, 50 candidates.
    from connectors.knowledge.retrieval import group_filter

    for i, q in enumerate(qs[: max(10, len(qs) // 5)]):
        vec = index.retriever.query_vector(q)
        t = time.perf_counter()
        index.store.query(vec, 50, where=group_filter(READERS[i % len(READERS)]))
        latencies["chroma-filter"].append(1000 * (time.perf_counter() - t))

    # Adding one document to the big index, as `chamberlain docs ingest FILE` does.
    extra = workdir / f"extra-{chunks}"
    make_corpus(extra, CHUNKS_PER_DOC, seed=99)
    new_doc = extra / "added-document.md"
    (extra / "doc000000.md").rename(new_doc)
    started = time.perf_counter()
    added = index.ingest(new_doc)
    add_s = time.perf_counter() - started
    assert added.added, added.as_dict()
    return Result(chunks, total, bm25_s, latencies, add_s)


def minilm_rate(sample: int) -> float:
    """MiniLM embedding throughput (chunks/s) on handbook-sized passages, model already loaded."""
    from connectors.knowledge import MiniLMEmbedder

    text = (
        "Expense policy > Approval limits\n\nWho approves an expense claim depends on its amount and "
        "category: expenses up to $100 in the categories meals, travel, office supplies or software are "
        "approved automatically when a receipt is attached; up to $1,000 your manager approves. "
    ) * 2
    emb = MiniLMEmbedder()
    emb.embed_documents([text] * 8)  # load + warm up
    started = time.perf_counter()
    emb.embed_documents([f"{i} {text}" for i in range(sample)])
    return sample / (time.perf_counter() - started)


def rows(results: list[Result]) -> list[Row]:
    big = results[-1]
    n = f"{big.chunks // 1000}k" if big.chunks >= 1000 else str(big.chunks)
    hy, vec, old = big.latencies_ms["hybrid"], big.latencies_ms["vector"], big.latencies_ms["chroma-filter"]
    out = [
        Row(
            f"hybrid retrieval p50, {n} chunks",
            "ms",
            percentile(hy, 50),
            percentile(old, 50),
            "≤ 25 ms",
            percentile(hy, 50) <= 25,
            "previous vector side alone (Chroma filter)",
        ),
        Row(
            f"hybrid retrieval p95, {n} chunks",
            "ms",
            percentile(hy, 95),
            percentile(old, 95),
            "≤ 60 ms",
            percentile(hy, 95) <= 60,
            "previous vector side alone (Chroma filter)",
        ),
        Row(
            f"vector-only p50, {n} chunks",
            "ms",
            percentile(vec, 50),
            percentile(old, 50),
            "informational",
            None,
            "Chroma filter",
        ),
        Row(
            f"add one document, {n} chunks",
            "s",
            big.add_document_s,
            big.bm25_build_s,
            "≤ 1 s",
            big.add_document_s <= 1.0,
            "full keyword-index rebuild",
        ),
    ]
    if len(results) > 1:
        small = results[0]
        growth = percentile(hy, 50) / max(percentile(small.latencies_ms["hybrid"], 50), 1e-9)
        out.append(
            Row(
                f"hybrid p50 growth {small.chunks // 1000}k → {n}",
                "×",
                growth,
                big.chunks / small.chunks,
                "sub-linear",
                growth < big.chunks / small.chunks,
                "linear",
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated chunk counts")
    parser.add_argument("--queries", type=int, default=200, help="queries per mode and size")
    parser.add_argument("--minilm-sample", type=int, default=0, help="MiniLM reference sample (0: skip)")
    parser.add_argument("--workdir", type=Path, help="keep corpora and stores here (default: a temp dir)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,000 chunks, 20 queries")
    parser.add_argument("--json", action="store_true", help="print the rows for make bench on stdout")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.queries, args.minilm_sample = "1000", 20, 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    console.print(
        "[bold]Embeddings:[/bold] deterministic hashing embedder (384-d, no model) for the synthetic "
        "corpus; store: Chroma PersistentClient (HNSW, cosine); keyword index: SQLite FTS5."
    )
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="chamberlain-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        for n in sizes:
            with console.status(f"{n:,} chunks: generating, ingesting, querying…"):
                results.append(run_size(n, args.queries, workdir))
            r = results[-1]
            console.print(f"{n:,} chunks done (ingest {r.hybrid_ingest_s:.1f}s; keyword rebuild {r.bm25_build_s:.1f}s)")

    ingest = Table(title="Ingestion (load + chunk + embed + store + keyword index)")
    for col in ("chunks", "chunks/s", "full keyword rebuild s", "add one document s"):
        ingest.add_column(col, justify="right")
    for r in results:
        ingest.add_row(
            f"{r.chunks:,}", f"{r.chunks / r.hybrid_ingest_s:,.0f}", f"{r.bm25_build_s:.2f}", f"{r.add_document_s:.2f}"
        )
    console.print(ingest)

    latency = Table(title=f"Query latency, top 5 with the access filter ({args.queries} queries per cell)")
    for col in ("chunks", "mode", "p50 ms", "p95 ms", "mean ms"):
        latency.add_column(col, justify="right")
    labels = (
        ("hybrid", "hybrid (RRF)"),
        ("vector", "vector-only"),
        ("bm25", "keyword-only"),
        ("chroma-filter", "baseline: Chroma-filtered vector, 50"),
    )
    for r in results:
        for mode, label in labels:
            v = r.latencies_ms[mode]
            latency.add_row(
                f"{r.chunks:,}",
                label,
                f"{percentile(v, 50):.1f}",
                f"{percentile(v, 95):.1f}",
                f"{statistics.fmean(v):.1f}",
            )
    console.print(latency)
    if args.minilm_sample:
        with console.status("measuring MiniLM embedding throughput…"):
            rate = minilm_rate(args.minilm_sample)
        console.print(f"Reference: MiniLM embeds ~{rate:,.0f} chunks/s here (see embedding_bench.py).")
    if args.json:
        emit("retrieval", rows(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
