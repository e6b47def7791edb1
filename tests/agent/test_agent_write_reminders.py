"""Agent writes waiting for approval get the business requests' reminders and escalation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from agent.notify import RecordingNotifier
from agent.workflows.service import WorkflowService
from connectors.appdb import ApprovalStore, AuditLog, NewApproval, StageSpec, make_engine
from policies.directory import Directory
from policies.routing import load_default


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def test_a_pending_agent_write_is_reminded_after_the_sla_then_escalated(tmp_path: Path) -> None:
    directory = Directory.load()
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    clock = Clock()
    store = ApprovalStore(engine, clock=clock)
    notifier = RecordingNotifier()
    svc = WorkflowService(store, AuditLog(engine, clock=clock), directory, load_default(directory), notifier)
    rec, _ = store.create(
        NewApproval(
            dedupe_key="t:call1",
            kind="tool_call",
            requester_id="u_alice",
            action="crm_update_deal",
            args={"deal": "30001", "stage": "closedwon"},
            title="crm_update_deal",
            summary="Move Acme renewal to Closed won",
            reason="writes need approval",
            stages=[StageSpec("sales manager", ("u_raj",), "any")],
            ttl=dt.timedelta(days=7),
        )
    )
    try:
        clock.now += dt.timedelta(hours=47)
        assert svc.tick().reminded == ()
        clock.now += dt.timedelta(hours=2)
        assert svc.tick().reminded == (rec.id,)
        assert svc.tick().reminded == ()  # once per stage wait
        clock.now += dt.timedelta(hours=48)
        assert svc.tick().escalated == (rec.id,)
        assert store.get(rec.id).stages[0].approvers == ("u_raj", "u_sofia")  # Raj's manager
        assert [k for k, v in notifier.events if v.id == rec.id] == ["reminder", "escalated"]
    finally:
        engine.dispose()
