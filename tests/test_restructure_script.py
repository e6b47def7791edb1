"""scripts/restructure_agent.py: the layout it writes is the one in the tree, and its rewrite of
old references (imports, strings, paths) is right and idempotent."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "restructure_agent.py"
needs_git = pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout"
)


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("restructure_agent", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


@needs_git
def test_the_tree_is_in_the_new_layout_with_no_old_reference_left() -> None:
    """A module added since with an old name (``from agent.graph import ...``) fails here."""
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 file(s) to move" in run.stdout
    assert "0 file(s) with references to rewrite" in run.stdout, run.stdout


@needs_git
def test_old_references_are_rewritten_once() -> None:
    rs = _script()
    plan = rs.make_plan(ROOT)
    files = plan.final_files()
    read = {
        p: (ROOT / p).read_text(encoding="utf-8") for p in files if p.endswith("__init__.py") and (ROOT / p).exists()
    }
    resolver = rs.Resolver(plan, files, read)
    old = (
        "from agent.graph import build_graph, AgentState\n"
        "from agent import cli_docs, cli_sql as sql\n"
        "import agent.scripted_model\n"
        "from agent.web import mount_web\n"
        "\n"
        "def f(monkeypatch):\n"
        "    from agent.slack.testing import action_request\n"
        '    monkeypatch.setattr("agent.graph._run_read", None)\n'
        '    run(["python", "-m", "agent.cli", "demo"])\n'
        "    return agent.scripted_model.ScriptedChatModel  # agent/graph.py, agent/slack/\n"
    )
    new = rs.rewrite_python(old, "tests/x.py", "tests/x.py", resolver, plan)
    assert new == (
        "from agent.graph.conversation import build_graph, AgentState\n"
        "from agent.interfaces.cli import docs as cli_docs, sql\n"
        "import agent.models.scripted\n"
        "from agent.interfaces.http.web import mount_web\n"
        "\n"
        "def f(monkeypatch):\n"
        "    from agent.fakes.slack_runtime import action_request\n"
        '    monkeypatch.setattr("agent.graph.conversation._run_read", None)\n'
        '    run(["python", "-m", "agent", "demo"])\n'
        "    return agent.models.scripted.ScriptedChatModel  # agent/graph/conversation.py, agent/interfaces/slack/\n"
    )
    assert rs.rewrite_python(new, "tests/x.py", "tests/x.py", resolver, plan) == new
