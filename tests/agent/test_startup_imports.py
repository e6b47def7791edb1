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
    assert _last_line_of(code) == "[]"


def _last_line_of(code: str) -> str:
    """Run ``code`` in a fresh interpreter (no Chamberlain or Anthropic settings): its last line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAMBERLAIN_", "ANTHROPIC_"))}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=240, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout.strip().splitlines()[-1]


def _imported(args: list[str], data_dir: Path) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAMBERLAIN_", "ANTHROPIC_"))}
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "agent", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env=env,
    )
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("import time")]
    return {ln.split("|")[-1].strip() for ln in lines}, res


# Other command groups' modules, another database's SQL dialect, the CRM's pydantic model: none of
# them is used by reading or deciding approvals on SQLite, and each cost start-up time when it was.
NOT_FOR_APPROVALS = {
    "sqlalchemy.dialects.postgresql",
    "agent.interfaces.cli.sql",
    "agent.interfaces.cli.docs",
    "agent.interfaces.cli.slack",
    "agent.interfaces.cli.web",
    "agent.interfaces.cli.outbox",
    "agent.interfaces.cli.reports",
    "agent.interfaces.cli.mcp",
    "agent.interfaces.cli.warehouse",
    "agent.interfaces.cli.templates",
    "agent.interfaces.cli.audit",
    "agent.interfaces.cli.evals",
}


@pytest.mark.parametrize(
    ("args", "expect", "also_not"),
    [
        (["approvals", "list"], "id", {"connectors.crm.model"}),  # the settings' CRM check needs only names
        (["approvals", "approve", "apr_0000", "--user", "u_raj"], "not found", set()),
    ],
    ids=["list", "approve unknown id"],
)
def test_approval_commands_import_only_what_they_use(
    args: list[str], expect: str, also_not: set[str], tmp_path: Path
) -> None:
    imported, res = _imported(args, tmp_path)
    assert expect in res.stdout + res.stderr, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert "connectors.appdb" in imported  # it did open the app database
    unused = imported & (NOT_FOR_APPROVALS | also_not)
    assert not unused, sorted(unused)


def test_a_lazily_loaded_group_still_runs_and_is_listed(tmp_path: Path) -> None:
    imported, res = _imported(["audit", "verify"], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "agent.interfaces.cli.audit" in imported
    assert "agent.interfaces.cli.sql" not in imported
    helped = subprocess.run(
        [sys.executable, "-m", "agent", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    listed = [ln.split()[0] for ln in helped.stdout.split("Commands:")[1].splitlines() if ln.strip()]
    # Every group, in the order the app lists them: the core ones first.
    groups = ["approvals", "audit", "crm", "sql", "docs", "slack", "web", "tools", "warehouse", "requests"]
    assert [n for n in listed if n in groups] == groups
    assert {"outbox", "reports", "mcp", "evals", "ask", "usage", "doctor"} <= set(listed)
    typo = subprocess.run(
        [sys.executable, "-m", "agent", "aprovals", "list"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert typo.returncode == 2 and "Did you mean 'approvals'" in typo.stderr


def test_a_turn_on_another_model_does_not_import_the_openai_stack(tmp_path: Path) -> None:
    # Asking "is this model OpenAI's?" (prompt caching, tool binding) used to import langchain-openai
    # and the openai SDK: about a second on the first turn of every runtime, on any model.
    code = (
        "import sys\n"
        "from agent.models.scripted import ScriptedChatModel, text_turn\n"
        "from agent.runtime.chamberlain import build_runtime\n"
        "from agent.settings import Settings\n"
        "from tools.base import ToolRegistry\n"
        "model = ScriptedChatModel.from_turns([text_turn('hi')])\n"
        f"rt = build_runtime(Settings(data_dir={str(tmp_path)!r}), registry=ToolRegistry([]), chat_model=model)\n"
        "with rt:\n"
        "    assert rt.ask('u_erin', 'hello?').status == 'answered'\n"
        "print(sorted(m for m in ('openai', 'langchain_openai') if m in sys.modules))\n"
    )
    assert _last_line_of(code) == "[]"


def test_an_openai_model_is_still_recognised() -> None:
    from agent.models.chat.caching import supports_cache_control
    from agent.models.chat.config import ModelConfig
    from agent.models.chat.openai_adapter import build_openai, is_openai
    from agent.models.scripted import ScriptedChatModel, text_turn

    chat = build_openai(ModelConfig(provider="openai", api_key="sk-test", base_url="http://127.0.0.1:9/v1"))
    assert is_openai(chat) and not supports_cache_control(chat)
    scripted = ScriptedChatModel.from_turns([text_turn("x")])
    assert not is_openai(scripted) and supports_cache_control(scripted)
