"""Request statistics (volume, auto-approval rate, time to decision, overdue) and the clock that
evals and demos move forward."""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.appdb import ApprovalRecord


@dataclass(frozen=True)
class Stats:
    since: dt.datetime | None
    total: int
    by_kind: Mapping[str, int]
    by_status: Mapping[str, int]
    auto_approved: int
    auto_approval_rate: float | None  # auto-approved / submitted; None with no requests
    decided: int  # decided by people (approved or rejected)
    p50_hours: float | None  # time from submission to a person's final decision
    p90_hours: float | None
    overdue: int  # pending past their current stage's SLA
    overdue_ids: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "total": self.total,
            "by_kind": dict(self.by_kind),
            "by_status": dict(self.by_status),
            "auto_approved": self.auto_approved,
            "auto_approval_rate": self.auto_approval_rate,
            "decided": self.decided,
            "time_to_decision_hours": {"p50": self.p50_hours, "p90": self.p90_hours},
            "overdue": self.overdue,
            "overdue_ids": list(self.overdue_ids),
        }


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


class TravellingClock:
    """A clock that can be moved forward (evals and demos); real time plus an offset."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._base = start
        self._offset = dt.timedelta()
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            base = self._base or dt.datetime.now(dt.UTC)
            return base + self._offset

    def advance(self, delta: dt.timedelta) -> None:
        with self._lock:
            self._offset += delta


def round2(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def compute_stats(
    recs: Sequence[ApprovalRecord],
    *,
    since: dt.datetime | None,
    now: dt.datetime,
    stage_sla: Callable[[ApprovalRecord], dt.timedelta],
) -> Stats:
    """Volume by kind, auto-approval rate, time to a person's decision (p50/p90), overdue, over
    the business requests ``recs``."""
    auto = [r for r in recs if (r.decided_by or "").startswith("policy:")]
    hours = [
        (r.decided_at - r.created_at).total_seconds() / 3600
        for r in recs
        if r.decided_at is not None
        and r.decided_by is not None
        and not r.decided_by.startswith(("policy:", "system:"))
        and r.status not in ("withdrawn", "expired", "stale")
    ]
    overdue = [r.id for r in recs if r.status == "pending" and now - r.stage_started_at > stage_sla(r)]
    return Stats(
        since=since,
        total=len(recs),
        by_kind=dict(sorted(Counter(r.kind for r in recs).items())),
        by_status=dict(sorted(Counter(r.status for r in recs).items())),
        auto_approved=len(auto),
        auto_approval_rate=(len(auto) / len(recs)) if recs else None,
        decided=len(hours),
        p50_hours=round2(percentile(hours, 50)),
        p90_hours=round2(percentile(hours, 90)),
        overdue=len(overdue),
        overdue_ids=tuple(sorted(overdue)),
    )
