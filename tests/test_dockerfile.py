"""The service image: no torch (embeddings on ONNX Runtime), no dev extras, a health check for every service, a lean
build context — and, where a Docker engine runs, the image builds."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_no_torch_in_the_image() -> None:
    # The model package declares sentence-transformers (hence torch and CUDA): every install
    # drops it with the same override as `make install`, and the build fails if torch got in.
    installs = [
        ln for ln in DOCKERFILE.splitlines() if ln.lstrip().startswith("RUN") and " install " in ln and " ." in ln
    ]
    assert installs and all("--override .ci/slim-overrides.txt" in ln for ln in installs)
    assert "import torch" in DOCKERFILE
    assert not re.search(r"install[^\n]*[\"' ]torch", DOCKERFILE)
    override = (ROOT / ".ci" / "slim-overrides.txt").read_text(encoding="utf-8")
    assert re.search(r"^sentence-transformers\s*;\s*sys_platform\s*==\s*\"never\"", override, re.M)


def test_no_dev_extras_and_the_lock_only_constrains() -> None:
    assert "[dev]" not in DOCKERFILE
    installs = [ln for ln in DOCKERFILE.splitlines() if "requirements.lock" in ln and "install" in ln]
    assert installs and all("-c requirements.lock" in ln for ln in installs)
    assert not re.search(r"-r\s+requirements\.lock", DOCKERFILE)


def test_health_check_follows_the_service_port() -> None:
    health = DOCKERFILE[DOCKERFILE.index("HEALTHCHECK") :]
    assert "CHAMBERLAIN_HEALTH_PORT" in health and "/healthz" in health
    for port in ("3000", "8080", "8765"):
        assert port in DOCKERFILE.split("EXPOSE", 1)[1].splitlines()[0]


def test_build_context_leaves_out_local_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".git", ".venv", ".chamberlain", ".env", "tests"):
        assert entry in ignored


def _docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not _docker_works(), reason="no Docker engine runs here (docker missing or `docker info` fails)")
def test_image_builds() -> None:
    res = subprocess.run(
        ["docker", "build", "-t", "chamberlain:test", str(ROOT)], capture_output=True, text=True, timeout=3600
    )
    assert res.returncode == 0, res.stderr[-4000:]
