"""Business request lifecycle on the one approval engine: routing, stages, exactly-once
follow-ups, withdrawal, expiry, reminders and escalation on a travelling clock, stats."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from agent.notify import RecordingNotifier
from agent.workflows.service import TravellingClock, WorkflowService, percentile
from connectors.appdb import ApprovalStore, AuditLog, make_engine
from connectors.crm import InMemoryCrm
from connectors.errors import RecordNotFound
from policies.directory import Directory
from policies.routing import load_default

START = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)

DINNER = {
    "kind": "expense",
    "amount": "840.00",
    "category": "client_entertainment",
    "date": "2026-11-22",
    "description": "Client dinner with Acme",
    "has_receipt": True,
}
LUNCH = {
    "kind": "expense",
    "amount": "42",
    "category": "meals",
    "date": "2026-11-20",
    "description": "Team lunch",
    "has_receipt": True,
}
TAXI = {
    "kind": "expense",
    "amount": "180",
    "category": "travel",
    "date": "2026-11-19",
    "description": "Taxis in Boston",
    "has_receipt": True,
}


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory.load()


@pytest.fixture(scope="module")
def policy(directory: Directory) -> Any:
    return load_default(directory)


def _engine(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Engine:
    if kind == "sqlite":
        return make_engine(f"sqlite:///{tmp_path}/app.db")
    import psycopg

    admin = request.getfixturevalue("postgres_url")
    db = "wf_" + uuid.uuid4().hex[:10]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    return make_engine(admin.rsplit("/", 1)[0] + "/" + db)


class World:
    def __init__(self, engine: Engine, directory: Directory, policy: Any) -> None:
        self.clock = TravellingClock(START)
        self.store = ApprovalStore(engine, clock=self.clock)
        self.audit = AuditLog(engine, clock=self.clock)
        self.notifier = RecordingNotifier()
        self.crm = InMemoryCrm.seeded()
        self.svc = WorkflowService(self.store, self.audit, directory, policy, self.notifier, crm=self.crm)

    def advance(self, hours: float) -> None:
        self.clock.advance(dt.timedelta(hours=hours))

    def approve(self, approval_id: str, who: str) -> Any:
        res = self.store.decide(approval_id, approver_id=who, approve=True)
        assert res.accepted, res.message
        return res

    def events(self, approval_id: str) -> list[str]:
        return [e.event for e in self.audit.entries(approval_id=approval_id)]

    def notified(self, kind: str) -> list[str]:
        return [v.id for k, v in self.notifier.events if k == kind]


@pytest.fixture
def world(tmp_path: Path, directory: Directory, policy: Any) -> Iterator[World]:
    eng = make_engine(f"sqlite:///{tmp_path}/app.db")
    yield World(eng, directory, policy)
    eng.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_stage_expense_runs_follow_up_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, directory: Directory, policy: Any
) -> None:
    eng = _engine(backend, tmp_path, request)
    try:
        w = World(eng, directory, policy)
        sub = w.svc.submit("u_alice", DINNER, thread_id="t1")
        rec = sub.record
        assert rec.status == "pending" and rec.kind == "expense" and rec.action == "record_expense"
        assert [(s.name, s.approvers) for s in rec.stages] == [
            ("manager", ("u_raj",)),
            ("finance", ("u_dana", "u_finn")),
        ]
        assert "expense-client-entertainment" in [r.id for r in sub.decision.fired]
        assert w.notified("requested") == [rec.id]  # the first stage heard about it
        submitted = next(e for e in w.audit.entries(approval_id=rec.id) if e.event == "request_submitted")
        assert "expense-client-entertainment" in submitted.data["rules_fired"]

        # Finance cannot jump the manager stage; the requester can never approve.
        assert not w.store.decide(rec.id, approver_id="u_finn", approve=True).accepted
        assert not w.store.decide(rec.id, approver_id="u_alice", approve=True).accepted
        first = w.approve(rec.id, "u_raj")
        assert not first.final and first.record.current_stage == 1
        final = w.approve(rec.id, "u_finn")
        assert final.final and final.record.status == "approved"

        done = w.svc.lifecycle.execute(final.record.id).record
        again = w.svc.lifecycle.execute(final.record.id).record
        assert done.status == again.status == "executed"
        rows = w.svc.follow_up_rows("expense", rec.id)
        assert len(rows) == 1
        assert rows[0]["amount"] == "840.00" and rows[0]["employee_id"] == "u_alice"
        assert rows[0]["spent_on"] == dt.date(2026, 11, 22)
        assert w.events(rec.id).count("write_executed") == 1
        assert done.result["table"] == "ledger_entries"
    finally:
        eng.dispose()


def test_concurrent_on_final_runs_follow_up_once(world: World) -> None:
    rec = world.svc.submit("u_alice", TAXI).record
    final = world.approve(rec.id, "u_raj").record
    barrier = threading.Barrier(6)
    statuses: list[str] = []

    def go() -> None:
        barrier.wait()
        statuses.append(world.svc.lifecycle.execute(final.id).record.status)

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(world.svc.follow_up_rows("expense", rec.id)) == 1
    assert world.events(rec.id).count("write_executed") == 1
    assert world.store.get(rec.id).status == "executed"
    assert "executed" in statuses


def test_auto_approved_request_runs_follow_up_at_submit(world: World) -> None:
    sub = world.svc.submit("u_bob", LUNCH)
    assert sub.decision.auto_approved
    rec = sub.record
    assert rec.status == "executed" and rec.decided_by == "policy:expense-auto"
    assert len(world.svc.follow_up_rows("expense", rec.id)) == 1
    assert world.notified("requested") == []  # nobody to ask
    assert world.events(rec.id) == [
        "approval_requested",
        "request_submitted",
        "request_auto_approved",
        "write_executed",
    ]
    assert world.svc.lifecycle.execute(rec.id).record.status == "executed"
    assert len(world.svc.follow_up_rows("expense")) == 1


def test_same_dedupe_key_is_one_request(world: World) -> None:
    a = world.svc.submit("u_alice", DINNER, dedupe_key="k1")
    b = world.svc.submit("u_alice", DINNER, dedupe_key="k1")
    assert a.created and not b.created and a.record.id == b.record.id
    assert len(world.store.list()) == 1


def test_follow_up_reclaimed_after_a_crash_runs_once(world: World) -> None:
    rec = world.svc.submit("u_alice", TAXI).record
    world.approve(rec.id, "u_raj")
    claim = world.store.claim(rec.id, payload_hash_now=rec.payload_hash)
    assert claim.may_execute
    world.svc._follow_up(claim.record)  # the worker wrote the row, then died before complete()
    assert world.svc.tick().followed_up == ()  # lease still held: nobody steals it
    world.advance(0.25)  # past the 5-minute lease
    report = world.svc.tick()
    assert report.followed_up == (rec.id,)
    assert world.store.get(rec.id).status == "executed"
    assert world.store.get(rec.id).attempts == 2
    assert len(world.svc.follow_up_rows("expense", rec.id)) == 1


def test_discount_updates_the_deal_once(world: World) -> None:
    sub = world.svc.submit(
        "u_alice", {"kind": "discount", "deal_id": "30001", "discount_percent": 10, "reason": "renewal at risk"}
    )
    rec = sub.record
    assert sub.decision.amount_usd == Decimal("240000.00")  # deal amount read from the CRM
    assert [s.name for s in rec.stages] == ["manager", "finance"]  # > $100k deal: Finance too
    assert rec.current == {"amount": "240000.00"} and rec.proposed["amount"] == "216000.00"
    world.approve(rec.id, "u_raj")
    final = world.approve(rec.id, "u_dana").record
    # A crash after the CRM calls: the re-claimed follow-up must not discount twice.
    claim = world.store.claim(rec.id, payload_hash_now=rec.payload_hash)
    world.svc._follow_up(claim.record)
    world.advance(0.25)
    done = world.svc.lifecycle.execute(final.id).record
    assert done.status == "executed"
    deal = world.crm.get("deals", "30001", ["amount"], associations=["notes"])
    assert deal.get("amount") == "216000"
    notes = deal.associations["notes"]
    ours = [n for n in notes if rec.id in (world.crm.get("notes", n, ["hs_note_body"]).get("hs_note_body") or "")]
    assert len(ours) == 1
    body = world.crm.get("notes", ours[0], ["hs_note_body"]).get("hs_note_body") or ""
    assert "240000.00 → 216000.00" in body and "Raj Patel" in body
    assert done.result["amount_after"] == "216000.00"


def test_discount_on_unknown_deal_is_refused(world: World) -> None:
    with pytest.raises(RecordNotFound):
        world.svc.submit("u_alice", {"kind": "discount", "deal_id": "39999", "discount_percent": 5, "reason": "x"})
    assert world.store.list() == []


def test_rejection_is_final_and_audited_once(world: World) -> None:
    rec = world.svc.submit("u_alice", DINNER).record
    res = world.svc.lifecycle.decide(rec.id, approver_id="u_raj", approve=False, reason="not a client event")
    assert res.final
    assert world.svc.lifecycle.execute(res.record.id).outcome == "not_approved"
    again = world.svc.lifecycle.decide(rec.id, approver_id="u_raj", approve=False, reason="again")
    assert not again.accepted
    assert world.events(rec.id).count("approval_decision") == 1
    assert world.svc.follow_up_rows("expense", rec.id) == []
    assert world.store.get(rec.id).status == "rejected"


def test_withdraw(world: World) -> None:
    rec = world.svc.submit("u_alice", DINNER).record
    with pytest.raises(PermissionError):
        world.svc.withdraw(rec.id, by="u_raj")
    out = world.svc.withdraw(rec.id, by="u_alice", reason="filed twice")
    assert out is not None and out.status == "withdrawn" and out.decision_reason == "filed twice"
    assert world.svc.withdraw(rec.id, by="u_alice") is None  # not pending any more
    assert not world.store.decide(rec.id, approver_id="u_raj", approve=True).accepted
    assert "request_withdrawn" in world.events(rec.id)
    world.advance(24 * 30)
    assert world.svc.tick() == type(world.svc.tick())()  # nothing to do for a withdrawn request


def test_expiry(world: World) -> None:
    rec = world.svc.submit("u_alice", DINNER).record
    world.advance(24 * 7 - 1)
    assert rec.id not in world.svc.tick().expired
    world.advance(2)
    report = world.svc.tick()
    assert report.expired == (rec.id,)
    assert world.store.get(rec.id).status == "expired"
    assert not world.store.decide(rec.id, approver_id="u_raj", approve=True).accepted
    assert "request_expired" in world.events(rec.id)
    assert world.svc.tick().expired == ()


def test_reminder_then_escalation_to_the_next_level(world: World) -> None:
    rec = world.svc.submit("u_alice", TAXI).record  # manager stage only, SLA 48 h
    world.advance(47)
    assert world.svc.tick().reminded == ()
    world.advance(2)
    assert world.svc.tick().reminded == (rec.id,)
    assert world.svc.tick().reminded == ()  # once per stage wait
    assert world.notified("reminder") == [rec.id]
    world.advance(48)  # 97 h: past twice the SLA
    report = world.svc.tick()
    assert report.escalated == (rec.id,)
    now = world.store.get(rec.id)
    assert now.stages[0].approvers == ("u_raj", "u_sofia")
    assert world.notified("escalated") == [rec.id]
    esc = next(e for e in world.audit.entries(approval_id=rec.id) if e.event == "request_escalated")
    assert esc.data["added_approvers"] == ["u_sofia"] and esc.data["waited_hours"] == 97.0
    # The escalation restarted the stage clock: no immediate second escalation.
    assert world.svc.tick() == type(report)()
    final = world.approve(rec.id, "u_sofia")
    assert world.svc.lifecycle.execute(final.record.id).record.status == "executed"


def test_each_stage_has_its_own_sla(world: World) -> None:
    rec = world.svc.submit("u_alice", DINNER).record  # manager 48 h, then finance 72 h
    world.approve(rec.id, "u_raj")
    world.advance(60)
    assert world.svc.tick().reminded == ()  # finance has 72 h
    world.advance(13)
    assert world.svc.tick().reminded == (rec.id,)
    assert world.svc.stage_sla(world.store.get(rec.id)) == dt.timedelta(hours=72)


def test_stats(world: World) -> None:
    assert world.svc.stats().auto_approval_rate is None
    world.svc.submit("u_bob", LUNCH)  # auto-approved
    a = world.svc.submit("u_alice", TAXI).record
    b = world.svc.submit("u_alice", DINNER).record
    c = world.svc.submit(
        "u_alice",
        {
            "kind": "purchase",
            "item": "Laptop",
            "quantity": 3,
            "unit_price": 1800,
            "category": "it_hardware",
            "justification": "new hires",
        },
    ).record
    world.advance(2)
    world.approve(a.id, "u_raj")  # decided after 2 h
    world.advance(8)
    world.store.decide(b.id, approver_id="u_raj", approve=False)  # decided after 10 h
    world.advance(50)  # c still waits for its manager, past the 48 h SLA
    st = world.svc.stats()
    assert st.total == 4
    assert st.by_kind == {"expense": 3, "purchase": 1}
    assert st.auto_approved == 1 and st.auto_approval_rate == 0.25
    assert st.decided == 2 and st.p50_hours == 2.0 and st.p90_hours == 10.0
    assert st.overdue == 1 and st.overdue_ids == (c.id,)
    assert st.to_json()["time_to_decision_hours"] == {"p50": 2.0, "p90": 10.0}
    assert world.svc.stats(since=START + dt.timedelta(days=1)).total == 0


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 90) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 11)], 90) == 9.0


def test_discount_deal_size_comes_from_the_crm_not_the_request(world: World) -> None:
    # Claiming a small deal must not skip Finance: the CRM's amount is what routing sees.
    sub = world.svc.submit(
        "u_alice",
        {"kind": "discount", "deal_id": "30001", "discount_percent": 5, "deal_amount": 1000, "reason": "loyalty"},
    )
    assert sub.decision.amount_usd == Decimal("240000.00")
    assert [s.name for s in sub.record.stages] == ["manager", "finance"]
