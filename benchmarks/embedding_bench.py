"""Embedding backends for MiniLM (all-MiniLM-L6-v2), in one run: ONNX Runtime (the default, no
torch) and ONNX int8 against sentence-transformers on torch (the baseline).

For each backend: model load time, embed-only throughput on handbook-sized passages, and the
demo handbook ingested end to end (load, chunk, embed, Chroma, keyword index) followed by the
retrieval eval (evals/retrieval: recall@5 and MRR over its questions).

    python benchmarks/embedding_bench.py [--sample 256] [--backends torch,onnx,onnx-int8]
    python benchmarks/embedding_bench.py --quick --json   # smoke: ONNX only, small sample, no eval
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _rows import Row, emit

PASSAGE = (
    "Expense policy > Approval limits\n\nWho approves an expense claim depends on its amount and "
    "category: expenses up to $100 in the categories meals, travel, office supplies or software are "
    "approved automatically when a receipt is attached; up to $1,000 your manager approves. "
)


@dataclass
class Figures:
    backend: str
    load_s: float
    embed_rate: float  # chunks/s, model loaded
    ingest_rate: float | None = None  # chunks/s end to end
    recall: dict[str, float] | None = None  # mode -> recall@5
    mrr: dict[str, float] | None = None


def measure(backend: str, sample: int, with_eval: bool, workdir: Path) -> Figures:
    from connectors.knowledge import KnowledgeIndex, MiniLMEmbedder

    emb = MiniLMEmbedder(backend=backend)
    started = time.perf_counter()
    emb.embed_documents(["warm up"])  # loads the model
    load_s = time.perf_counter() - started
    texts = [f"{i} {PASSAGE * (1 + i % 3)}" for i in range(sample)]
    emb.embed_documents(texts[:8])
    started = time.perf_counter()
    emb.embed_documents(texts)
    fig = Figures(backend, load_s, sample / (time.perf_counter() - started))
    if not with_eval:
        return fig

    from connectors.demo.handbook import materialize
    from evals.retrieval.run import evaluate, load_questions
    from policies.directory import Directory

    index = KnowledgeIndex.open(workdir / f"data-{backend}", embedder=emb)
    started = time.perf_counter()
    report = index.ingest(materialize(workdir / f"handbook-{backend}"))
    fig.ingest_rate = report.chunks_embedded / (time.perf_counter() - started)
    groups = frozenset().union(*(p.groups for p in Directory.load()))
    scores = [s for s in evaluate(index, load_questions(), groups, 5) if s.subset == "all"]
    fig.recall = {s.mode: s.recall for s in scores}
    fig.mrr = {s.mode: s.mrr for s in scores}
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=256, help="passages for the embed-only throughput")
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--quick", action="store_true", help="smoke run: ONNX only, 16 passages, no eval")
    parser.add_argument("--json", action="store_true", help="print the rows for make bench on stdout")
    args = parser.parse_args(argv)
    if args.quick:
        args.sample, args.backends = 16, "onnx"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "torch" in backends and importlib.util.find_spec("sentence_transformers") is None:
        # torch is an optional extra: without it the rows have no baseline, they still run.
        console.print("[dim]torch backend not installed (`make install WITH_TORCH=1`): no torch baseline[/dim]")
        backends.remove("torch")
    figures: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory(prefix="chamberlain-embed-") as tmp:
        for b in backends:
            with console.status(f"{b}: loading, embedding{'' if args.quick else ', ingesting, evaluating'}…"):
                figures[b] = measure(b, args.sample, not args.quick, Path(tmp))

    table = Table(title=f"MiniLM backends (embed-only sample: {args.sample} passages)")
    for col in (
        "backend",
        "load s",
        "embed chunks/s",
        "ingest chunks/s",
        "hybrid recall@5",
        "vector recall@5",
        "hybrid MRR",
    ):
        table.add_column(col, justify="right")
    for f in figures.values():
        table.add_row(
            f.backend,
            f"{f.load_s:.1f}",
            f"{f.embed_rate:,.0f}",
            "—" if f.ingest_rate is None else f"{f.ingest_rate:,.0f}",
            "—" if f.recall is None else f"{f.recall['hybrid']:.3f}",
            "—" if f.recall is None else f"{f.recall['vector']:.3f}",
            "—" if f.mrr is None else f"{f.mrr['hybrid']:.3f}",
        )
    console.print(table)

    if args.json:
        rows: list[Row] = []
        onnx, torch = figures.get("onnx"), figures.get("torch")
        base = torch.embed_rate if torch else None
        if onnx:
            rows.append(
                Row(
                    "MiniLM embed throughput, ONNX",
                    "chunks/s",
                    onnx.embed_rate,
                    base,
                    "≥ 2× torch",
                    None if base is None else onnx.embed_rate >= 2 * base,
                    "torch",
                )
            )
            if onnx.ingest_rate is not None and torch and torch.ingest_rate:
                rows.append(
                    Row(
                        "handbook ingest end to end, ONNX",
                        "chunks/s",
                        onnx.ingest_rate,
                        torch.ingest_rate,
                        "≥ 2× torch",
                        onnx.ingest_rate >= 2 * torch.ingest_rate,
                        "torch",
                    )
                )
            rows.append(
                Row(
                    "MiniLM model load, ONNX",
                    "s",
                    onnx.load_s,
                    torch.load_s if torch else None,
                    "informational",
                    None,
                    "torch",
                )
            )
        int8 = figures.get("onnx-int8")
        if int8:
            rows.append(
                Row(
                    "MiniLM embed throughput, ONNX int8",
                    "chunks/s",
                    int8.embed_rate,
                    base,
                    "informational",
                    None,
                    "torch",
                )
            )
        if onnx and onnx.recall and torch and torch.recall:
            rows.append(
                Row(
                    "retrieval eval hybrid recall@5, ONNX",
                    "",
                    onnx.recall["hybrid"],
                    torch.recall["hybrid"],
                    "≥ torch",
                    onnx.recall["hybrid"] >= torch.recall["hybrid"],
                    "torch",
                )
            )
            rows.append(
                Row(
                    "retrieval eval hybrid vs vector-only recall@5",
                    "",
                    onnx.recall["hybrid"],
                    onnx.recall["vector"],
                    "≥ vector-only",
                    onnx.recall["hybrid"] >= onnx.recall["vector"],
                    "vector-only",
                )
            )
        if int8 and int8.mrr and torch and torch.mrr:
            rows.append(
                Row(
                    "retrieval eval hybrid MRR, ONNX int8",
                    "",
                    int8.mrr["hybrid"],
                    torch.mrr["hybrid"],
                    "≥ torch (else int8 stays off)",
                    int8.mrr["hybrid"] >= torch.mrr["hybrid"],
                    "torch",
                )
            )
        emit("embedding", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
