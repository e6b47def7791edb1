"""benchmarks/bench_env.py: the bench-only venv that holds the torch baseline outside .venv.

Real pip against a local folder of wheels (PIP_NO_INDEX): the CUDA refusal is decided on pip's
own dry-run resolution, and the layered venv is a real venv importing this checkout."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def bench_env() -> Iterator[object]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_env

        yield bench_env
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def _wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> None:
    """A minimal pure-Python wheel: one module named like the project, and its metadata."""
    mod = name.replace("-", "_")
    info = f"{mod}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    files = {
        f"{mod}.py": f"__version__ = {version!r}\n",
        f"{info}/METADATA": meta,
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{p},,\n" for p in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(folder / f"{mod}-{version}-py3-none-any.whl", "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)


@pytest.fixture()
def wheels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    _wheel(folder, "chamberlain-fake-torch", "1.0", ("nvidia-fake-cublas-cu12",))
    _wheel(folder, "nvidia-fake-cublas-cu12", "1.0")
    _wheel(folder, "chamberlain-fake-torch", "2.0+cpu")
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # only the folder above: no registry, no network
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    return folder


def _requirements(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "requirements-bench.txt"
    path.write_text(line + "\n")
    return path


def test_a_resolution_that_brings_cuda_libraries_is_refused_with_the_fix(
    bench_env, wheels: Path, tmp_path: Path
) -> None:
    with pytest.raises(bench_env.BenchEnvError) as err:
        bench_env.check_resolution(Path(sys.executable), _requirements(tmp_path, "chamberlain-fake-torch==1.0"))
    msg = str(err.value)
    assert "CUDA" in msg and "nvidia-fake-cublas-cu12" in msg and "PIP_EXTRA_INDEX_URL" in msg
    assert "\n" not in msg


def test_a_cpu_build_resolves_and_nothing_is_installed(bench_env, wheels: Path, tmp_path: Path) -> None:
    todo = bench_env.check_resolution(Path(sys.executable), _requirements(tmp_path, "chamberlain-fake-torch==2.0+cpu"))
    assert todo == {"chamberlain-fake-torch": "2.0+cpu"}
    probe = subprocess.run([sys.executable, "-c", "import chamberlain_fake_torch"], capture_output=True)
    assert probe.returncode != 0  # a dry run


def test_an_unavailable_requirement_is_one_line_naming_the_file(bench_env, wheels: Path, tmp_path: Path) -> None:
    with pytest.raises(bench_env.BenchEnvError, match=r"pip cannot resolve requirements-bench.txt: .*9\.9"):
        bench_env.check_resolution(Path(sys.executable), _requirements(tmp_path, "chamberlain-fake-torch==9.9"))


@pytest.mark.timeout(300)
def test_the_bench_venv_is_layered_on_this_venv_and_provisioned_once(bench_env, wheels: Path, tmp_path: Path) -> None:
    venv, reqs = tmp_path / "venv-bench", _requirements(tmp_path, "chamberlain-fake-torch==2.0+cpu")
    assert "no bench venv" in bench_env.status(venv, reqs)
    python = bench_env.ensure(venv, reqs, probe="chamberlain_fake_torch")
    assert bench_env.status(venv, reqs) is None
    # The checkout and the product venv's packages import there (from /: not via the cwd);
    # the baseline's package is in the bench venv only.
    code = "import connectors.knowledge, onnxruntime, chamberlain_fake_torch as t; print(t.__file__)"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd="/", check=True)
    assert out.stdout.strip().startswith(str(venv))
    assert subprocess.run([sys.executable, "-c", "import chamberlain_fake_torch"], capture_output=True).returncode
    # Idempotent: a second call finds it ready and runs no pip at all (the wheels are gone).
    for whl in wheels.iterdir():
        whl.unlink()
    assert bench_env.ensure(venv, reqs, probe="chamberlain_fake_torch") == python
    # Changing the requirements makes it out of date (and says how to fix it).
    reqs.write_text("chamberlain-fake-torch==2.0+cpu\n# changed\n")
    assert "out of date" in bench_env.status(venv, reqs) and "make bench-env" in bench_env.status(venv, reqs)
    stamp = json.loads((venv / bench_env.STAMP).read_text())
    assert stamp["base"] == bench_env._base_purelib()


def test_without_a_torch_interpreter_the_goal_rows_are_not_judged(bench_env) -> None:
    import numpy as np
    from embedding_bench import PLAIN, Figures, rows

    vec = np.ones((2, 384), dtype=np.float32) / np.sqrt(384)
    figs = {
        "onnx": Figures("onnx", 1.0, [100.0], [50.0], vec, [60.0], {"hybrid": 0.97, "vector": 0.95}, {"hybrid": 0.9}),
        PLAIN: Figures(PLAIN, 1.0, [60.0], [30.0], vec),
    }
    out = {r.measure: r for r in rows(figs, "torch not measured")}
    torch_rows = [r for r in out.values() if "2× torch" in r.goal]
    assert len(torch_rows) == 2  # embed-only and ingest: shown, never judged without torch
    assert all(r.met is None and "not judged" in r.goal for r in torch_rows)


def test_quick_runs_never_provision_the_bench_venv(bench_env, monkeypatch: pytest.MonkeyPatch) -> None:
    import run_all

    calls: list[str] = []
    monkeypatch.setattr(run_all, "provision", lambda console: calls.append("provision"))
    monkeypatch.setattr(run_all, "run", lambda script, quick, timeout: ({"rows": []}, "", 0.0))
    monkeypatch.setattr(run_all, "discover", lambda: [ROOT / "benchmarks" / "embedding_bench.py"])
    assert run_all.main(["--quick", "--json"]) == 0 and calls == []
    assert run_all.main(["--json", "--no-bench-venv"]) == 0 and calls == []
    assert run_all.main(["--json"]) == 0 and calls == ["provision"]


def test_a_symlinked_product_venv_still_finds_the_bench_venv(
    bench_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A git worktree reaches the main checkout's site-packages through a symlinked .venv: the
    same venv by another path is not "out of date" (the torch rows would silently go unjudged)."""
    real = tmp_path / "site-packages"
    real.mkdir()
    (tmp_path / "worktree").mkdir()
    link = tmp_path / "worktree" / "site-packages"
    link.symlink_to(real, target_is_directory=True)
    venv = tmp_path / "bench"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    reqs = _requirements(tmp_path, "chamberlain-fake-torch==2.0+cpu")
    # Provisioned from the main checkout (its real path); now run from the worktree (the link).
    monkeypatch.setattr(bench_env.sysconfig, "get_paths", lambda: {"purelib": str(real)})
    (venv / bench_env.STAMP).write_text(json.dumps(bench_env._stamp(bench_env._base_purelib(), reqs)))
    monkeypatch.setattr(bench_env.sysconfig, "get_paths", lambda: {"purelib": str(link)})
    assert bench_env.status(venv, reqs) is None
    # A stamp written before paths were resolved, recording the link, is read the same way.
    (venv / bench_env.STAMP).write_text(json.dumps({**bench_env._stamp(str(real), reqs), "base": str(link)}))
    assert bench_env.status(venv, reqs) is None
    # A different venv is still out of date.
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setattr(bench_env.sysconfig, "get_paths", lambda: {"purelib": str(other)})
    assert "out of date" in bench_env.status(venv, reqs)


