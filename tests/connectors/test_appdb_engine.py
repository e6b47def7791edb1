"""The SQLite app-DB engine: pooled connections, WAL with synchronous=NORMAL, reads that never
take the write lock; batched audit appends."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from connectors.appdb import AuditLog, DedupeStore, make_engine


def test_sqlite_engine_is_pooled_wal_and_normal_sync(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/app.db")
    with engine.connect() as c:
        first = c.connection.dbapi_connection
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    with engine.connect() as c:
        assert c.connection.dbapi_connection is first  # reused, not reopened
    engine.dispose()


def test_reads_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/app.db")
    log = AuditLog(engine)
    log.append("before", actor="u1")
    holding = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with engine.begin() as c:  # BEGIN IMMEDIATE: holds the write lock until release
            c.execute(text("INSERT INTO dedupe_keys (key, at) VALUES ('held', '2026-01-01 00:00:00')"))
            holding.set()
            release.wait(10)

    t = threading.Thread(target=writer)
    t.start()
    assert holding.wait(10)
    try:
        started = time.monotonic()
        entries = list(log.entries())  # a plain read while the write lock is held
        waited = time.monotonic() - started
    finally:
        release.set()
        t.join()
    assert [e.event for e in entries] == ["before"]  # the uncommitted row is not visible
    assert waited < 2.0  # with BEGIN IMMEDIATE for reads this blocked until the writer finished
    engine.dispose()


@pytest.mark.parametrize("batch", [1, 5])
def test_append_many_is_one_chain_in_order(tmp_path: Path, batch: int) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/app.db")
    log = AuditLog(engine, redact=lambda d: {k: ("***" if k == "secret" else v) for k, v in d.items()})
    log.append("first", actor="u1")
    written = log.append_many([(f"e{i}", "u2", "t1", None, {"i": i, "secret": "s3cr3t"}) for i in range(batch)])
    assert [e.seq for e in written] == list(range(2, 2 + batch))
    assert written[0].prev_hash == next(iter(log.entries())).hash
    assert all(e.data["secret"] == "***" for e in log.entries(thread_id="t1"))
    report = log.verify()
    assert report.ok and report.entries == 1 + batch, report.problems
    assert log.append_many([]) == []
    engine.dispose()


def test_dedupe_index_holds_many_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/app.db")
    store = DedupeStore(engine)
    with engine.begin() as c:
        c.execute(
            text("INSERT INTO dedupe_keys (key, at) VALUES (:k, '2026-01-01 00:00:00')"),
            [{"k": f"event:Ev{i:07d}"} for i in range(20_000)],
        )
    assert store.first_time("event:Ev0001234") is False
    assert store.first_time("event:EvNEW") is True
    assert store.first_time("event:EvNEW") is False
    with engine.connect() as c:
        plan = " ".join(
            str(r[-1]) for r in c.execute(text("EXPLAIN QUERY PLAN SELECT 1 FROM dedupe_keys WHERE key = 'x'"))
        )
    assert "INDEX" in plan.upper()  # a key lookup, not a scan
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_usage_rollups_upsert_on_each_backend(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    # The dialect-specific INSERT … ON CONFLICT is built on first use (its dialect module is not
    # imported at start-up): it must still be the right one for each database.
    import uuid

    from connectors.appdb import UsageStore

    url = f"sqlite:///{tmp_path / 'app.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    try:
        store = UsageStore(engine)
        user = f"u_{uuid.uuid4().hex[:8]}"
        for _ in range(2):
            store.record_model_call(
                user, None, model="m", input_tokens=10, output_tokens=5, cache_read_tokens=0,
                cache_write_tokens=0, cost_usd=0.25, groups=["all"],
            )  # fmt: skip
        day = store.window("user", user, "day")
        assert (day.tokens, round(day.cost_usd, 6)) == (30, 0.5)
    finally:
        engine.dispose()
