"""A background sweep for long-running servers: expire overdue requests, remind and escalate
approvers, finish follow-ups a crash left behind. One-shot CLI commands run it by hand
(``chamberlain approvals tick``).

:func:`away_delegates` is the delegation rule of reminders: a reminder to an approver who is
away today goes to their delegate as well (added to the stage), under the rules routing uses
(policies/approvers.py: not the requester, not someone reporting to them, not away too, not
already deciding another stage of the request)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectors.appdb import ApprovalRecord
    from policies.directory import Directory

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, interval_s: float, jobs: Sequence[Callable[[], object]]) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.interval_s = interval_s
        self.jobs = list(jobs)
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chamberlain-sweeper", daemon=True)

    def start(self) -> Sweeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval_s + 5)

    def run_once(self) -> None:
        for job in self.jobs:
            try:
                job()
            except Exception:  # a failing sweep must not kill the server; it runs again later
                log.exception("sweep job %s failed", getattr(job, "__qualname__", job))
        self.runs += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.run_once()


def away_delegates(rec: ApprovalRecord, directory: Directory, *, today: dt.date) -> list[str]:
    """Delegates to add to the current stage because approvers waiting on it are away today."""
    from policies.approvers import ApproverResolver

    requester = directory.find(rec.requester_id)
    stage = rec.stage
    if requester is None or stage is None or rec.status != "pending":
        return []
    resolver = ApproverResolver(requester, directory, today=today)
    # One person decides at most one stage: nobody on another stage may come in as a delegate.
    used = {a for i, s in enumerate(rec.stages) if i != rec.current_stage for a in s.approvers}
    used |= {v.approver_id for v in rec.votes}
    out: list[str] = []
    for pid in rec.approvers_now():
        p = directory.find(pid)
        if p is None or not p.is_away(today):
            continue
        stand_in = resolver.present(pid, stage.name, used | set(stage.approvers))
        if stand_in is not None and stand_in != pid and stand_in not in out:
            out.append(stand_in)
    return out


__all__ = ["Sweeper", "away_delegates"]
