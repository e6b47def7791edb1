"""Column rules and resource limits enforced by PostgreSQL itself.

A warehouse database of its own on the session's private server, provisioned the way an
operator does it: ``chamberlain sql roles --apply`` creates one role per data-access profile
with column-level grants; the assistant logs in as a role with no table privilege of its own
and every query runs under ``SET LOCAL ROLE`` to the asker's profile. Queries go *past the
guard*: PostgreSQL alone must hold the line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from agent.interfaces.cli.sql import app
from connectors.demo.warehouse_gen import load_postgres
from connectors.warehouse import QueryFailed, ReadScope, SqlWarehouse
from policies.data_access import default_policy
from policies.directory import Directory
from policies.sql_guard import SqlGuard, normalize_sql
from policies.sql_roles import role_for
from tools.analytics import read_scope

pytestmark = pytest.mark.postgres

DB = "warehouse_roles"
LOGIN = "chamberlain_rl"
CASES_FILE = Path(__file__).resolve().parents[2] / "evals" / "sql_resource_attacks.jsonl"
CASES = [json.loads(line) for line in CASES_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
TIMEOUT = 0.5


@pytest.fixture(scope="module")
def pg(postgres_url: str) -> Iterator[tuple[str, str]]:
    """(admin URL, login URL) of a small warehouse provisioned with data-access roles."""
    base, _, _ = postgres_url.rpartition("/")
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {DB}")  # type: ignore[arg-type]
        con.execute(f"CREATE DATABASE {DB}")  # type: ignore[arg-type]
        if con.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (LOGIN,)).fetchone() is None:
            con.execute(f"CREATE ROLE {LOGIN} LOGIN")  # type: ignore[arg-type]
    admin = f"{base}/{DB}"
    load_postgres(admin, people=Directory.load(), seed=7, scale=0.02)
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f"GRANT CONNECT ON DATABASE {DB} TO {LOGIN}")  # type: ignore[arg-type]
        con.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        con.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {LOGIN}")  # stripped by the roles command
    result = CliRunner().invoke(app, ["roles", "--apply", "--url", admin, "--login", LOGIN])
    assert result.exit_code == 0, result.output
    assert "data-access roles" in result.stdout
    yield admin, admin.replace("postgres@", f"{LOGIN}@", 1)


def _scope(*roles: str) -> ReadScope:
    return read_scope(default_policy().allow_list(roles), role_for(roles, default_policy()))


def _salaries(admin: str) -> set[Any]:
    with psycopg.connect(admin) as con:
        values = {r[0] for r in con.execute("SELECT salary FROM employees")}
    return values | {float(v) for v in values} | {int(v) for v in values}


def _active(admin: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(admin) as con:
        return con.execute(
            "SELECT pid, state, query FROM pg_stat_activity WHERE usename = %s AND state <> 'idle'", (LOGIN,)
        ).fetchall()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM employees",
        "SELECT j.salary FROM (employees JOIN regions USING (region_code)) AS j",
        "SELECT x.j FROM employees AS x(a, b, c, d, e, f, g, h, i, j)",
        "SELECT j.* FROM (employees e JOIN regions r ON true) AS j",
        "SELECT q.* FROM (SELECT * FROM employees) AS q(a, b)",
        "SELECT name FROM employees ORDER BY salary DESC LIMIT 1",
        "SELECT COUNT(*) FROM employees WHERE salary > 150000",
        "SELECT row_to_json(e) FROM employees e",
        "SELECT e FROM employees e",
    ],
)
def test_column_grants_refuse_restricted_columns_however_they_are_spelled(pg: tuple[str, str], sql: str) -> None:
    _, login = pg
    wh = SqlWarehouse(login, timeout_s=5)
    with pytest.raises(QueryFailed, match="permission denied for table employees") as err:
        wh.run(sql, scope=_scope("employee", "finance"))
    assert "name only the columns you may read" in str(err.value)
    # The CFO's profile may read salaries: the same SQL runs.
    assert wh.run(sql, scope=_scope("employee", "finance", "cfo", "exec")).columns
    wh.close()


def test_each_profile_reads_exactly_its_grants(pg: tuple[str, str]) -> None:
    admin, login = pg
    wh = SqlWarehouse(login, timeout_s=5)
    finance = _scope("employee", "finance")
    names = wh.run("SELECT name, title FROM employees ORDER BY employee_id LIMIT 3", scope=finance)
    assert names.row_count == 3
    sales = _scope("employee", "sales")
    with pytest.raises(QueryFailed, match="permission denied for table expenses"):
        wh.run("SELECT SUM(amount) FROM expenses", scope=sales)
    assert wh.run("SELECT COUNT(*) FROM orders", scope=sales).rows[0][0] > 0
    hr = wh.run("SELECT MAX(salary) FROM employees", scope=_scope("employee", "hr"))
    assert hr.rows[0][0] in _salaries(admin)
    # The login role itself reads nothing: a query that forgot SET ROLE gets no data.
    with pytest.raises(QueryFailed, match="permission denied"):
        wh.run("SELECT name FROM regions")
    # A profile nobody provisioned is a clear instruction, not a driver error.
    with pytest.raises(QueryFailed, match="chamberlain sql roles --apply"):
        wh.run("SELECT 1", scope=ReadScope(None, "chamberlain_made_up"))
    # Session limits the assistant cannot lift: read-only, work_mem, temp_file_limit.
    row = wh.run(
        "SELECT current_setting('transaction_read_only'), current_setting('work_mem'), "
        "current_setting('temp_file_limit'), current_user",
        scope=finance,
    ).rows[0]
    assert row == ("on", "32MB", "1GB", role_for(["employee", "finance"], default_policy()))
    wh.close()


def test_attacks_past_the_guard_leak_nothing_and_leave_no_backend(pg: tuple[str, str]) -> None:
    admin, login = pg
    salaries = _salaries(admin)
    wh = SqlWarehouse(login, timeout_s=TIMEOUT)
    finance = _scope("employee", "finance")
    outcomes = {"refused": 0, "timed out": 0, "ran": 0}
    for case in [c for c in CASES if c["dialect"] == "postgres" and c["expect"] == "refused"]:
        started = time.monotonic()
        try:
            result = wh.run(normalize_sql(case["sql"]), max_rows=1000, timeout_s=TIMEOUT, scope=finance)
        except QueryFailed as exc:
            outcomes["timed out" if exc.timed_out else "refused"] += 1
        else:
            outcomes["ran"] += 1
            cells = [v for row in result.rows for v in row]
            assert not [v for v in cells if not isinstance(v, (list, dict)) and v in salaries], case["id"]
            assert sum(len(v) if isinstance(v, str) else 8 for v in cells) < 32 << 20
        assert time.monotonic() - started < 3 * TIMEOUT + 0.5, case["id"]
    print(f"\nPostgreSQL, past the guard: {outcomes}")
    # A backend inside one call that checks no interrupt (array_fill of 1e8 elements: refused by
    # the guard) ignores cancel and terminate until the call returns; then it is gone too.
    deadline = time.monotonic() + 30
    while _active(admin) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _active(admin) == []
    wh.close()


def test_a_timed_out_query_leaves_no_backend_running(pg: tuple[str, str]) -> None:
    admin, login = pg
    wh = SqlWarehouse(login, timeout_s=TIMEOUT, grace_s=0.5)
    started = time.monotonic()
    with pytest.raises(QueryFailed, match="time limit") as err:
        wh.run("SELECT COUNT(*) FROM order_items a, order_items b, order_items c", scope=_scope("employee", "finance"))
    assert err.value.timed_out and time.monotonic() - started < TIMEOUT + 0.5 + 0.5
    time.sleep(0.2)
    assert _active(admin) == []
    # A cursor fetched batch by batch is still stopped at the deadline by the client.
    started = time.monotonic()
    with pytest.raises(QueryFailed, match="time limit"):
        wh.run("SELECT pg_sleep(0.05), n FROM generate_series(1, 1000) AS n", timeout_s=0.6, scope=_scope("analyst"))
    assert time.monotonic() - started < 0.6 + 0.5 + 0.5
    time.sleep(0.2)
    assert _active(admin) == []
    assert wh.run("SELECT COUNT(*) FROM regions", scope=_scope("employee")).rows == ((5,),)
    wh.close()


def test_the_result_is_capped_in_bytes_while_fetching(pg: tuple[str, str]) -> None:
    _, login = pg
    wh = SqlWarehouse(login, timeout_s=10)
    result = wh.run("SELECT repeat('x', 1000000) FROM generate_series(1, 100)", scope=_scope("analyst"))
    assert result.truncated_by == "bytes" and 0 < result.row_count < 17
    wh.close()


def test_a_twelve_month_calendar_passes_guard_and_database(pg: tuple[str, str]) -> None:
    _, login = pg
    wh = SqlWarehouse(login, timeout_s=5)
    allow = default_policy().allow_list(["employee", "analyst"])
    for case in [c for c in CASES if c["dialect"] == "postgres" and c["expect"] == "allowed"]:
        roles = ["employee", case["role"]]
        allow = default_policy().allow_list(roles)
        verdict = SqlGuard("postgres").check(case["sql"], allow)
        assert verdict.allowed and verdict.sql, (case["id"], verdict.reasons)
        result = wh.run(verdict.sql, scope=read_scope(allow, role_for(roles, default_policy())))
        assert result.row_count > 0, case["id"]
        if "INTERVAL '1 month'" in case["sql"]:
            assert result.row_count == 12
    wh.close()


def test_roles_command_prints_idempotent_sql(pg: tuple[str, str]) -> None:
    admin, _ = pg
    printed = CliRunner().invoke(app, ["roles", "--url", admin, "--login", LOGIN])
    assert printed.exit_code == 0
    assert 'GRANT SELECT ("employee_id", "directory_id", "name"' in printed.stdout
    assert '"salary"' not in printed.stdout.split("chamberlain_finance")[1].split(";")[0]
    again = CliRunner().invoke(app, ["roles", "--apply", "--url", admin, "--login", LOGIN])
    assert again.exit_code == 0, again.output  # re-running converges, it does not fail
    bad = CliRunner().invoke(app, ["roles", "--apply"])
    assert bad.exit_code == 2 and "--apply needs --url" in bad.stderr
