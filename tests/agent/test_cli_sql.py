"""`chamberlain sql` (check / run / generate), run in-process with typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.interfaces.cli.sql import app
from agent.settings import Settings
from connectors.appdb import AuditLog, make_engine
from tests.warehouse_fixtures import demo_warehouse_path, demo_warehouse_url

__all__ = ["demo_warehouse_path", "demo_warehouse_url"]  # fixtures used here

runner = CliRunner()


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``sql run`` audits into the data dir: each test gets its own (never ./.chamberlain)."""
    state = tmp_path / "state"
    monkeypatch.setenv("CHAMBERLAIN_DATA_DIR", str(state))
    return state


def _audit_events(data_dir: Path) -> list[tuple[str, str, dict[str, object]]]:
    engine = make_engine(Settings(data_dir=data_dir).resolved_database_url)
    try:
        return [(e.event, e.actor, dict(e.data)) for e in AuditLog(engine).entries()]
    finally:
        engine.dispose()


def _verdicts(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_check_reads_plain_and_json_lines_from_stdin() -> None:
    stdin = "\n".join(
        [
            "SELECT region_code FROM orders",
            json.dumps({"sql": "SELECT pg_sleep(5)", "dialect": "postgres"}),
            "",
            "SELECT name FROM employees",
            json.dumps({"sql": "SELECT `region_code` FROM orders LIMIT 5", "dialect": "mysql", "db_id": "x"}),
        ]
    )
    result = runner.invoke(app, ["check", "--json", "--tables", "orders,regions"], input=stdin)
    assert result.exit_code == 1  # something was rejected
    verdicts = _verdicts(result.stdout)
    assert [v["allowed"] for v in verdicts] == [True, False, False, True]
    assert verdicts[0] == {"allowed": True, "reasons": [], "sql": "SELECT region_code FROM orders LIMIT 1000"}
    assert verdicts[1]["sql"] is None and "pg_sleep" in verdicts[1]["reasons"][0]  # type: ignore[index]
    assert "table employees is not readable" in verdicts[2]["reasons"][0]  # type: ignore[index]
    assert verdicts[3]["sql"] == "SELECT `region_code` FROM orders LIMIT 5"


def test_check_reads_a_file_and_uses_a_users_allow_list(tmp_path: Path) -> None:
    queries = tmp_path / "q.sql"
    queries.write_text("SELECT name, salary FROM employees\nSELECT name FROM employees\n")
    priya = runner.invoke(app, ["check", str(queries), "--user", "u_priya", "--json"])
    assert [v["allowed"] for v in _verdicts(priya.stdout)] == [False, True]
    hannah = runner.invoke(app, ["check", str(queries), "--user", "u_hannah", "--json", "--dialect", "postgres"])
    assert hannah.exit_code == 0
    assert [v["allowed"] for v in _verdicts(hannah.stdout)] == [True, True]
    human = runner.invoke(app, ["check", str(queries), "--user", "u_priya"])
    assert "rejected" in human.stdout and "allowed" in human.stdout


def test_check_input_errors_are_clear(tmp_path: Path) -> None:
    bad = runner.invoke(app, ["check", "--dialect", "oracle"], input="SELECT 1\n")
    assert bad.exit_code == 2 and "unknown dialect" in bad.stderr
    broken = runner.invoke(app, ["check"], input='{"sql": \n')
    assert broken.exit_code == 2 and "line 1: not valid JSON" in broken.stderr
    missing = runner.invoke(app, ["check", str(tmp_path / "nope.sql")])
    assert missing.exit_code == 2 and "cannot read" in missing.stderr


def test_run_prints_a_table_and_writes_a_csv(demo_warehouse_url: str, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["run", "SELECT region_code, COUNT(*) AS orders FROM orders GROUP BY 1 ORDER BY 1",
         "--user", "u_alice", "--warehouse", demo_warehouse_url, "--out", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "NA-W" in result.stdout and "11649" in result.stdout and "5 rows" in result.stdout
    assert len(list(tmp_path.glob("*.csv"))) == 1
    as_json = runner.invoke(
        app, ["run", "SELECT COUNT(*) AS n FROM regions", "-u", "u_erin", "-w", demo_warehouse_url, "--json"]
    )
    assert json.loads(as_json.stdout)["rows"] == [[5]]


def test_run_refuses_what_the_user_may_not_read(demo_warehouse_url: str) -> None:
    result = runner.invoke(app, ["run", "SELECT salary FROM employees", "-u", "u_alice", "-w", demo_warehouse_url])
    assert result.exit_code == 1 and "not readable by you" in result.stderr
    unknown = runner.invoke(app, ["run", "SELECT 1", "-u", "u_nobody", "-w", demo_warehouse_url])
    assert unknown.exit_code == 2 and "unknown user" in unknown.stderr


def test_run_refuses_a_user_whose_role_may_not_query(demo_warehouse_url: str, _data_dir: Path) -> None:
    # Casey is a contractor: the access policy gives contractors no run_query, as in the gate.
    result = runner.invoke(app, ["run", "SELECT COUNT(*) FROM regions", "-u", "u_casey", "-w", demo_warehouse_url])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "may not use run_query" in lines[0] and "tell the user" not in lines[0]
    assert not result.stdout.strip()
    assert [(e, a, d["decision"]) for e, a, d in _audit_events(_data_dir)] == [("policy_decision", "u_casey", "deny")]


def test_run_leaves_audit_entries_like_the_graph(demo_warehouse_url: str, _data_dir: Path) -> None:
    result = runner.invoke(app, ["run", "SELECT COUNT(*) AS n FROM regions", "-u", "u_erin", "-w", demo_warehouse_url])
    assert result.exit_code == 0, result.output
    events = _audit_events(_data_dir)
    assert [(e, a) for e, a, _ in events] == [("policy_decision", "u_erin"), ("tool_result", "u_erin")]
    decision = events[0][2]
    assert decision["tool"] == "run_query" and decision["decision"] == "allow" and decision["direct"] is True
    assert events[1][2]["tool"] == "run_query"


def test_run_uses_the_configured_directory(
    demo_warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = tmp_path / "people.yaml"
    people.write_text(
        "company: Test\n"
        "people:\n"
        "  - {id: u_zoe, name: Zoe Quinn, email: zoe@larkspur.example, title: Analyst, department: Finance,"
        " cost_center: CC-210, roles: [employee], groups: [all], clearance: internal}\n"
    )
    monkeypatch.setenv("CHAMBERLAIN_DIRECTORY_PATH", str(people))
    zoe = runner.invoke(app, ["run", "SELECT COUNT(*) AS n FROM regions", "-u", "u_zoe", "-w", demo_warehouse_url])
    assert zoe.exit_code == 0, zoe.output
    erin = runner.invoke(app, ["run", "SELECT 1", "-u", "u_erin", "-w", demo_warehouse_url])
    assert erin.exit_code == 2 and "unknown user" in erin.stderr


def test_generate_writes_the_demo_warehouse(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--path", str(tmp_path / "w.sqlite"), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "w.sqlite").exists() and "order_items" in result.stderr
