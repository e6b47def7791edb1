"""`chamberlain demo` on the fake OpenAI-compatible server through the real openai SDK, configured
the way a user would (provider, base URL, key), and `chamberlain usage` showing what it cost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.interfaces.cli.app import app

runner = CliRunner()


@pytest.mark.slow
def test_demo_on_the_fake_openai_server_and_its_usage(tmp_path: Path) -> None:
    res = runner.invoke(app, ["demo", "--data-dir", str(tmp_path), "--fake-model-server", "openai"])
    assert res.exit_code == 0, res.output
    assert "openai:gpt-fake-1" in res.output and "fake openai API" in res.output
    assert "write executed 1 time(s)" in res.output and "audit chain: intact" in res.output
    res = runner.invoke(app, ["usage", "--data-dir", str(tmp_path), "--by", "user,group,model,provider", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert {(r["user"], r["group"], r["model"], r["provider"]) for r in rows} == {
        ("u_alice", "all", "gpt-fake-1", "openai"),
        ("u_alice", "sales", "gpt-fake-1", "openai"),
    }
    row = rows[0]
    # look up the deal, propose the write, report after approval; then schedule the weekly
    # report and confirm it (the demo's second act)
    assert row["calls"] == 5
    assert row["input_tokens"] > 0 and row["output_tokens"] > 0
    assert row["cached_input_tokens"] > 0  # the server's automatic prefix cache, reported
    assert row["cost_usd"] == 0.0  # the fake stands in for a self-hosted model, priced at 0
    table = runner.invoke(app, ["usage", "--data-dir", str(tmp_path), "--by", "user,model"])
    assert "u_alice" in table.output and "gpt-fake-1" in table.output and "total" in table.output


def test_usage_on_an_empty_data_dir(tmp_path: Path) -> None:
    res = runner.invoke(app, ["usage", "--data-dir", str(tmp_path)])
    assert res.exit_code == 0 and "No model calls recorded yet" in res.output


def test_doctor_without_a_model_says_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ANTHROPIC_API_KEY", "CHAMBERLAIN_MODEL_PROVIDER", "CHAMBERLAIN_MODEL_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    res = runner.invoke(app, ["doctor", "--data-dir", str(tmp_path)])
    assert res.exit_code == 0 and "ANTHROPIC_API_KEY" in res.output and "CHAMBERLAIN_MODEL_PROVIDER" in res.output
