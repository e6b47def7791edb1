"""The row every benchmark reports for ``make bench`` (see benchmarks/README.md)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    measure: str  # what, e.g. "hybrid retrieval p50 at 100k chunks"
    unit: str  # "ms", "chunks/s", "×", "%"…
    ours: float
    baseline: float | None  # the baseline's figure measured in the same run (None: no baseline)
    goal: str  # human-readable, e.g. "≤ 25 ms"
    met: bool | None  # does "ours" meet the goal (None: informational)
    baseline_label: str = ""  # what the baseline is, e.g. "vector-only"

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.ours / self.baseline

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = None if self.ratio is None else float(f"{self.ratio:.4g}")  # 4 significant figures
        return out


def emit(benchmark: str, rows: list[Row]) -> None:
    """Print the ``--json`` document on stdout (human-readable output belongs on stderr)."""
    json.dump({"benchmark": benchmark, "rows": [r.as_json() for r in rows]}, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


__all__ = ["Row", "emit"]
