"""`make bench --quick`: every benchmark runs in its smoke mode and reports rows in the shared
format. No wall-time assertions: figures on a shared CI machine are not a test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(900)
def test_make_bench_quick_runs_every_benchmark_and_prints_rows() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=880,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(proc.stdout)
    benchmarks = {r["benchmark"] for r in rows}
    assert {
        "retrieval_bench",
        "orchestration_bench",
        "slack_burst_bench",
        "embedding_bench",
        "outbox_bench",
        "sql_guard_bench",
        "sql_worker_bench",
        "telemetry_bench",
    } <= benchmarks
    for r in rows:
        assert set(r) >= {"measure", "unit", "ours", "baseline", "ratio", "goal", "met"}, r
        assert isinstance(r["ours"], int | float)
        if r["baseline"] not in (None, 0):
            assert r["ratio"] == pytest.approx(r["ours"] / r["baseline"], rel=1e-2)
    # Behaviour the smoke still checks: no duplicate or missing Slack runs in the burst.
    slack = next(r for r in rows if r["measure"].startswith("Slack duplicate"))
    assert slack["ours"] == 0
    outbox = next(r for r in rows if r["measure"] == "outbox messages lost or duplicated")
    assert outbox["ours"] == 0 and outbox["met"] is True


def test_row_ratio_keeps_significant_figures_for_small_ratios() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from _rows import Row
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    row = Row("x", "ms", ours=0.0185702, baseline=1.0, goal="", met=None).as_json()
    assert row["ratio"] == pytest.approx(0.0185702, rel=1e-3)
    assert Row("x", "ms", ours=3.0, baseline=0, goal="", met=None).as_json()["ratio"] is None
