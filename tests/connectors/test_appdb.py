"""The approval store and audit log on SQLite and a real PostgreSQL server."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from connectors.appdb import (
    ApprovalStore,
    AuditLog,
    DedupeStore,
    NewApproval,
    StageSpec,
    payload_hash,
)


@pytest.fixture
def engine(app_engine: Engine) -> Engine:
    return app_engine  # tests/conftest.py: SQLite, then PostgreSQL


def _new(key: str = "t1:call1", stages: tuple[StageSpec, ...] | None = None, **kw: Any) -> NewApproval:
    return NewApproval(
        dedupe_key=key,
        kind="tool_call",
        requester_id="u_alice",
        action="crm_update_deal",
        args={"deal_id": "42", "dealstage": "closedwon"},
        title="crm_update_deal",
        summary="Move deal 42 to closed won",
        reason="writes need approval",
        stages=stages or (StageSpec("manager", ("u_raj",)),),
        thread_id="t1",
        target_version="v1",
        **kw,
    )


def test_create_is_idempotent_on_dedupe_key(engine: Engine) -> None:
    store = ApprovalStore(engine)
    a, created_a = store.create(_new())
    b, created_b = store.create(_new())
    assert created_a and not created_b
    assert a.id == b.id
    assert len(store.list()) == 1


def test_self_approval_and_outsiders_are_refused(engine: Engine) -> None:
    store = ApprovalStore(engine)
    rec, _ = store.create(_new(stages=(StageSpec("manager", ("u_raj", "u_alice")),)))
    own = store.decide(rec.id, approver_id="u_alice", approve=True)
    assert not own.accepted and "your own" in own.message
    outsider = store.decide(rec.id, approver_id="u_mallory", approve=True)
    assert not outsider.accepted and "not an approver" in outsider.message
    assert store.get(rec.id).status == "pending"


def test_two_stage_route_and_double_click(engine: Engine) -> None:
    store = ApprovalStore(engine)
    rec, _ = store.create(_new(stages=(StageSpec("manager", ("u_raj",)), StageSpec("finance", ("u_dana", "u_finn")))))
    first = store.decide(rec.id, approver_id="u_raj", approve=True)
    assert first.accepted and not first.final and first.record.current_stage == 1
    # Says which stage and who is next ("now waiting for it" read badly for a stage named "it").
    assert first.message == "Approved stage “manager”; next: stage “finance” (u_dana, u_finn)."
    again = store.decide(rec.id, approver_id="u_raj", approve=True)
    assert not again.accepted  # not an approver of stage 2, and cannot vote twice
    done = store.decide(rec.id, approver_id="u_finn", approve=True)
    assert done.accepted and done.final and done.record.status == "approved"
    late = store.decide(rec.id, approver_id="u_dana", approve=False)
    assert not late.accepted and "already approved" in late.message


def test_all_of_stage_needs_everyone(engine: Engine) -> None:
    store = ApprovalStore(engine)
    rec, _ = store.create(_new(stages=(StageSpec("board", ("u_marcus", "u_olivia"), mode="all"),)))
    r1 = store.decide(rec.id, approver_id="u_marcus", approve=True)
    assert r1.accepted and not r1.final
    r2 = store.decide(rec.id, approver_id="u_olivia", approve=True)
    assert r2.final and r2.record.status == "approved"


def test_concurrent_votes_decide_once(engine: Engine) -> None:
    store = ApprovalStore(engine)
    rec, _ = store.create(_new(stages=(StageSpec("finance", ("u_dana", "u_finn", "u_marcus")),)))
    results: list[Any] = []
    barrier = threading.Barrier(6)

    def click(who: str) -> None:
        barrier.wait()
        results.append(store.decide(rec.id, approver_id=who, approve=True))

    threads = [threading.Thread(target=click, args=(w,)) for w in ["u_dana", "u_finn", "u_marcus"] * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for r in results if r.final) == 1
    assert store.get(rec.id).status == "approved"


def test_claim_exactly_once_and_hash_binding(engine: Engine) -> None:
    store = ApprovalStore(engine)
    rec, _ = store.create(_new())
    h = payload_hash("crm_update_deal", {"deal_id": "42", "dealstage": "closedwon"}, "v1")
    assert store.claim(rec.id, payload_hash_now=h).outcome == "not_approved"
    store.decide(rec.id, approver_id="u_raj", approve=True)
    tampered = payload_hash("crm_update_deal", {"deal_id": "42", "dealstage": "closedlost"}, "v1")
    assert store.claim(rec.id, payload_hash_now=tampered).outcome == "hash_mismatch"

    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        outcomes.append(store.claim(rec.id, payload_hash_now=h).outcome)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("claimed") == 1
    assert set(outcomes) <= {"claimed", "in_progress"}
    store.complete(rec.id, ok=True, result={"ok": 1})
    assert store.claim(rec.id, payload_hash_now=h).outcome == "done"


def test_crashed_claim_is_reclaimable_after_lease(engine: Engine) -> None:
    store = ApprovalStore(engine, lease=timedelta(seconds=0))
    rec, _ = store.create(_new())
    h = rec.payload_hash
    store.decide(rec.id, approver_id="u_raj", approve=True)
    assert store.claim(rec.id, payload_hash_now=h).outcome == "claimed"
    # the worker "crashes" here; after the lease another worker takes over with the same key
    again = store.claim(rec.id, payload_hash_now=h)
    assert again.outcome == "reclaimed" and again.record.attempts == 2
    assert again.record.idempotency_key == rec.idempotency_key


def test_expiry(engine: Engine) -> None:
    store = ApprovalStore(engine)
    rec, _ = store.create(_new(ttl=timedelta(seconds=-1)))
    expired = store.expire_due()
    assert [r.id for r in expired] == [rec.id]
    assert store.decide(rec.id, approver_id="u_raj", approve=True).accepted is False


def test_audit_chain_detects_edit_delete_reorder(engine: Engine) -> None:
    log = AuditLog(engine)
    for i in range(5):
        log.append("step", actor="u_alice", thread_id="t", data={"i": i})
    assert log.verify().ok and log.verify().entries == 5
    with engine.begin() as c:
        c.execute(text("UPDATE audit_log SET data_json = :d WHERE seq = 3"), {"d": '{"i":99}'})
    rep = log.verify()
    assert not rep.ok and any("entry 3" in p and "edited" in p for p in rep.problems)


def test_audit_chain_detects_deletion(engine: Engine) -> None:
    log = AuditLog(engine)
    for i in range(4):
        log.append("step", actor="u_alice", data={"i": i})
    with engine.begin() as c:
        c.execute(text("DELETE FROM audit_log WHERE seq = 4"))
    rep = log.verify()
    assert not rep.ok and any("deleted" in p for p in rep.problems)


def test_audit_concurrent_appends_keep_one_chain(engine: Engine) -> None:
    log = AuditLog(engine)

    def work(n: int) -> None:
        for i in range(10):
            log.append("step", actor=f"w{n}", data={"i": i})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rep = log.verify()
    assert rep.ok, rep.problems
    assert rep.entries == 40


def test_dedupe_first_time_only_once(engine: Engine) -> None:
    d = DedupeStore(engine)
    assert d.first_time("evt-1") is True
    assert d.first_time("evt-1") is False
