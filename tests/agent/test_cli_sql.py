"""`chamberlain sql` (check / run / generate), run in-process with typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agent.interfaces.cli.sql import app
from tests.warehouse_fixtures import demo_warehouse_path, demo_warehouse_url

__all__ = ["demo_warehouse_path", "demo_warehouse_url"]  # fixtures used here

runner = CliRunner()


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


def test_generate_writes_the_demo_warehouse(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--path", str(tmp_path / "w.sqlite"), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "w.sqlite").exists() and "order_items" in result.stderr
