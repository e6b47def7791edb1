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
