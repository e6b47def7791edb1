"""The `chamberlain` CLI, run in-process with typer's CliRunner on a temporary data dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from agent.interfaces.cli.app import app

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("demo")
    res = runner.invoke(app, ["demo", "--data-dir", str(d)])
    assert res.exit_code == 0, res.output
    assert "replaying scripted model turns" in res.output
    assert "You cannot approve or reject your own request" in res.output
    assert "write executed 1 time(s)" in res.output
    assert "audit chain: intact" in res.output
    return d


def test_demo_leaves_an_executed_approval(demo_dir: Path) -> None:
    res = runner.invoke(app, ["approvals", "list", "--json", "--data-dir", str(demo_dir)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    # The deal's stage change and the weekly report: both approved, both executed.
    assert sorted(r["title"] for r in rows) == ["crm_update_deal", "schedule_report"]
    assert all(r["status"] == "executed" for r in rows)
    (deal,) = [r for r in rows if r["title"] == "crm_update_deal"]
    assert deal["proposed"] == {"stage": "Closed won"}


def test_audit_verify_and_export(demo_dir: Path, tmp_path: Path) -> None:
    ok = runner.invoke(app, ["audit", "verify", "--data-dir", str(demo_dir)])
    assert ok.exit_code == 0 and "intact" in ok.output
    out = tmp_path / "audit.jsonl"
    exp = runner.invoke(
        app, ["audit", "export", "--since", "2020-01-01", "--out", str(out), "--data-dir", str(demo_dir)]
    )
    assert exp.exit_code == 0, exp.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines and {"seq", "hash", "prev_hash", "event"} <= set(lines[0])
    bad = runner.invoke(app, ["audit", "export", "--since", "yesterday", "--data-dir", str(demo_dir)])
    assert bad.exit_code == 1 and "not an ISO date" in bad.output


def test_audit_verify_fails_on_tampering(demo_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "tampered"
    shutil.copytree(demo_dir, copy)
    eng = create_engine(f"sqlite:///{copy / 'app.db'}")
    with eng.begin() as c:
        c.execute(text("UPDATE audit_log SET actor = 'u_mallory' WHERE seq = 2"))
    eng.dispose()
    res = runner.invoke(app, ["audit", "verify", "--data-dir", str(copy)])
    assert res.exit_code == 1 and "entry 2" in res.output


def test_ask_unknown_user_is_a_clear_error(tmp_path: Path) -> None:
    res = runner.invoke(app, ["ask", "hello", "--user", "u_nobody", "--data-dir", str(tmp_path)])
    assert res.exit_code == 1
    assert "unknown user 'u_nobody'" in res.output


def test_ask_without_api_key_says_which_variable(tmp_path: Path) -> None:
    res = runner.invoke(app, ["ask", "hello", "--user", "u_alice", "--data-dir", str(tmp_path)])
    assert res.exit_code == 1
    assert "ANTHROPIC_API_KEY" in res.output


def test_approve_unknown_request(tmp_path: Path) -> None:
    res = runner.invoke(app, ["approvals", "approve", "apr_missing", "--user", "u_raj", "--data-dir", str(tmp_path)])
    assert res.exit_code == 1 and "not found" in res.output


def test_demo_runs_again_from_a_known_state(demo_dir: Path) -> None:
    again = runner.invoke(app, ["demo", "--data-dir", str(demo_dir)])
    assert again.exit_code == 0, again.output
    assert "write executed 1 time(s)" in again.output
    assert "demo CRM reset" in again.output
    assert "untrusted-data" not in again.output and "boundary=" not in again.output
