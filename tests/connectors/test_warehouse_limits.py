"""Column rules and resource limits hold where the data is (SQLite), whatever the SQL says.

Every case of evals/sql_resource_attacks.jsonl is sent *past the guard* straight to the
warehouse as a finance user. Oracles are on outcome: no salary value in any returned cell,
each query over within 3x its timeout, the worker's peak RSS under a bound, the result under
32 MB — and afterwards the warehouse still answers.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from connectors.errors import ConnectorUnavailable
from connectors.query_workers import SqliteWorkerPool
from connectors.warehouse import QueryFailed, ReadScope, SqlWarehouse
from policies.data_access import default_policy
from policies.sql_guard import SqlGuard, normalize_sql
from tests.warehouse_fixtures import demo_warehouse_path, demo_warehouse_url
from tools.analytics import read_scope

__all__ = ["demo_warehouse_path", "demo_warehouse_url"]  # fixtures used here

CASES_FILE = Path(__file__).resolve().parents[2] / "evals" / "sql_resource_attacks.jsonl"
CASES = [json.loads(line) for line in CASES_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
TIMEOUT = 0.5
RSS_BOUND_KB = 600 * 1024  # the worker's RLIMIT_AS is 1 GiB; SQLite's heap is capped at 256 MB
RESULT_BOUND = 32 << 20


def _scope(*roles: str) -> ReadScope:
    return read_scope(default_policy().allow_list(roles))


@pytest.fixture(scope="module")
def salaries(demo_warehouse_path: Path) -> set[Any]:
    with sqlite3.connect(f"file:{demo_warehouse_path}?mode=ro", uri=True) as con:
        values = {r[0] for r in con.execute("SELECT salary FROM employees")}
    return values | {str(v) for v in values}


def _cells(rows: Any) -> list[Any]:
    return [v for row in rows for v in row]


def _size(rows: Any) -> int:
    return sum(len(v) if isinstance(v, str) else 8 for v in _cells(rows))


def test_every_attack_is_bounded_at_the_database(demo_warehouse_url: str, salaries: set[Any]) -> None:
    wh = SqlWarehouse(demo_warehouse_url, pool=SqliteWorkerPool())
    finance = _scope("employee", "finance")
    outcomes: dict[str, int] = {"refused": 0, "ran": 0, "timed out": 0}
    for case in [c for c in CASES if c["dialect"] == "sqlite" and c["expect"] == "refused"]:
        started = time.monotonic()
        try:
            result = wh.run(normalize_sql(case["sql"]), max_rows=1000, timeout_s=TIMEOUT, scope=finance)
        except QueryFailed as exc:
            outcomes["timed out" if exc.timed_out else "refused"] += 1
            assert "\n" not in str(exc) and "Traceback" not in str(exc)
        else:
            outcomes["ran"] += 1
            leaked = [v for v in _cells(result.rows) if v in salaries]
            assert not leaked, f"{case['id']} returned salaries: {leaked[:3]}"
            assert _size(result.rows) < RESULT_BOUND
        elapsed = time.monotonic() - started
        assert elapsed < 3 * TIMEOUT + 0.5, f"{case['id']} took {elapsed:.2f} s"
        assert wh.last_worker_rss_kb < RSS_BOUND_KB, f"{case['id']}: worker RSS {wh.last_worker_rss_kb} kB"
    print(f"\nSQLite, past the guard: {outcomes}")
    assert wh.run("SELECT COUNT(*) FROM regions", scope=finance).rows == ((5,),)
    wh.close()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM employees",
        "SELECT x.salary FROM (employees) AS x",
        "SELECT * FROM ((employees) e JOIN (regions) r ON e.region_code = r.region_code)",
        "SELECT t.* FROM (SELECT e.* FROM employees e) t",
        "WITH c AS (SELECT * FROM employees) SELECT * FROM c",
        "SELECT name FROM employees ORDER BY salary DESC LIMIT 1",
        "SELECT COUNT(*) FROM employees WHERE salary > 150000",
        "SELECT MAX(salary) FROM employees",
        "SELECT name FROM employees UNION SELECT salary FROM employees",
        "SELECT e.name FROM employees e JOIN employees m ON m.employee_id = e.manager_id ORDER BY m.salary",
    ],
)
def test_the_authorizer_refuses_restricted_columns_however_they_are_spelled(demo_warehouse_url: str, sql: str) -> None:
    wh = SqlWarehouse(demo_warehouse_url)
    with pytest.raises(QueryFailed) as err:
        wh.run(sql, scope=_scope("employee", "finance"))
    assert str(err.value) == (
        "employees.salary is not readable for your role; leave it out, or ask someone whose role may read it"
    )
    # The same query as HR (who may read salaries) runs: the rule is the role's, not the SQL's.
    assert wh.run(sql, scope=_scope("employee", "hr")).columns


def test_tables_outside_the_scope_and_the_catalog_are_refused(demo_warehouse_url: str) -> None:
    wh = SqlWarehouse(demo_warehouse_url)
    sales = _scope("employee", "sales")
    with pytest.raises(QueryFailed, match=r"^table expenses is not readable by you$"):
        wh.run("SELECT SUM(amount) FROM expenses", scope=sales)
    with pytest.raises(QueryFailed, match="system catalog sqlite_master"):
        wh.run("SELECT sql FROM sqlite_master", scope=sales)
    with pytest.raises(QueryFailed, match="sqlite_version"):
        wh.run("SELECT sqlite_version()", scope=sales)
    assert wh.run("SELECT COUNT(*) FROM orders", scope=sales).rows[0][0] > 0
    # CTE names are not tables: a bounded calendar runs.
    cal = wh.run(
        "WITH RECURSIVE m(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM m WHERE n < 11) "
        "SELECT date('2025-01-01', '+' || n || ' months') FROM m",
        scope=sales,
    )
    assert [r[0] for r in cal.rows][:2] == ["2025-01-01", "2025-02-01"] and cal.row_count == 12


def test_a_single_step_cpu_bomb_is_killed_at_the_deadline(demo_warehouse_url: str) -> None:
    # instr() of a 400k needle in a 1M haystack runs inside one VM step: the progress handler
    # never fires, so only killing the worker stops it.
    pool = SqliteWorkerPool(max_workers=1)
    wh = SqlWarehouse(demo_warehouse_url, pool=pool, grace_s=0.3)
    wh.run("SELECT 1")
    (before,) = pool.worker_pids()
    started = time.monotonic()
    with pytest.raises(QueryFailed, match="time limit") as err:
        wh.run("SELECT instr(printf('%.*c', 999999, 'a'), printf('%.*c', 400000, 'a') || 'b')", timeout_s=0.5)
    elapsed = time.monotonic() - started
    assert err.value.timed_out and 0.5 <= elapsed < 0.5 + 0.3 + 0.5
    assert pool.kills == 1
    assert not Path(f"/proc/{before}").exists() or _is_zombie(before)
    assert wh.run("SELECT COUNT(*) FROM regions").rows == ((5,),)  # a fresh worker answers
    assert pool.worker_pids() != [before]
    pool.close()


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_a_worker_that_dies_mid_query_is_a_clear_error_and_is_replaced(demo_warehouse_url: str) -> None:
    pool = SqliteWorkerPool(max_workers=1)
    wh = SqlWarehouse(demo_warehouse_url, pool=pool)
    wh.run("SELECT 1")
    (pid,) = pool.worker_pids()
    threading.Timer(0.2, os.kill, (pid, signal.SIGKILL)).start()
    with pytest.raises(QueryFailed) as err:
        wh.run("SELECT COUNT(*) FROM orders a, orders b", timeout_s=5.0)
    assert "memory" in str(err.value) and not err.value.timed_out
    assert wh.run("SELECT COUNT(*) FROM regions").rows == ((5,),)
    pool.close()


def test_memory_is_bounded_by_the_heap_limit(demo_warehouse_url: str) -> None:
    wh = SqlWarehouse(demo_warehouse_url, pool=SqliteWorkerPool())
    with pytest.raises(QueryFailed, match="more memory than a warehouse query may use"):
        wh.run(
            "SELECT COUNT(*) FROM (SELECT printf('%.*c', 900000, 'x') || order_id AS s FROM orders LIMIT 3000) "
            "GROUP BY s",
            timeout_s=10,
        )
    assert wh.last_worker_rss_kb < RSS_BOUND_KB
    # One value longer than SQLITE_LIMIT_LENGTH (1 MB) is refused, not built.
    with pytest.raises(QueryFailed, match="too big"):
        wh.run("SELECT length(group_concat(c.name, printf('%.*c', 5000, ' '))) FROM customers c, products p")


def test_the_result_is_capped_in_bytes_while_fetching(demo_warehouse_url: str) -> None:
    wh = SqlWarehouse(demo_warehouse_url)
    result = wh.run("SELECT printf('%.*c', 900000, 'x') FROM orders", max_rows=1000)
    assert result.truncated and result.truncated_by == "bytes"
    assert 0 < _size(result.rows) <= 16 << 20
    rows = wh.run("SELECT order_id FROM orders", max_rows=10)
    assert rows.truncated_by == "rows" and rows.row_count == 10


def test_legitimate_analytics_run_through_guard_and_worker(demo_warehouse_url: str) -> None:
    wh = SqlWarehouse(demo_warehouse_url)
    schema = {n: t.column_names for n, t in wh.tables().items()}
    for case in [c for c in CASES if c["dialect"] == "sqlite" and c["expect"] == "allowed"]:
        allow = default_policy().allow_list(["employee", case["role"]])
        verdict = SqlGuard("sqlite", schema=schema).check(case["sql"], allow)
        assert verdict.allowed and verdict.sql, (case["id"], verdict.reasons)
        result = wh.run(verdict.sql, scope=read_scope(allow))
        assert result.row_count > 0, case["id"]


def test_missing_file_is_unavailable(tmp_path: Path) -> None:
    wh = SqlWarehouse(f"sqlite:///{tmp_path / 'gone.sqlite'}")
    with pytest.raises(ConnectorUnavailable, match="does not exist"):
        wh.run("SELECT 1")


def test_a_worker_that_died_while_idle_never_fails_a_query(demo_warehouse_url: str) -> None:
    pool = SqliteWorkerPool(max_workers=1)
    wh = SqlWarehouse(demo_warehouse_url, pool=pool)
    wh.run("SELECT 1")
    (pid,) = pool.worker_pids()
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.1)
    assert wh.run("SELECT COUNT(*) FROM regions").rows == ((5,),)
    assert pool.worker_pids() != [pid]
    pool.close()
