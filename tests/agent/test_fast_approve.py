"""`chamberlain approvals approve` decides and writes without LangGraph; the requester's
conversation continues afterwards, exactly once, through the durable resume queue.

The real CLI runs in subprocesses against the real Anthropic SDK talking to the local fake
Messages API (agent/fakes/anthropic_api.py), on a real SQLite app database and the local CRM.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.fakes.anthropic_api import FakeAnthropicServer, Reply, ToolUse
from connectors.appdb import AuditLog, make_engine
from connectors.appdb.resumes import ResumeQueue

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"langgraph", "langchain_core", "langchain_anthropic", "anthropic"}
THREAD = "cli:u_alice:fastapprove1"

pytestmark = pytest.mark.xdist_group("fast_approve")


@pytest.fixture
def model() -> Iterator[FakeAnthropicServer]:
    server = FakeAnthropicServer(
        [
            Reply(tool_uses=[ToolUse("crm_update_deal", {"deal_id": "30001", "stage": "closedwon"})]),
            Reply(text="Done: the Acme renewal is closed won."),
        ]
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _env(data: Path, model: FakeAnthropicServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAMBERLAIN_", "ANTHROPIC_"))}
    return {
        **env,
        "CHAMBERLAIN_DATA_DIR": str(data),
        # An empty warehouse of its own: nothing here reads it, and generating the demo one is slow.
        "CHAMBERLAIN_WAREHOUSE_URL": f"sqlite:///{data / 'wh.db'}",
        "ANTHROPIC_API_KEY": model.api_key,
        "ANTHROPIC_BASE_URL": model.url,
        "HF_HUB_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
    }


def _cli(args: list[str], env: dict[str, str], *, trace: bool = False) -> subprocess.CompletedProcess[str]:
    python = [sys.executable, *(["-X", "importtime"] if trace else []), "-m", "agent"]
    return subprocess.run([*python, *args], env=env, capture_output=True, text=True, cwd=ROOT, timeout=240)


def test_cli_approve_runs_the_write_without_langgraph_and_the_thread_continues(
    tmp_path: Path, model: FakeAnthropicServer
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = _env(data, model)
    asked = _cli(["ask", "Close the Acme renewal as won", "--user", "u_alice", "--thread", THREAD], env)
    assert asked.returncode == 0, asked.stdout + asked.stderr
    ids = re.findall(r"apr_[0-9a-f]+", asked.stdout)
    assert ids, asked.stdout
    approval_id = ids[0]
    assert "Waiting for approval" in asked.stdout

    approved = _cli(["approvals", "approve", approval_id, "--user", "u_raj"], env, trace=True)
    assert approved.returncode == 0, approved.stdout + approved.stderr[-3000:]
    imported = {
        ln.split("|")[-1].strip().split(".")[0] for ln in approved.stderr.splitlines() if ln.startswith("import time")
    }
    assert imported, approved.stderr[-2000:]
    assert not imported & HEAVY, f"approve imported {sorted(imported & HEAVY)}"
    out = " ".join(approved.stdout.split())
    assert "outcome: executed" in out
    assert f"the requester's conversation continues in the background (thread {THREAD})" in out

    # The detached `chamberlain resume --queued` continues the thread: the queue empties and the
    # model is asked once more (for the answer after the write).
    engine = make_engine(f"sqlite:///{data / 'app.db'}")
    try:
        queue = ResumeQueue(engine)
        deadline = time.monotonic() + 180
        while queue.is_pending(THREAD) and time.monotonic() < deadline:
            time.sleep(0.25)
        log = (data / "logs" / "resume.log").read_text(encoding="utf-8", errors="replace")
        assert not queue.is_pending(THREAD), f"the thread was not continued; resume.log:\n{log[-3000:]}"
        assert "Traceback" not in log, log[-3000:]
        assert len(model.message_requests) == 2
        events = [e.event for e in AuditLog(engine).entries(approval_id=approval_id)]
        assert events.count("write_executed") == 1, events
    finally:
        engine.dispose()

    # The requester reads the answer in their own thread; resuming again does nothing twice.
    again = _cli(["resume", THREAD, "--queued"], env)
    assert again.returncode == 0, again.stderr
    assert "already continued" in again.stdout
    code = (
        "from agent.settings import Settings\n"
        "from agent.runtime.services import open_runtime\n"
        "with open_runtime(Settings()) as rt:\n"
        f"    out = rt.thread_outcome({THREAD!r})\n"
        "    print(out.status, '|', out.answer.text if out.answer else '')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().splitlines()[-1] == "answered | Done: the Acme renewal is closed won."
    assert len(model.message_requests) == 2  # nothing ran twice
