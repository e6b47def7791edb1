"""Retrieval eval: recall@5 and MRR for hybrid, vector-only and BM25-only search, in one run.

    python -m evals.retrieval.run [--data-dir DIR] [--k 5] [--json] [--check]

Ingests the demo handbook (MiniLM embeddings, Chroma, BM25) into a temporary data dir unless
``--data-dir`` points at one, then asks every question in ``questions.jsonl`` in each mode as a
reader who may see every group. A hit is relevant when both its document and its section (the
full heading path) match the expected ones. MRR counts the first relevant hit within the top 10.
``--check`` exits 1 unless hybrid is at least as good as both others on both metrics and better
than each on at least one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATASET = Path(__file__).with_name("questions.jsonl")
MRR_DEPTH = 10


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    doc: str
    section: str
    type: str = "question"  # "question" (natural language) or "keyword" (codes, jargon)


@dataclass(frozen=True)
class Score:
    mode: str
    subset: str
    n: int
    recall: float  # fraction of questions with a relevant hit in the top k
    mrr: float
    doc_recall: float  # document-only recall@k, for context
    ms_per_query: float
    misses: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    rank: int | None  # rank of the first hit matching document and section (within MRR_DEPTH)
    doc_in_top_k: bool


def load_questions(path: Path = DATASET) -> list[Question]:
    out = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            raw = json.loads(line)
            try:
                out.append(
                    Question(raw["id"], raw["question"], raw["doc"], raw["section"], raw.get("type", "question"))
                )
            except KeyError as exc:
                raise SystemExit(f"{path}:{n}: missing field {exc}") from None
    return out


def run_mode(
    index: Any, questions: list[Question], groups: frozenset[str], k: int, mode: str
) -> tuple[dict[str, Outcome], float]:
    """Per-question outcomes and milliseconds per query."""
    out: dict[str, Outcome] = {}
    started = time.perf_counter()
    for q in questions:
        hits = index.search(q.question, groups, max(k, MRR_DEPTH), mode)
        keys = [(h.passage.doc_id, h.passage.section) for h in hits]
        rank = next((i for i, key in enumerate(keys, start=1) if key == (q.doc, q.section)), None)
        out[q.id] = Outcome(rank, q.doc in [d for d, _ in keys[:k]])
    return out, 1000 * (time.perf_counter() - started) / max(1, len(questions))


def score(mode: str, subset: str, questions: list[Question], outcomes: dict[str, Outcome], k: int, ms: float) -> Score:
    n = len(questions)
    ranks = [outcomes[q.id].rank for q in questions]
    return Score(
        mode=mode,
        subset=subset,
        n=n,
        recall=sum(1 for r in ranks if r is not None and r <= k) / n,
        mrr=sum(1.0 / r for r in ranks if r is not None) / n,
        doc_recall=sum(outcomes[q.id].doc_in_top_k for q in questions) / n,
        ms_per_query=ms,
        misses=tuple(q.id for q, r in zip(questions, ranks, strict=True) if r is None or r > k),
    )


def evaluate(index: Any, questions: list[Question], groups: frozenset[str], k: int) -> list[Score]:
    """Scores for every mode, over all questions and then per question type."""
    from connectors.knowledge.retrieval import MODES

    subsets = {"all": questions}
    for t in sorted({q.type for q in questions}):
        subsets[t] = [q for q in questions if q.type == t]
    scores: list[Score] = []
    for mode in MODES:
        outcomes, ms = run_mode(index, questions, groups, k, mode)
        scores.extend(score(mode, name, qs, outcomes, k, ms) for name, qs in subsets.items())
    return scores


def hybrid_is_best(scores: list[Score]) -> bool:
    """Over all questions: hybrid >= each other mode on both metrics, > on at least one."""
    by = {s.mode: s for s in scores if s.subset == "all"}
    h = by["hybrid"]
    others = [s for m, s in by.items() if m != "hybrid"]
    return all(h.recall >= o.recall and h.mrr >= o.mrr and (h.recall > o.recall or h.mrr > o.mrr) for o in others)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="an existing data dir holding the ingested handbook")
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--check", action="store_true", help="exit 1 unless hybrid is the best mode")
    parser.add_argument(
        "--backend", default="auto", help="MiniLM runtime: auto, onnx, onnx-int8 or torch (a fresh ingest only)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

    from rich.console import Console
    from rich.table import Table

    from connectors.demo.handbook import materialize
    from connectors.knowledge import KnowledgeIndex, MiniLMEmbedder
    from policies.directory import Directory

    console = Console(stderr=True)
    questions = load_questions(args.dataset)
    # A reader who may see everything: this measures ranking, not permissions.
    groups = frozenset().union(*(p.groups for p in Directory.load()))
    with tempfile.TemporaryDirectory(prefix="chamberlain-eval-") as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        index = KnowledgeIndex.open(data_dir, embedder=None if args.data_dir else MiniLMEmbedder(backend=args.backend))
        if args.data_dir is None:
            with console.status("ingesting the demo handbook (MiniLM)…"):
                report = index.ingest(materialize(Path(tmp) / "handbook"))
            console.print(f"ingested {len(report.added)} documents, {report.chunks_embedded} chunks")
        index.search("warm-up", groups, 1)  # load the model before timing
        scores = evaluate(index, questions, groups, args.k)

    best = hybrid_is_best(scores)
    if args.json:
        print(
            json.dumps(
                {
                    "questions": len(questions),
                    "k": args.k,
                    "hybrid_is_best": best,
                    "scores": [
                        {
                            "mode": s.mode,
                            "subset": s.subset,
                            "n": s.n,
                            f"recall@{args.k}": round(s.recall, 4),
                            f"mrr@{MRR_DEPTH}": round(s.mrr, 4),
                            f"doc_recall@{args.k}": round(s.doc_recall, 4),
                            "ms_per_query": round(s.ms_per_query, 2),
                            "misses": list(s.misses),
                        }
                        for s in scores
                    ],
                },
                indent=2,
            )
        )
    else:
        out = Console()
        for subset in dict.fromkeys(s.subset for s in scores):
            rows = [s for s in scores if s.subset == subset]
            label = {"all": "questions", "question": "natural-language questions", "keyword": "keyword queries"}
            title = f"Retrieval eval — {rows[0].n} {label.get(subset, subset)} (document and section must match)"
            table = Table(title=title)
            table.add_column("mode")
            table.add_column(f"recall@{args.k}", justify="right")
            table.add_column(f"MRR@{MRR_DEPTH}", justify="right")
            table.add_column(f"doc recall@{args.k}", justify="right")
            if subset == "all":
                table.add_column("ms/query", justify="right")
            table.add_column(f"not in top {args.k}")
            top_recall = max(s.recall for s in rows)
            top_mrr = max(s.mrr for s in rows)
            for s in rows:
                cells = [
                    s.mode,
                    f"{s.recall:.3f}" + (" *" if s.recall == top_recall else ""),
                    f"{s.mrr:.3f}" + (" *" if s.mrr == top_mrr else ""),
                    f"{s.doc_recall:.3f}",
                ]
                if subset == "all":
                    cells.append(f"{s.ms_per_query:.1f}")
                cells.append(" ".join(s.misses))
                table.add_row(*cells)
            out.print(table)
        out.print(
            "[green]hybrid is the best mode over all questions[/green]"
            if best
            else "[red]hybrid is NOT the best mode over all questions[/red]"
        )
    return 0 if best or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
