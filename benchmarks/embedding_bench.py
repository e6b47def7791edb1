"""Embedding backends for MiniLM (all-MiniLM-L6-v2), in one run: ONNX Runtime (the default, no
torch), ONNX int8, and two baselines: sentence-transformers on torch (an optional extra), and
the plain ONNX graph on ONNX Runtime's default settings (what exists on every install).

Embed-only throughput is measured in interleaved rounds (each round runs every backend once on
the same passages, each in a fresh process so no backend's idle-spinning threads slow the next;
the median round counts), so a busy machine slows all of them alike. In every round torch
and ONNX also ingest the demo handbook end to end into a fresh index (load, chunk, embed,
Chroma, keyword index; median over rounds); in the first, ONNX int8 too, and all three run the
retrieval eval (evals/retrieval: recall@5, MRR).

    python benchmarks/embedding_bench.py [--sample 256] [--rounds 3] [--backends torch,onnx,onnx-int8]
    python benchmarks/embedding_bench.py --quick --json   # smoke: ONNX and its plain baseline, no eval

torch is not part of the product install: the torch processes run with the bench venv's
interpreter (``.venv-bench/``, layered on ``.venv``; ``make bench`` provisions it, see
benchmarks/bench_env.py), or with this interpreter if it has sentence-transformers itself.
With neither, the goal rows compare against the plain ONNX graph instead and say so: they are
not judged against a torch that could not be measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from _rows import Row, emit
from bench_env import torch_python

PASSAGE = (
    "Expense policy > Approval limits\n\nWho approves an expense claim depends on its amount and "
    "category: expenses up to $100 in the categories meals, travel, office supplies or software are "
    "approved automatically when a receipt is attached; up to $1,000 your manager approves. "
)
PLAIN = "onnx-plain"  # the plain graph, ORT defaults, 64-row batches: the no-torch baseline
TORCH_BEST_BATCH = 8  # sentence-transformers' fastest batch here (8/16/32/64 measured on one core)


@dataclass
class Figures:
    backend: str
    load_s: float
    rates: list[float] = field(default_factory=list)  # chunks/s per round, model loaded
    cpu_rates: list[float] = field(default_factory=list)  # chunks per CPU-second of the process, per round
    vectors: np.ndarray | None = None
    ingest_rates: list[float] = field(default_factory=list)  # chunks/s end to end, per round
    recall: dict[str, float] | None = None  # mode -> recall@5
    mrr: dict[str, float] | None = None
    gemm_gflops: list[float] = field(default_factory=list)  # this machine's fp32 MatMul rate (ONNX child)

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def cpu_rate(self) -> float:
        return statistics.median(self.cpu_rates)

    @property
    def ingest_rate(self) -> float | None:
        return statistics.median(self.ingest_rates) if self.ingest_rates else None


def loader(backend: str) -> Callable[[list[str]], np.ndarray]:
    if backend == PLAIN:
        from connectors.knowledge.onnx_minilm import OnnxMiniLM

        plain = OnnxMiniLM(fused=False, tuned=False)
        return lambda texts: plain.embed(texts, 64, batch_tokens=sys.maxsize)
    if backend == "torch-best":
        from connectors.knowledge import MiniLMEmbedder

        best = MiniLMEmbedder(backend="torch", batch_size=TORCH_BEST_BATCH)
        return best.embed_documents
    from connectors.knowledge import MiniLMEmbedder

    return MiniLMEmbedder(backend=backend).embed_documents


def ingest(fig: Figures, workdir: Path, with_eval: bool) -> None:
    """Ingest the handbook into a fresh index (timed), then optionally run the retrieval eval."""
    from connectors.demo.handbook import materialize
    from connectors.knowledge import KnowledgeIndex, MiniLMEmbedder
    from evals.retrieval.run import evaluate, load_questions
    from policies.directory import Directory

    index = KnowledgeIndex.open(workdir / f"data-{fig.backend}", embedder=MiniLMEmbedder(backend=fig.backend))
    started = time.perf_counter()
    report = index.ingest(materialize(workdir / f"handbook-{fig.backend}"))
    fig.ingest_rates.append(report.chunks_embedded / (time.perf_counter() - started))
    if not with_eval:
        return
    groups = frozenset().union(*(p.groups for p in Directory.load()))
    scores = [s for s in evaluate(index, load_questions(), groups, 5) if s.subset == "all"]
    fig.recall = {s.mode: s.recall for s in scores}
    fig.mrr = {s.mode: s.mrr for s in scores}


def gemm_gflops(rows: int = 1024, reps: int = 20) -> float:
    """What this machine's cores do on one fp32 MatMul of the encoder's largest shape (1,024
    tokens x 384 -> 1,536, the FFN), in ONNX Runtime with the product's session options: the
    ceiling an fp32 backend of this model approaches. Best of ``reps`` runs."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from connectors.knowledge.onnx_minilm import session_options

    k, n = 384, 1536
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((k, n)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, n])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), session_options(), providers=["CPUExecutionProvider"])
    x = rng.standard_normal((rows, k)).astype(np.float32)
    sess.run(None, {"x": x})
    best = float("inf")
    for _ in range(reps):
        started = time.perf_counter()
        sess.run(None, {"x": x})
        best = min(best, time.perf_counter() - started)
    return 2 * rows * k * n / best / 1e9


