"""Delivery throughput of the outbox worker: messages/s from queued to sent in the fake Slack.

Queues N messages, then runs W delivery workers (threads, each with its own Slack client, all on
one app database) until every message is sent, and checks each arrived exactly once. Runs the
embedded SQLite default and, when PostgreSQL is available (``--pg-url`` or a private cluster
from ``initdb``), PostgreSQL with ``FOR UPDATE SKIP LOCKED``. The baseline is one worker on
SQLite in the same run; every line prints its ratio to it.

    .venv/bin/python benchmarks/outbox_bench.py
    .venv/bin/python benchmarks/outbox_bench.py --messages 2000 --workers 1,2,4 --pg-url postgresql://...
    .venv/bin/python benchmarks/outbox_bench.py --quick --json   # smoke for make bench: 100 messages, SQLite

Exit status 1 if any message was lost or duplicated (also a row, goal 0, under ``--json``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _rows import Row, emit

from agent.interfaces.outbox_worker import DeliveryWorker
from connectors.appdb import make_engine
from connectors.delivery import SlackChannel
from connectors.outbox import SqlOutbox
from connectors.slack.client import build_web_client
from connectors.slack.fake_api import FakeSlack

TOKEN = "xoxb-bench"
RECIPIENTS = ["U0BOB", "U0DANA", "U0PRIYA", "U0RAJ"]


@dataclass
class Run:
    backend: str
    workers: int
    messages: int
    seconds: float
    lost: int
    duplicated: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def run_once(url: str, backend: str, fake: FakeSlack, n: int, workers: int, batch: int) -> Run:
    fake.reset()
    engine = make_engine(url)
    try:
        outbox = SqlOutbox(engine)
        stamp = time.time_ns()
        for i in range(n):
            outbox.send(RECIPIENTS[i % len(RECIPIENTS)], f"bench {stamp} {i}", idempotency_key=f"bench-{stamp}-{i}")
        pool = [
            DeliveryWorker(
                outbox,
                {"slack": SlackChannel(build_web_client(TOKEN, base_url=fake.base_url, rate_limit_retries=0))},
                worker_id=f"bench-{w}",
                batch=batch,
            )
            for w in range(workers)
        ]
        start = time.perf_counter()
        threads = [threading.Thread(target=w.drain) for w in pool]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - start
        posted = Counter(m.text for m in fake.messages.values() if m.text.startswith(f"bench {stamp} "))
        return Run(backend, workers, n, seconds, n - len(posted), sum(c - 1 for c in posted.values() if c > 1))
    finally:
        engine.dispose()


def pg_url(arg: str | None) -> tuple[str | None, Callable[[], None]]:
    if arg:
        return arg, lambda: None
    try:
        from tests.pg import find_pg_bin, start_cluster
    except ImportError:
        return None, lambda: None
    if find_pg_bin() is None:
        return None, lambda: None
    cluster = start_cluster()
    return cluster.admin_url, cluster.stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 messages, 1 and 2 workers, SQLite only")
    parser.add_argument("--json", action="store_true", help="print the rows for make bench on stdout")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.workers, args.no_postgres = 100, "1,2", True
    counts = [int(x) for x in args.workers.split(",") if x.strip()]

    runs: list[Run] = []
    stop_pg: Callable[[], None] = lambda: None  # noqa: E731
    with FakeSlack(token=TOKEN) as fake, tempfile.TemporaryDirectory() as tmp:
        for w in counts:
            runs.append(
                run_once(f"sqlite:///{Path(tmp) / f'bench{w}.db'}", "sqlite", fake, args.messages, w, args.batch)
            )
        url = None
        if not args.no_postgres:
            url, stop_pg = pg_url(args.pg_url)
        try:
            if url is not None:
                for w in counts:
                    runs.append(run_once(url, "postgres", fake, args.messages, w, args.batch))
        finally:
            stop_pg()

    base = runs[0].rate
    out = sys.stderr if args.json else sys.stdout  # --json: stdout carries only the rows
    print(f"outbox delivery: {args.messages} messages to the fake Slack, batch {args.batch}", file=out)
    print(f"{'backend':<10}{'workers':>8}{'seconds':>10}{'msg/s':>10}{'vs base':>9}{'lost':>6}{'dupes':>7}", file=out)
    for r in runs:
        print(
            f"{r.backend:<10}{r.workers:>8}{r.seconds:>10.2f}{r.rate:>10.1f}{r.rate / base:>8.2f}x"
            f"{r.lost:>6}{r.duplicated:>7}",
            file=out,
        )
    bad = sum(r.lost + r.duplicated for r in runs)
    if args.json:
        rows = [
            Row(
                f"outbox delivery, {r.backend}, {r.workers} worker{'s' if r.workers > 1 else ''}",
                "msg/s",
                r.rate,
                base,
                "informational",
                None,
                "1 worker, SQLite",
            )
            for r in runs[1:]
        ]
        rows.insert(0, Row("outbox delivery, sqlite, 1 worker", "msg/s", base, None, "informational", None))
        rows.append(Row("outbox messages lost or duplicated", "", float(bad), None, "0", bad == 0))
        emit("outbox", rows)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
