"""App database (SQLite, the embedded default): what the HTTP API and the Slack ack path feel.

- Concurrency: 20 reader threads (approval lists, audit reads) beside 4 writer threads (audit
  appends) on one file. Ours: reads begin deferred and read a WAL snapshot. Baseline in the same
  run: the same reads inside ``engine.begin()`` (``BEGIN IMMEDIATE``, as every read used to),
  which queue behind writers. Goal from the issue: read p99 ≤ 10 × p50.
- Audit append: ms per entry one by one, and per entry with ``append_many`` (one transaction).
- Slack dedupe: ``first_time`` at 1,000,000 stored keys vs at 1,000 keys (a unique index: the
  cost should not grow with the table).

    python benchmarks/appdb_bench.py [--keys 1000000] [--seconds 6] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from _rows import Row, emit


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def concurrent_reads(url: str, seconds: float, immediate_reads: bool) -> list[float]:
    from connectors.appdb import ApprovalStore, AuditLog, make_engine

    engine = make_engine(url)
    audit, approvals = AuditLog(engine), ApprovalStore(engine)
    for i in range(200):
        audit.append("seed", actor="u_seed", thread_id=f"t{i % 20}", data={"i": i})
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        i = 0
        while time.monotonic() < stop:
            audit.append("step", actor=f"w{n}", thread_id=f"t{i % 20}", data={"i": i, "text": "x" * 200})
            i += 1
            time.sleep(0.005)  # clients pause between requests, writers as readers

    def reader(n: int) -> None:
        from sqlalchemy import select

        from connectors.appdb._schema import audit_log

        q = select(audit_log).where(audit_log.c.thread_id == f"t{n % 20}").order_by(audit_log.c.seq.desc()).limit(20)
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            if immediate_reads:
                with engine.begin() as c:  # the old behaviour: BEGIN IMMEDIATE for a read
                    c.execute(q).all()
            else:
                approvals.list()
                list(audit.entries(thread_id=f"t{n % 20}", limit=20))
            with lock:
                latencies.append(1000 * (time.perf_counter() - t0))
            time.sleep(0.005)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=reader, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    return latencies


def audit_append(url: str, n: int) -> tuple[float, float]:
    from connectors.appdb import AuditLog, make_engine

    engine = make_engine(url)
    log = AuditLog(engine)
    log.append("warm", actor="u")
    t0 = time.perf_counter()
    for i in range(n):
        log.append("step", actor="u_erin", thread_id="t1", data={"i": i})
    one = 1000 * (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for start in range(0, n, 6):  # six entries per graph step, as a turn writes
        log.append_many([("step", "u_erin", "t1", None, {"i": i}) for i in range(start, min(n, start + 6))])
    batched = 1000 * (time.perf_counter() - t0) / n
    assert log.verify().ok
    engine.dispose()
    return one, batched


def dedupe_cost(url: str, keys: int, probes: int = 300) -> float:
    from sqlalchemy import text

    from connectors.appdb import DedupeStore, make_engine

    engine = make_engine(url)
    with engine.begin() as c:
        for start in range(0, keys, 50_000):
            c.execute(
                text("INSERT INTO dedupe_keys (key, at) VALUES (:k, '2026-01-01 00:00:00')"),
                [{"k": f"event:Ev{i:09d}"} for i in range(start, min(keys, start + 50_000))],
            )
    store = DedupeStore(engine)
    store.first_time("warm")
    times = []
    for i in range(probes):
        t0 = time.perf_counter()
        store.first_time(f"event:EvNew{i}")
        store.first_time(f"event:Ev{(i * 7919) % keys:09d}")  # a retry of a stored key
        times.append(1000 * (time.perf_counter() - t0) / 2)
    engine.dispose()
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=6.0, help="duration of each concurrency run")
    ap.add_argument("--appends", type=int, default=300)
    ap.add_argument("--quick", action="store_true", help="smoke run: 20k keys, 1 s runs")
    ap.add_argument("--json", action="store_true", help="print the rows for make bench on stdout")
    args = ap.parse_args(argv)
    if args.quick:
        args.keys, args.seconds, args.appends = 20_000, 1.0, 30

    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="chamberlain-appdb-") as tmp:
        d = Path(tmp)
        with console.status("20 readers + 4 writers, deferred reads…"):
            ours = concurrent_reads(f"sqlite:///{d}/ours.db", args.seconds, immediate_reads=False)
        with console.status("20 readers + 4 writers, BEGIN IMMEDIATE reads (baseline)…"):
            base = concurrent_reads(f"sqlite:///{d}/base.db", args.seconds, immediate_reads=True)
        with console.status("audit appends…"):
            one, batched = audit_append(f"sqlite:///{d}/audit.db", args.appends)
        with console.status(f"dedupe at {args.keys:,} keys…"):
            big = dedupe_cost(f"sqlite:///{d}/big.db", args.keys)
            small = dedupe_cost(f"sqlite:///{d}/small.db", 1000)

    table = Table(title="App database (SQLite, WAL)")
    for col in ("measure", "ours", "baseline"):
        table.add_column(col, justify="left" if col == "measure" else "right")
    table.add_row(
        "read p50 / p99, 20 readers + 4 writers (ms)",
        f"{pct(ours, 50):.1f} / {pct(ours, 99):.1f}",
        f"{pct(base, 50):.1f} / {pct(base, 99):.1f} (BEGIN IMMEDIATE)",
    )
    table.add_row("audit append, ms per entry", f"{batched:.2f} (append_many ×6)", f"{one:.2f} (one by one)")
    table.add_row(f"dedupe first_time, ms at {args.keys:,} keys", f"{big:.2f}", f"{small:.2f} (1,000 keys)")
    console.print(table)
    if args.json:
        tail, tail_base = pct(ours, 99) / max(pct(ours, 50), 1e-9), pct(base, 99) / max(pct(base, 50), 1e-9)
        n = f"{args.keys // 1000}k" if args.keys < 1_000_000 else f"{args.keys // 1_000_000}M"
        emit(
            "appdb",
            [
                Row(
                    "app-DB read p99 / p50, 20 readers + 4 writers",
                    "×",
                    tail,
                    tail_base,
                    "≤ 10×",
                    tail <= 10,
                    "reads in BEGIN IMMEDIATE",
                ),
                Row(
                    "app-DB read p99, 20 readers + 4 writers",
                    "ms",
                    pct(ours, 99),
                    pct(base, 99),
                    "informational",
                    None,
                    "reads in BEGIN IMMEDIATE",
                ),
                Row(
                    "audit append per entry, batched per step",
                    "ms",
                    batched,
                    one,
                    "informational",
                    None,
                    "one transaction per entry",
                ),
                Row(
                    f"Slack dedupe first_time at {n} keys",
                    "ms",
                    big,
                    small,
                    "≤ 2× at 1k keys",
                    big <= 2 * small,
                    "1k keys",
                ),
            ],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
