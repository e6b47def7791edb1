"""What `make install` leaves out, and that what we run works without it (.ci/slim-overrides.txt,
.ci/warm-bytecode.py)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
OVERRIDES = (ROOT / ".ci" / "slim-overrides.txt").read_text(encoding="utf-8")
DROPPED = re.findall(r'^([A-Za-z0-9_.-]+)\s*;\s*sys_platform\s*==\s*"never"', OVERRIDES, re.M)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_lock_pins_nothing_the_overrides_drop() -> None:
    # `make lock` applies the same overrides; a lock regenerated without them would pin these again.
    assert {"sentence-transformers", "kubernetes", "zstandard", "uvloop"} <= {_norm(n) for n in DROPPED}
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pinned = {_norm(m) for m in re.findall(r"^([A-Za-z0-9_.-]+)==", lock, re.M)}
    assert not pinned & {_norm(n) for n in DROPPED}
    assert "torch" not in pinned


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_service_runs_and_answers_without_uvloop_and_zstandard(tmp_path: Path) -> None:
    # As installed: uvicorn picks its event loop itself ("auto") and httpx and langsmith import
    # without zstandard. The process runs with both made unimportable, as after `make install`.
    port = _free_port()
    code = (
        "import sys\n"
        "for m in ('uvloop', 'zstandard'): sys.modules[m] = None\n"
        "import langsmith.client, langchain_core.tracers\n"
        "from agent.interfaces.cli.app import main\n"
        f"sys.argv = ['chamberlain', 'crm', 'serve', '--port', '{port}', '--data-dir', {str(tmp_path / 'd')!r}]\n"
        "main()\n"
    )
    env = {**os.environ, "CHAMBERLAIN_LOG_LEVEL": "INFO"}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (proc.stdout.read() if proc.stdout else b"").decode()[-2000:]
            try:
                res = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the CRM service did not start within 120 s"
                time.sleep(0.3)
        assert res.status_code == 200
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode()
    assert "Traceback" not in out, out[-2000:]
    assert "uvloop" not in out


def _run_warm_bytecode(root: Path, libdir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{libdir}", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "warm-bytecode.py"), str(root)],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=120,
    )


def test_bytecode_is_written_for_what_our_code_imports_and_only_that(tmp_path: Path) -> None:
    root, lib = tmp_path / "src", tmp_path / "lib"
    (root / "policies").mkdir(parents=True)
    lib.mkdir()
    (root / "policies" / "__init__.py").write_text("")
    # A function-level import counts: it is what a command would load.
    (root / "policies" / "lazy.py").write_text("def f():\n    import slimdep_lazy\n    from slimdep_pkg import sub\n")
    (root / "policies" / "__main__.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\n")
    (lib / "slimdep_lazy.py").write_text("X = 1\n")
    (lib / "slimdep_unused.py").write_text("X = 1\n")
    (lib / "slimdep_pkg").mkdir()
    (lib / "slimdep_pkg" / "__init__.py").write_text("")
    (lib / "slimdep_pkg" / "sub.py").write_text("Y = 2\n")
    (lib / "slimdep_pkg" / "other.py").write_text("Z = 3\n")

    res = _run_warm_bytecode(root, lib)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "bytecode written" in res.stdout

    def compiled(path: Path) -> bool:
        return any((path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"))

    # Written despite PYTHONDONTWRITEBYTECODE, for our modules and the closure of their imports.
    assert compiled(root / "policies" / "lazy.py")
    assert compiled(lib / "slimdep_lazy.py")
    assert compiled(lib / "slimdep_pkg" / "sub.py")
    # Nothing imports these: no bytecode (Python writes it on first use).
    assert not compiled(lib / "slimdep_unused.py")
    assert not compiled(lib / "slimdep_pkg" / "other.py")
    # `__main__` modules are entry points, never run by the warm-up.
    assert not (tmp_path / "ran").exists()
