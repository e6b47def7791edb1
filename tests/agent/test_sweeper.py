"""The background sweep that long-running servers start."""

from __future__ import annotations

import threading

from agent.workflows.sweeper import Sweeper


def test_sweeper_runs_jobs_and_survives_a_failing_one() -> None:
    ran = threading.Event()
    calls: list[str] = []

    def boom() -> None:
        calls.append("boom")
        raise RuntimeError("transient")

    def ok() -> None:
        calls.append("ok")
        ran.set()

    s = Sweeper(0.01, [boom, ok]).start()
    assert ran.wait(5)
    s.stop()
    assert calls[:2] == ["boom", "ok"]  # the failure did not stop the next job
    runs = s.runs
    assert runs >= 1
    s.stop()
    assert s.runs == runs  # stopped: nothing runs any more