def encoder_gflop(texts: list[str]) -> float:
    """Floating-point work of MiniLM-L6 (6 layers, hidden 384, FFN 1,536) on ``texts``: the dense
    layers (2 FLOPs per weight per token) and attention's two n x n products, per text at its own
    token count (padding excluded: neither backend is charged for it)."""
    from connectors.knowledge.onnx_minilm import load_tokenizer, model_dir

    config = json.loads((model_dir() / "config.json").read_text())
    h, ff, layers = int(config["hidden_size"]), int(config["intermediate_size"]), int(config["num_hidden_layers"])
    lengths = np.array([len(e.ids) for e in load_tokenizer().encode_batch(texts)], dtype=np.float64)
    dense = 2 * lengths * (4 * h * h + 2 * h * ff)
    attention = 4 * lengths**2 * h
    return float(layers * (dense + attention).sum() / 1e9)


def sample_texts(sample: int) -> list[str]:
    return [f"{i} {PASSAGE * (1 + i % 3)}" for i in range(sample)]


def cos_min(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    return None if a is None or b is None else float((a * b).sum(axis=1).min())


def child(backend: str, sample: int, with_ingest: bool, with_eval: bool, out: Path) -> int:
    """One backend in a process of its own: torch's OpenMP workers and ORT's intra-op threads
    spin for a while after each call, so in one process each backend would be timed while the
    other's threads still hold the cores."""
    texts = sample_texts(sample)
    started = time.perf_counter()
    embed = loader(backend)
    embed(["warm up"])  # builds the graph / loads the model
    fig = Figures(backend, time.perf_counter() - started)
    embed(texts[:8])
    started, cpu = time.perf_counter(), time.process_time()
    vectors = embed(texts)
    fig.rates.append(sample / (time.perf_counter() - started))
    fig.cpu_rates.append(sample / max(time.process_time() - cpu, 1e-9))
    if backend == "onnx":
        fig.gemm_gflops.append(gemm_gflops())
    if with_ingest or with_eval:
        with tempfile.TemporaryDirectory(prefix="chamberlain-embed-") as tmp:
            ingest(fig, Path(tmp), with_eval)
    np.save(out.with_suffix(".npy"), vectors)
    keys = ("load_s", "rates", "cpu_rates", "ingest_rates", "gemm_gflops", "recall", "mrr")
    doc = {k: getattr(fig, k) for k in keys}
    out.write_text(json.dumps(doc))
    return 0


def measure(backend: str, sample: int, with_ingest: bool, with_eval: bool, tmp: Path, python: str) -> Figures:
    out = tmp / f"{backend}.json"
    cmd = [python, __file__, "--child", backend, "--sample", str(sample), "--child-out", str(out)]
    cmd += (["--child-ingest"] if with_ingest else []) + (["--child-eval"] if with_eval else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{backend}: the measuring process failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    doc = json.loads(out.read_text())
    fig = Figures(backend, doc.pop("load_s"), **doc)
    fig.vectors = np.load(out.with_suffix(".npy"))
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=256, help="passages for the embed-only throughput")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved embed-only rounds (median counts)")
    parser.add_argument("--backends", default="torch,onnx,onnx-int8", help=f"besides the {PLAIN} baseline")
    parser.add_argument("--quick", action="store_true", help="smoke run: ONNX and plain ONNX, 16 passages, no eval")
    parser.add_argument("--json", action="store_true", help="print the rows for make bench on stdout")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: measure one backend in this process
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-ingest", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-eval", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.sample, args.child_ingest, args.child_eval, args.child_out)
    if args.quick:
        args.sample, args.rounds, args.backends = 16, 1, "onnx"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    torch_py, torch_from = torch_python() if "torch" in backends else (None, "torch not run")
    if "torch" in backends and torch_py is None:
        console.print(
            f"[yellow]no torch baseline in this run: {torch_from}; ONNX is compared with the plain ONNX graph "
            f"on ORT defaults ({PLAIN}) instead, and the goal rows are not judged[/yellow]"
        )
        backends.remove("torch")
    elif torch_py is not None:
        console.print(f"[dim]torch baseline: {torch_py} ({torch_from})[/dim]")
    if "torch" in backends:
        backends.append("torch-best")
    backends.append(PLAIN)

    figures: dict[str, Figures] = {}
    evaluated = () if args.quick else ("torch", "onnx", "onnx-int8")
    with tempfile.TemporaryDirectory(prefix="chamberlain-embed-") as tmp:
        for r in range(args.rounds):
            # torch at batch 8 is informational: one round (two fewer torch loads, ~25 s each on a
            # busy machine) keeps `make bench` within a few minutes.
            todo = [b for b in backends if r == 0 or b != "torch-best"]
            also = (
                "; torch and onnx also ingest the handbook" + ("; all three evaluate" if r == 0 else "")
                if evaluated
                else ""
            )
            console.print(
                f"[dim]round {r + 1}/{args.rounds}: {', '.join(todo)} embedding {args.sample} passages, "
                f"each in its own process{also}[/dim]"
            )
            for b in todo:
                with console.status(f"round {r + 1}/{args.rounds}: {b}…"):
                    python = torch_py if b.startswith("torch") and torch_py else sys.executable
                    # The ingest goal row is a median over rounds like embed-only, not one sample.
                    with_ingest = b in evaluated and (r == 0 or b in ("torch", "onnx"))
                    fig = measure(b, args.sample, with_ingest, r == 0 and b in evaluated, Path(tmp), python)
                if b not in figures:
                    figures[b] = fig
                else:
                    figures[b].rates += fig.rates
                    figures[b].cpu_rates += fig.cpu_rates
                    figures[b].ingest_rates += fig.ingest_rates
                    figures[b].gemm_gflops += fig.gemm_gflops

    table = Table(title=f"MiniLM backends (embed-only: {args.sample} passages, median of {args.rounds} rounds)")
    for col in ("backend", "load s", "embed chunks/s", "per CPU-s", "ingest chunks/s", "hybrid recall@5"):
        table.add_column(col, justify="right")
    table.add_column("vector recall@5", justify="right")
    table.add_column("hybrid MRR", justify="right")
    for f in figures.values():
        table.add_row(
            f.backend,
            f"{f.load_s:.1f}",
            f"{f.rate:,.0f}",
            f"{f.cpu_rate:,.0f}",
            "—" if f.ingest_rate is None else f"{f.ingest_rate:,.0f}",
            "—" if f.recall is None else f"{f.recall['hybrid']:.3f}",
            "—" if f.recall is None else f"{f.recall['vector']:.3f}",
            "—" if f.mrr is None else f"{f.mrr['hybrid']:.3f}",
        )
    console.print(table)
    if args.json:
        no_torch = "torch not run" if torch_from == "torch not run" else "torch not measured"
        emit("embedding", rows(figures, no_torch, encoder_gflop(sample_texts(args.sample)) / args.sample))
    return 0


