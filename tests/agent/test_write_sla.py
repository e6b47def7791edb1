"""Per-tool, per-stake SLAs for the agent's writes (``write_sla:`` in the access policy), with
delegation honoured by reminders."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from agent.notify import RecordingNotifier
from agent.workflows.service import WorkflowService
from connectors.appdb import ApprovalStore, AuditLog, NewApproval, StageSpec, make_engine
from policies.access import DEFAULT_ACCESS, AccessPolicy
from policies.directory import Directory
from policies.errors import PolicyFileError
from policies.routing import load_default
from policies.write_sla import WriteSla, stake_usd

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def _service(tmp_path: Path, directory: Directory) -> tuple[WorkflowService, ApprovalStore, Clock, RecordingNotifier]:
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    clock = Clock()
    store = ApprovalStore(engine, clock=clock)
    notifier = RecordingNotifier()
    svc = WorkflowService(
        store,
        AuditLog(engine, clock=clock),
        directory,
        load_default(directory),
        notifier,
        access=AccessPolicy.load(DEFAULT_ACCESS),
    )
    return svc, store, clock, notifier


def _deal_write(store: ApprovalStore, key: str, amount: float | None) -> str:
    current = {"stage": "contractsent", **({"amount": amount} if amount is not None else {})}
    rec, _ = store.create(
        NewApproval(
            dedupe_key=key,
            kind="tool_call",
            requester_id="u_alice",
            action="crm_update_deal",
            args={"deal_id": "30001", "stage": "closedwon"},
            title="crm_update_deal",
            summary="Close the deal",
            reason="writes need approval",
            stages=[StageSpec("sales manager", ("u_raj",), "any")],
            current=current,
            proposed={"stage": "closedwon"},
        )
    )
    return rec.id


def test_the_shipped_policy_sets_slas_by_tool_and_stake(tmp_path: Path) -> None:
    svc, store, clock, _ = _service(tmp_path, Directory.load())
    big = _deal_write(store, "t:big", 250_000)
    small = _deal_write(store, "t:small", 12_000)
    try:
        assert svc.stage_sla(store.get(big)) == dt.timedelta(hours=8)
        assert svc.stage_sla(store.get(small)) == dt.timedelta(hours=48)
        clock.now += dt.timedelta(hours=9)
        assert svc.tick().reminded == (big,)  # the big deal waited past its 8 h; the small one did not
        clock.now += dt.timedelta(hours=8)
        assert svc.tick().escalated == (big,)  # twice the SLA: up a level
        assert small not in svc.tick().reminded
    finally:
        store.engine.dispose()


def test_a_reminder_to_an_away_approver_reaches_their_delegate(tmp_path: Path) -> None:
    raw = (ROOT / "policies" / "directory.yaml").read_text()
    line = next(x for x in raw.splitlines() if "{id: u_raj," in x)
    away = line.replace("{id: u_raj,", "{id: u_raj, away_until: 2026-12-31, delegate: u_omar,")
    path = tmp_path / "directory.yaml"
    path.write_text(raw.replace(line, away))
    svc, store, clock, notifier = _service(tmp_path, Directory.load(path))
    approval_id = _deal_write(store, "t:away", 250_000)
    try:
        clock.now += dt.timedelta(hours=9)
        assert svc.tick().reminded == (approval_id,)
        rec = store.get(approval_id)
        assert rec.stages[0].approvers == ("u_raj", "u_omar")  # Omar stands in for Raj
        assert "u_omar" in rec.approvers_now()
        events = [e.event for e in svc.audit.entries(approval_id=approval_id)]
        assert "request_delegated" in events
        (reminded,) = [v for k, v in notifier.events if k == "reminder"]
        assert "u_omar" in reminded.stages[0].approvers  # the reminder's cards go to him too
        assert store.decide(approval_id, approver_id="u_omar", approve=True).accepted
    finally:
        store.engine.dispose()


def test_bad_write_sla_entries_name_the_file_and_key() -> None:
    with pytest.raises(PolicyFileError, match=r"access.yaml: write_sla.tools.send_message\[0\].hours"):
        WriteSla.from_raw({"tools": {"send_message": [{"hours": 0}]}}, "access.yaml")
    with pytest.raises(PolicyFileError, match="unknown keys"):
        WriteSla.from_raw({"default": 4}, "access.yaml")
    rules = WriteSla.from_raw({"tools": {"t": [{"hours": 24}, {"min_amount_usd": 1000, "hours": 2}]}}, "access.yaml")
    assert rules.hours_for("t", 5000) == 2 and rules.hours_for("t", 10) == 24  # order-independent
    assert stake_usd({"amount": "12,500"}, {"amount_usd": 900}) == 12_500
