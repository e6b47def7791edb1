"""What tracing costs: a span around a no-op, tracing off vs on, against the bare call.

    python benchmarks/telemetry_bench.py

Prints ns per call for: the bare call (baseline), ``connectors.telemetry.span`` with tracing off
(the default), and with an SDK provider recording to an in-memory exporter.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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


def main() -> None:
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
    print(f"{'variant':<28}{'ns/call':>10}{'vs bare':>10}")
    print(f"{'bare call (baseline)':<28}{base:>10.0f}{1.0:>9.1f}x")
    print(f"{'span, tracing off':<28}{off:>10.0f}{off / base:>9.1f}x")
    print(f"{'span, tracing on (SDK)':<28}{on:>10.0f}{on / base:>9.1f}x")
    print(f"tracing off adds {off - base:.0f} ns per span; a turn has ~10 spans (model calls take ~1 s)")


if __name__ == "__main__":
    main()
