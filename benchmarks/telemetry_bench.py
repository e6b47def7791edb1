"""What tracing costs: a span around a no-op, tracing off vs on, against the bare call.

    python benchmarks/telemetry_bench.py
    python benchmarks/telemetry_bench.py --quick --json   # smoke for make bench: 5,000 calls

Prints ns per call for: the bare call (baseline), ``connectors.telemetry.span`` with tracing off
(the default), and with an SDK provider recording to an in-memory exporter.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _rows import Row, emit
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from connectors import telemetry

N = 50_000


def _work() -> int:
    return 1


def bare() -> float:
    t = time.perf_counter()
    for _ in range(N):
        _work()
    return (time.perf_counter() - t) / N * 1e9


def spanned() -> float:
    t = time.perf_counter()
    for _ in range(N):
        with telemetry.span("bench.op", {"k": 1}):
            _work()
    return (time.perf_counter() - t) / N * 1e9


def main(argv: list[str] | None = None) -> int:
    global N
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 5,000 calls a variant")
    parser.add_argument("--json", action="store_true", help="print the rows for make bench on stdout")
    args = parser.parse_args(argv)
    if args.quick:
        N = 5_000
    base = min(bare() for _ in range(3))
    off = min(spanned() for _ in range(3))
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.install(provider)
    try:
        on = min(spanned() for _ in range(3))
    finally:
        telemetry.uninstall()
        provider.shutdown()
    out = sys.stderr if args.json else sys.stdout  # --json: stdout carries only the rows
    print(f"{'variant':<28}{'ns/call':>10}{'vs bare':>10}", file=out)
    print(f"{'bare call (baseline)':<28}{base:>10.0f}{1.0:>9.1f}x", file=out)
    print(f"{'span, tracing off':<28}{off:>10.0f}{off / base:>9.1f}x", file=out)
    print(f"{'span, tracing on (SDK)':<28}{on:>10.0f}{on / base:>9.1f}x", file=out)
    print(f"tracing off adds {off - base:.0f} ns per span; a turn has ~10 spans (model calls take ~1 s)", file=out)
    if args.json:
        # ~10 spans a turn against the ≤ 5 ms a turn the orchestration may add: 50 µs a span
        # would use all of it; tracing off must stay a rounding error of that.
        emit(
            "telemetry",
            [
                Row(
                    "span around a no-op, tracing off",
                    "ns",
                    off,
                    base,
                    "≤ 5,000 ns (1 % of a turn's budget)",
                    off - base <= 5_000,
                    "bare call",
                ),
                Row("span around a no-op, tracing on (SDK)", "ns", on, base, "informational", None, "bare call"),
            ],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
