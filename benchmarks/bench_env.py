"""The bench-only venv: ``.venv-bench/``, holding the torch baseline outside the product venv.

``embedding_bench.py`` compares ONNX Runtime against sentence-transformers on torch, which the
product install leaves out (torch alone is ~750 MB; `make install` stays under 1 GB). So the
baseline lives in a venv of its own, layered on ``.venv`` by a ``.pth`` file: it sees every
package of the product venv (and the editable checkout) and adds only
``benchmarks/requirements-bench.txt``. The embedding bench runs its torch worker processes with
this interpreter; everything else runs in ``.venv`` as before.

    python benchmarks/bench_env.py            # create or update it (idempotent; `make bench-env`)
    python benchmarks/bench_env.py --check    # exit 0 if ready, else say why (installs nothing)

torch is installed with pip, never uv: pip reads the machine's pip configuration (e.g. a
``find-links`` directory or an extra index holding a CPU build), uv does not. Before anything is
installed, a ``pip install --dry-run`` resolution is checked: if it would bring CUDA libraries
(``nvidia-*``, several GB) the install is refused with a one-line hint instead.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".venv-bench"
REQUIREMENTS = HERE / "requirements-bench.txt"
STAMP = ".chamberlain-bench.json"
PTH = "zz_chamberlain_product_venv.pth"
CPU_HINT = (
    "point pip at a CPU build of torch (e.g. PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu, "
    "or PIP_FIND_LINKS=<folder holding a torch-…+cpu wheel>) and run `make bench-env` again"
)


class BenchEnvError(Exception):
    """The bench venv cannot be provisioned; the message is one line for a person."""


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _stamp(base_purelib: str, requirements: Path = REQUIREMENTS) -> dict[str, str]:
    """What the venv was provisioned from: a change to any of it means provisioning again."""
    return {
        "requirements": hashlib.sha256(requirements.read_bytes()).hexdigest(),
        "base": base_purelib,
        "python": sys.version.split()[0],
    }


def _base_purelib() -> str:
    # Resolved: from a git worktree whose .venv is a symlink to the main checkout's, the same
    # site-packages is reached by two paths, and the bench venv serves both.
    return os.path.realpath(sysconfig.get_paths()["purelib"])


def status(venv: Path = VENV, requirements: Path = REQUIREMENTS) -> str | None:
    """None when the bench venv is ready for this product venv, else why not (one line)."""
    if not _python(venv).exists():
        return f"no bench venv at {venv.name}/ (run `make bench-env`)"
    try:
        recorded = json.loads((venv / STAMP).read_text())
    except (OSError, ValueError):
        return f"{venv.name}/ was never fully provisioned (run `make bench-env`)"
    if isinstance(recorded, dict) and isinstance(recorded.get("base"), str):
        recorded["base"] = os.path.realpath(recorded["base"])  # stamps written before paths were resolved
    if recorded != _stamp(_base_purelib(), requirements):
        return f"{venv.name}/ is out of date with {requirements.name} or .venv (run `make bench-env`)"
    return None


def torch_python(venv: Path = VENV) -> tuple[str | None, str]:
    """The interpreter to run the torch baseline with, and where it comes from (or why none):
    the bench venv when ready; else this interpreter if it has sentence-transformers itself."""
    problem = status(venv)
    if problem is None:
        return str(_python(venv)), f"{venv.name}/"
    import importlib.util

    if importlib.util.find_spec("sentence_transformers") is not None:
        return sys.executable, "this venv"
    return None, problem


def _say(msg: str) -> None:
    print(f"bench venv: {msg}", file=sys.stderr, flush=True)


def _pip(python: Path, *args: str, show: bool = False) -> subprocess.CompletedProcess[str]:
    """Run pip with ``python`` (the bench venv's); with ``show``, its progress is echoed on stderr
    (stdout of the callers is for their --json rows), minus the list of what .venv satisfies."""
    cmd = [str(python), "-m", "pip", "--disable-pip-version-check", *args]
    if not show:
        return subprocess.run(cmd, text=True, capture_output=True)
    tail: list[str] = []
    with subprocess.Popen(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail = [*tail[-19:], line]
            # Not echoed: what .venv already has, and notes on the machine's index configuration.
            if not line.lstrip().startswith(("Requirement already satisfied", "Looking in", "WARNING: Location")):
                sys.stderr.write("  " + line)
                sys.stderr.flush()
    return subprocess.CompletedProcess(cmd, proc.returncode, "", "".join(tail))


def _last_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln.strip() for ln in (proc.stderr or "").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or [f"exit {proc.returncode}"])[-1][:300]


def check_resolution(python: Path, requirements: Path = REQUIREMENTS) -> dict[str, str]:
    """What pip would install for ``requirements`` (name -> version), resolved without installing
    (wheel metadata only); raises :class:`BenchEnvError` if that includes CUDA libraries."""
    with tempfile.TemporaryDirectory(prefix="chamberlain-bench-") as tmp:
        report = Path(tmp) / "report.json"
        proc = _pip(python, "install", "--dry-run", "--quiet", "--report", str(report), "-r", str(requirements))
        if proc.returncode != 0:
            raise BenchEnvError(f"pip cannot resolve {requirements.name}: {_last_line(proc)}")
        items = json.loads(report.read_text()).get("install", [])
    names = {str(i["metadata"]["name"]).lower(): str(i["metadata"]["version"]) for i in items}
    cuda = sorted(n for n in names if n.startswith("nvidia-") or n == "triton")
    if cuda or "+cu" in names.get("torch", ""):
        raise BenchEnvError(
            f"pip would install the CUDA build of torch ({', '.join(cuda[:3]) or names['torch']}…, several GB): "
            + CPU_HINT
        )
    return names


def ensure(venv: Path = VENV, requirements: Path = REQUIREMENTS, probe: str = "torch") -> Path:
    """Create or update the bench venv with ``requirements``; returns its interpreter once
    ``probe`` (a module) and the checkout import there. Raises :class:`BenchEnvError`."""
    base = _base_purelib()
    if status(venv, requirements) is None:
        _say(f"{venv.name}/ ready (torch baseline)")
        return _python(venv)
    if sys.prefix == sys.base_prefix:
        raise BenchEnvError(f"run this with the product venv's python (.venv/bin/python), not {sys.executable}")
    if not _python(venv).exists():
        _say(f"creating {venv.name}/ layered on {Path(sys.prefix).name}/")
        proc = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise BenchEnvError(f"cannot create {venv}: {_last_line(proc)}")
    purelib = Path(
        subprocess.run(
            [str(_python(venv)), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # addsitedir, not a bare path line: it also runs .venv's own .pth files (the editable
    # checkout of Chamberlain among them), and appends after the bench venv's own packages.
    (purelib / PTH).write_text(f"import site; site.addsitedir({base!r})\n")
    _say("resolving with pip --dry-run (refused if it would bring CUDA)")
    todo = check_resolution(_python(venv), requirements)
    _say("to install: " + (", ".join(f"{n}=={v}" for n, v in sorted(todo.items())) or "nothing"))
    _say("installing (the first time takes a few minutes: torch is ~750 MB unpacked)")
    proc = _pip(_python(venv), "install", "-r", str(requirements), show=True)
    if proc.returncode != 0:
        raise BenchEnvError(f"pip could not install {requirements.name}: {_last_line(proc)}")
    code = (
        f"import connectors.knowledge, {probe} as m; "
        "v = getattr(m, 'version', None); "
        "print(getattr(m, '__version__', '?'), getattr(v, 'cuda', None) or 'CPU')"
    )
    # Run from / so that only the layering (the .pth above) can make the checkout importable.
    proc = subprocess.run([str(_python(venv)), "-c", code], capture_output=True, text=True, cwd="/")
    if proc.returncode != 0:
        raise BenchEnvError(f"{venv.name}/ installed but cannot import the baseline: {_last_line(proc)}")
    if not proc.stdout.strip().endswith("CPU"):
        raise BenchEnvError(f"{venv.name}/ holds a CUDA build of {probe} ({proc.stdout.strip()}): " + CPU_HINT)
    _say(f"ready: {probe} {proc.stdout.strip()}")
    (venv / STAMP).write_text(json.dumps(_stamp(base, requirements)))
    return _python(venv)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only say whether the bench venv is ready")
    parser.add_argument("--venv", type=Path, default=VENV, help="where the bench venv lives (default .venv-bench)")
    args = parser.parse_args(argv)
    if args.check:
        problem = status(args.venv)
        _say(problem or f"{args.venv.name}/ ready")
        return 0 if problem is None else 1
    try:
        ensure(args.venv)
    except BenchEnvError as exc:
        print(f"bench venv: cannot provision the torch baseline: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
