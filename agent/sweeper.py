"""A background sweep for long-running servers: expire overdue requests, remind and escalate
approvers, finish follow-ups a crash left behind. One-shot CLI commands run it by hand
(``chamberlain approvals tick``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

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


__all__ = ["Sweeper"]