def test_the_flop_count_matches_the_models_own_weights(bench_env) -> None:
    """The fp32-ceiling rows charge each text 2 FLOPs per dense weight per token, plus attention's
    two n x n products: counted here from the packaged weights themselves, not the config."""
    from embedding_bench import encoder_gflop
    from safetensors.numpy import load_file

    from connectors.knowledge.onnx_minilm import MAX_TOKENS, load_tokenizer, model_dir

    weights = load_file(str(model_dir() / "model.safetensors"))
    dense = sum(w.size for name, w in weights.items() if name.startswith("encoder.") and name.endswith("dense.weight"))
    dense += sum(
        w.size
        for name, w in weights.items()
        if name.startswith("encoder.") and name.endswith(("query.weight", "key.weight", "value.weight"))
    )
    text = "Who approves an expense claim depends on its amount and category."
    n = len(load_tokenizer().encode(text).ids)
    assert n < 20  # real tokens: the packaged tokenizer.json would pad to 128

    def flop(tokens: int) -> float:
        return (2 * tokens * dense + 6 * 4 * tokens * tokens * 384) / 1e9

    assert encoder_gflop([text]) == pytest.approx(flop(n), rel=1e-9)
    assert encoder_gflop([text, text]) == pytest.approx(2 * flop(n), rel=1e-9)
    # A text past the model's window is charged what the model reads of it.
    assert encoder_gflop([text * 40]) == pytest.approx(flop(MAX_TOKENS), rel=1e-9)


def test_the_fp32_ceiling_rows_are_informational_and_share_one_ceiling(bench_env) -> None:
    import numpy as np
    from embedding_bench import PLAIN, Figures, rows

    vec = np.ones((2, 384), dtype=np.float32) / np.sqrt(384)
    figs = {
        "torch": Figures("torch", 5.0, [25.0], [13.0], vec),
        "onnx": Figures("onnx", 1.0, [40.0], [20.0], vec, gemm_gflops=[130.0, 140.0]),
        PLAIN: Figures(PLAIN, 1.0, [30.0], [15.0], vec),
    }
    out = {r.measure: r for r in rows(figs, "", gflop_per_text=2.5)}
    onnx = out["MiniLM embed-only, ONNX: GFLOP/s vs this machine's fp32 MatMul"]
    torch = out["MiniLM embed-only, torch, batch 64: GFLOP/s vs this machine's fp32 MatMul"]
    assert (onnx.ours, onnx.baseline, onnx.met) == (100.0, 140.0, None)  # the best MatMul run counts
    assert (torch.ours, torch.baseline, torch.met) == (62.5, 140.0, None)
