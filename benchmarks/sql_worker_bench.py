"""Benchmark: per-query overhead of running SQLite warehouse queries in worker processes.

Each query runs (a) in-process on a read-only sqlite3 connection (the baseline: no isolation,
no kill) and (b) through ``SqlWarehouse.run`` on a warm worker pool (authorizer per column,
heap/length limits, byte-capped fetch, killable at the deadline), in the same run, on the
same demo warehouse. The difference is what the worker design costs per query.

    python benchmarks/sql_worker_bench.py [--warehouse sqlite:///path.sqlite] [--repeat 200]
    python benchmarks/sql_worker_bench.py --quick --json   # smoke for make bench: 10 runs a query

Goal: overhead p50 ≤ 5 ms on a warm pool. Also shows the cost of a cold start and of
replacing a worker killed at a deadline.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _rows import Row, emit  # noqa: E402

from connectors.query_workers import SqliteWorkerPool  # noqa: E402
from connectors.warehouse import QueryFailed, SqlWarehouse, connect_sqlite_readonly  # noqa: E402
from policies.data_access import default_policy  # noqa: E402
from tools.analytics import read_scope  # noqa: E402

GOAL_P50_MS = 5.0
QUERIES = {
    "SELECT 1": "SELECT 1",
    "count regions": "SELECT COUNT(*) FROM regions",
    "10 products": "SELECT product_id, name, list_price FROM products ORDER BY product_id LIMIT 10",
    "expenses by department": (
        "SELECT d.name, SUM(e.amount) FROM expenses e JOIN departments d ON d.department_id = e.department_id "
        "WHERE e.status = 'approved' GROUP BY d.name"
    ),
    "200 orders": "SELECT order_id, order_date, status FROM orders ORDER BY order_id LIMIT 200",
}


def _pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def _times(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--warehouse", help="SQLite warehouse URL (default: generate the demo warehouse)")
    parser.add_argument("--repeat", type=int, default=200, help="runs per query")
    parser.add_argument("--strict", action="store_true", help="exit 1 if the goal is missed")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 runs a query")
    parser.add_argument("--json", action="store_true", help="print the rows for make bench on stdout")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat = 10
    console = Console(width=max(Console().width, 120), stderr=args.json)  # --json: stdout carries only the rows
    with tempfile.TemporaryDirectory() as tmp:
        url = args.warehouse
        if url is None:
            from connectors.demo.warehouse_gen import generate_warehouse
            from policies.directory import Directory

            url = f"sqlite:///{generate_warehouse(Path(tmp) / 'demo.sqlite', people=Directory.load()).path}"
        path = url.removeprefix("sqlite:///")
        pool = SqliteWorkerPool(max_workers=2)
        t = time.perf_counter()
        pool.warm_up()
        cold_ms = (time.perf_counter() - t) * 1000
        wh = SqlWarehouse(url, pool=pool)
        scope = read_scope(default_policy().allow_list(["employee", "finance"]))
        con = connect_sqlite_readonly(path)

        table = Table(title=f"SQLite query latency: in-process vs worker process ({args.repeat} runs each, warm pool)")
        for col in ("query", "in-process p50 ms", "worker p50 ms", "worker p95 ms", "overhead p50 ms", "ratio p50"):
            table.add_column(col, justify="right" if col != "query" else "left")
        overheads, base_p50s, work_p50s = [], [], []
        for name, sql in QUERIES.items():
            wh.run(sql, scope=scope)  # warm the worker's connection and page cache
            base = _times(lambda sql=sql: con.execute(sql).fetchmany(1001), args.repeat)
            work = _times(lambda sql=sql: wh.run(sql, max_rows=1000, scope=scope), args.repeat)
            b50, w50, w95 = _pct(base, 0.5), _pct(work, 0.5), _pct(work, 0.95)
            overheads.append(w50 - b50)
            base_p50s.append(b50)
            work_p50s.append(w50)
            table.add_row(name, f"{b50:.3f}", f"{w50:.3f}", f"{w95:.3f}", f"{w50 - b50:.3f}", f"{w50 / b50:.1f}x")
        console.print(table)

        # What a deadline kill costs: the query is stopped at timeout + grace, a new worker starts.
        killer = SqlWarehouse(url, pool=pool, grace_s=0.2)
        t = time.perf_counter()
        with contextlib.suppress(QueryFailed):
            killer.run("SELECT instr(printf('%.*c', 999999, 'a'), printf('%.*c', 400000, 'a') || 'b')", timeout_s=0.3)
        kill_ms = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        wh.run("SELECT 1")
        after_kill_ms = (time.perf_counter() - t) * 1000
        overhead = statistics.median(overheads)
        ok = overhead <= GOAL_P50_MS
        console.print(
            f"worker overhead per query: median of p50s {overhead:.3f} ms (goal ≤ {GOAL_P50_MS:g} ms: "
            f"{'met' if ok else 'MISSED'}); cold start of the warm pool {cold_ms:.0f} ms; "
            f"single-step bomb with 0.3 s timeout stopped after {kill_ms:.0f} ms "
            f"(kills: {pool.kills}); next query on a fresh worker {after_kill_ms:.0f} ms"
        )
        con.close()
        pool.close()
    if args.json:
        base50, work50 = statistics.median(base_p50s), statistics.median(work_p50s)
        emit(
            "sql_worker",
            [
                Row(
                    "SQLite query p50 in a worker process (median of queries)",
                    "ms",
                    work50,
                    base50,
                    "informational",
                    None,
                    "in-process",
                ),
                Row("worker overhead per query p50", "ms", overhead, None, f"≤ {GOAL_P50_MS:g} ms", ok),
                Row("worker pool cold start", "ms", cold_ms, None, "informational", None),
                Row("query killed at its 0.3 s deadline, stopped after", "ms", kill_ms, None, "informational", None),
            ],
        )
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