def rows(figures: dict[str, Figures], no_torch: str, gflop_per_text: float | None = None) -> list[Row]:
    out: list[Row] = []
    onnx, torch, plain = figures.get("onnx"), figures.get("torch"), figures[PLAIN]
    best, int8 = figures.get("torch-best"), figures.get("onnx-int8")
    if onnx and torch:
        out.append(Row("MiniLM embed-only, ONNX", "chunks/s", onnx.rate, torch.rate, "≥ 2× torch",
                       onnx.rate >= 2 * torch.rate, "torch, batch 64"))  # fmt: skip
    elif onnx:
        out.append(Row(f"MiniLM embed-only, ONNX ({no_torch}: vs plain ONNX)", "chunks/s", onnx.rate, plain.rate,
                       "≥ 2× torch: not judged (`make bench-env`)", None, "plain graph, ORT defaults"))  # fmt: skip
    if onnx and torch:
        # Work done, not time waited: on a machine shared with other jobs the wall-clock rows
        # mostly measure the neighbours; CPU time of all our threads varies far less.
        out.append(Row("MiniLM embed-only per CPU-second, ONNX", "chunks/s", onnx.cpu_rate, torch.cpu_rate,
                       "informational (robust to a busy machine)", None, "torch, batch 64"))  # fmt: skip
    if onnx and onnx.gemm_gflops and gflop_per_text:
        # How close each fp32 backend runs to the machine's own MatMul rate: an fp32 backend
        # cannot beat torch by more than (this ceiling) / (torch's rate), whatever it does.
        ceiling = max(onnx.gemm_gflops)
        for name, fig in (("ONNX", onnx), ("torch, batch 64", torch)):
            if fig is not None:
                out.append(Row(f"MiniLM embed-only, {name}: GFLOP/s vs this machine's fp32 MatMul", "GFLOP/s",
                               fig.rate * gflop_per_text, ceiling, "informational (the fp32 ceiling)", None,
                               "one 1,024x384x1,536 MatMul, same threads"))  # fmt: skip
    if onnx and best:
        out.append(Row("MiniLM embed-only, ONNX vs torch at its best batch size", "chunks/s", onnx.rate, best.rate,
                       "informational (one round)", None, f"torch, batch {TORCH_BEST_BATCH}"))  # fmt: skip
    if onnx and torch:
        out.append(Row("MiniLM embed-only, ONNX vs plain ONNX graph", "chunks/s", onnx.rate, plain.rate,
                       "informational", None, "plain graph, ORT defaults"))  # fmt: skip
    if int8:
        base, label = (torch, "torch, batch 64") if torch else (plain, "plain ONNX graph, ORT defaults")
        out.append(Row("MiniLM embed-only, ONNX int8 (opt-in)", "chunks/s", int8.rate, base.rate, "informational",
                       None, label))  # fmt: skip
    if onnx and onnx.ingest_rate and torch and torch.ingest_rate:
        out.append(Row("handbook ingest end to end, ONNX", "chunks/s", onnx.ingest_rate, torch.ingest_rate,
                       "≥ 2× torch", onnx.ingest_rate >= 2 * torch.ingest_rate, "torch"))  # fmt: skip
    elif onnx and onnx.ingest_rate:
        out.append(Row(f"handbook ingest end to end, ONNX ({no_torch})", "chunks/s", onnx.ingest_rate, None,
                       "≥ 2× torch: not judged (`make bench-env`)", None))  # fmt: skip
    if onnx:
        out.append(Row("MiniLM model load, ONNX", "s", onnx.load_s, torch.load_s if torch else None,
                       "informational", None, "torch"))  # fmt: skip
    cos = cos_min(onnx.vectors if onnx else None, torch.vectors if torch else None)
    if cos is not None:
        out.append(Row("ONNX vectors vs torch's, min cosine", "", cos, None, "≥ 0.999 (old indexes stay valid)",
                       cos >= 0.999))  # fmt: skip
    if onnx and onnx.mrr and onnx.recall:
        ref = torch.mrr["hybrid"] if torch and torch.mrr else None
        out.append(Row("retrieval eval hybrid MRR, ONNX", "", onnx.mrr["hybrid"], ref,
                       "≥ torch" if ref is not None else "informational (no torch)",
                       onnx.mrr["hybrid"] >= ref if ref is not None else None, "torch" if ref else ""))  # fmt: skip
        out.append(Row("retrieval eval hybrid vs vector-only recall@5", "", onnx.recall["hybrid"],
                       onnx.recall["vector"], "≥ vector-only", onnx.recall["hybrid"] >= onnx.recall["vector"],
                       "vector-only"))  # fmt: skip
    if int8 and int8.mrr and onnx and onnx.mrr:
        # Informational: int8 is opt-in whatever this shows. Its vectors come from the CPU's int8
        # kernels (they round and saturate differently from CPU to CPU), and on 72 questions the MRR moves by
        # ±0.01 between int8 variants whose vectors agree to a cosine of 0.99 (benchmarks/README.md).
        out.append(Row("retrieval eval hybrid MRR, ONNX int8 (opt-in)", "", int8.mrr["hybrid"], onnx.mrr["hybrid"],
                       "informational (int8 stays opt-in)", None, "fp32 ONNX"))  # fmt: skip
    cos8 = cos_min(int8.vectors if int8 else None, onnx.vectors if onnx else None)
    if cos8 is not None:
        out.append(Row("ONNX int8 vectors vs fp32, min cosine", "", cos8, None, "informational", None))
    return out


if __name__ == "__main__":
    sys.exit(main())
