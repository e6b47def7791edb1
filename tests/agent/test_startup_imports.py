"""Commands that need no model import none of the model stack (the start-up time of
`benchmarks/startup_bench.py` follows from this; the timing itself is measured there)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"langchain_core", "langgraph", "langchain_anthropic", "anthropic", "torch", "chromadb"}


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["approvals", "list"],
        ["approvals", "approve", "apr_0000", "--user", "u_raj"],
        ["audit", "verify"],
        ["audit", "show"],
        ["sql", "check", "--dialect", "sqlite"],
        ["requests", "template", "expense"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_light_commands_do_not_import_the_model_stack(args: list[str], tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "agent", *args, "--data-dir", str(tmp_path)]
        if args[0] not in ("--help", "sql", "requests")
        else [sys.executable, "-X", "importtime", "-m", "agent", *args],
        input="SELECT 1\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    imported = {
        ln.split("|")[-1].strip().split(".")[0] for ln in res.stderr.splitlines() if ln.startswith("import time")
    }
    assert imported, res.stderr[-2000:]
    assert not imported & HEAVY, f"{' '.join(args)} imported {sorted(imported & HEAVY)}"


def test_a_runtime_without_a_model_call_loads_no_provider_sdk(tmp_path: Path) -> None:
    # approve/reject, resume and a starting server build the runtime; the provider SDKs
    # (anthropic, openai, langchain-anthropic: seconds to import) wait for a model to be built.
    code = (
        "import sys\n"
        "from agent.settings import Settings\n"
        "from agent.runtime.services import open_runtime\n"
        f"with open_runtime(Settings(data_dir={str(tmp_path)!r})) as rt:\n"
        "    pass\n"
        "from agent.models.chat import translate_model_error\n"
        "assert translate_model_error(ValueError('x')) is None\n"
        "print(sorted(m for m in ('anthropic', 'openai', 'langchain_anthropic') if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAMBERLAIN_", "ANTHROPIC_"))}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=240, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().splitlines()[-1] == "[]", res.stdout
