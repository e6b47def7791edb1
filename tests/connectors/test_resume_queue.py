"""The durable "resume pending" queue (connectors/appdb/resumes.py) on SQLite and PostgreSQL:
one resumer per thread, nothing dropped when a decision lands mid-resume or a resumer dies."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from connectors.appdb.resumes import ResumeQueue


@pytest.fixture
def engine(app_engine: Engine) -> Engine:
    return app_engine  # tests/conftest.py: SQLite, then PostgreSQL


def test_one_resumer_per_thread_and_nothing_dropped(engine: Engine) -> None:
    a, b = ResumeQueue(engine), ResumeQueue(engine)
    assert not a.claim("t1")  # nothing pending
    a.request("t1")
    a.request("t1")  # idempotent: still one thread to continue
    assert a.due() == ["t1"]
    assert a.claim("t1") and not b.claim("t1")
    assert b.due() == []
    a.request("t1")  # a second decision lands while t1 is being resumed
    a.done("t1")
    assert a.is_pending("t1")  # ... so it is continued again, not dropped
    assert b.claim("t1")
    b.done("t1")
    assert not a.is_pending("t1")
    a.request("t2")
    assert a.claim("t2")
    a.release("t2")  # the resume failed: still pending, for the next resumer
    assert b.due() == ["t2"]


def test_an_expired_claim_is_taken_over(engine: Engine) -> None:
    dead = ResumeQueue(engine, lease=timedelta(seconds=-1))  # a resumer that died at once
    dead.request("t1")
    assert dead.claim("t1")
    live = ResumeQueue(engine)
    assert live.due() == ["t1"] and live.claim("t1")
    dead.done("t1")  # the dead one's late "done" does not drop the live one's claim
    assert live.is_pending("t1")
    live.done("t1")
    assert not live.is_pending("t1")


def test_concurrent_claims_have_one_winner(engine: Engine) -> None:
    ResumeQueue(engine).request("t1")
    queues = [ResumeQueue(engine) for _ in range(8)]
    wins: list[bool] = []
    start = threading.Barrier(len(queues))

    def claim(q: ResumeQueue) -> None:
        start.wait()
        wins.append(q.claim("t1"))

    threads = [threading.Thread(target=claim, args=(q,)) for q in queues]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(wins) == [False] * 7 + [True]
