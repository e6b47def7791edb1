"""The README is the truth: every shell command in its ```bash blocks runs, in order, as written.

Each command runs in bash in a fresh working directory (the repository's top-level entries are
linked into it, so ``.venv/bin/...``, ``benchmarks/...`` and ``docs/...`` resolve, while files a
command writes land in the scratch directory) with a fresh ``CHAMBERLAIN_DATA_DIR``. It must exit
0 and print no traceback.

Markers at the end of a line (agreed by everyone who writes the README):

- ``# needs: <what>``     needs an outside service, key or long run: skipped with that reason
- ``# runs until stopped`` a server or loop: skipped with that reason
- ``# exits N``           the command is expected to exit with status N (e.g. a rejected query)

``make demo`` runs ``chamberlain demo`` (the installed entry point); other ``make`` targets are
skipped with a reason (they reinstall the venv, and ``make test`` would run this suite again).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent  # the venv running the tests: .venv/bin
pytestmark = pytest.mark.xdist_group("readme")  # one worker, in README order

_SKIP = re.compile(r"#\s*(needs:\s*(?P<needs>.+?)|(?P<forever>runs until stopped))\s*$")
_EXITS = re.compile(r"#\s*exits\s+(?P<code>\d+)\b")


@dataclass(frozen=True)
class Command:
    line: int
    text: str
    skip: str | None = None
    exit_code: int = 0


def readme_commands(text: str) -> list[Command]:
    """Every command in the README's ```bash blocks, with its skip reason or expected exit."""
    out: list[Command] = []
    in_block, pending, start = False, "", 0
    for n, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not in_block:
            in_block = stripped.startswith("```bash") or stripped in ("```sh", "```shell", "```console")
            continue
        if stripped.startswith("```"):
            in_block = False
            continue
        if not pending:
            start = n
        if stripped.endswith("\\") and "#" not in stripped:
            pending += stripped[:-1] + " "
            continue
        cmd = (pending + stripped).strip()
        pending = ""
        if not cmd or cmd.startswith("#"):
            continue
        out.append(_classify(start, cmd))
    return out


def _classify(line: int, cmd: str) -> Command:
    skip = _SKIP.search(cmd)
    if skip:
        reason = skip.group("needs") or "runs until stopped"
        return Command(line, cmd, skip=f"README line {line} needs {reason}")
    code = int(m.group("code")) if (m := _EXITS.search(cmd)) else 0
    words = cmd.split("#", 1)[0].split()
    if words[:1] == ["make"]:
        target = words[1] if len(words) > 1 else "(default)"
        if target == "demo":
            return Command(line, f"{BIN / 'chamberlain'} demo", exit_code=code)
        why = "would run this test suite again" if target == "test" else "reinstalls the venv"
        return Command(line, cmd, skip=f"README line {line}: `make {target}` {why}; CI runs it")
    return Command(line, cmd, exit_code=code)


COMMANDS = readme_commands(README.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("readme")
    for entry in ROOT.iterdir():
        if entry.name in (".chamberlain", ".git", "__pycache__") or (work / entry.name).exists():
            continue
        (work / entry.name).symlink_to(entry)
    # The venv that runs these tests (a worktree's .venv may be layered on another one).
    if not (ROOT / ".venv").exists():
        (work / ".venv").symlink_to(BIN.parent)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CHAMBERLAIN_", "ANTHROPIC_", "SLACK_", "HUBSPOT_", "OPENAI_"))
    }
    env.update(
        CHAMBERLAIN_DATA_DIR=str(work / "data"),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        COLUMNS="120",
        PYTHONUNBUFFERED="1",
    )
    return work, env


def test_readme_has_commands() -> None:
    assert len(COMMANDS) >= 5
    assert any(c.skip is None for c in COMMANDS)


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c.skip], ids=lambda c: f"L{c.line}:{c.text[:50]}")
def test_readme_command_needing_a_service_is_skipped_with_its_reason(cmd: Command) -> None:
    pytest.skip(cmd.skip)


@pytest.mark.timeout(1500)  # ~30 commands, the demo among them: minutes on a busy machine
def test_readme_commands_run_in_order(sandbox: tuple[Path, dict[str, str]]) -> None:
    """Every runnable command, in README order, in one sandbox: later commands rely on what
    earlier ones made (``make demo`` seeds the data directory). One test, so no test
    distribution (xdist) can reorder or split them."""
    work, env = sandbox
    for cmd in (c for c in COMMANDS if not c.skip):
        res = subprocess.run(
            ["bash", "-o", "pipefail", "-c", cmd.text],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        output = res.stdout + res.stderr
        where = f"README line {cmd.line}: {cmd.text}"
        assert res.returncode == cmd.exit_code, f"{where}\nexit {res.returncode}\n{output[-3000:]}"
        assert "Traceback" not in output, f"{where}\n{output[-3000:]}"


def test_parser_understands_the_markers() -> None:
    text = "\n".join(
        [
            "```bash",
            "make demo   # seeds",
            "make test",
            "chamberlain ask hi --user u_alice   # needs: ANTHROPIC_API_KEY",
            "chamberlain serve   # runs until stopped",
            "chamberlain sql check \\",
            "  --dialect sqlite   # exits 1",
            "# a comment",
            "```",
            "chamberlain not-in-a-block",
        ]
    )
    cmds = readme_commands(text)
    assert [c.line for c in cmds] == [2, 3, 4, 5, 6]
    assert cmds[0].text.endswith("chamberlain demo") and cmds[0].skip is None
    assert cmds[1].skip and "make test" in cmds[1].skip
    assert cmds[2].skip and "ANTHROPIC_API_KEY" in cmds[2].skip
    assert cmds[3].skip and "runs until stopped" in cmds[3].skip
    assert cmds[4].exit_code == 1 and "--dialect sqlite" in cmds[4].text
