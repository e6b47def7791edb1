"""The SLA sweep of pending approvals: expiry, a reminder once a stage has waited its SLA,
escalation to the next level after twice the SLA, delegation to away approvers' delegates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from agent.approvals import Lifecycle
from agent.notify import Notifier
from agent.views import approval_view
from agent.workflows.effects import FOLLOW_UPS
from connectors.appdb import ApprovalRecord, ApprovalStore, AuditLog
from connectors.appdb.approvals import AGENT_KIND
from connectors.appdb.follow_ups import FollowUpStore
from policies.access import AccessPolicy
from policies.approvers import next_level
from policies.directory import Directory


class SweepDesk(Protocol):
    """What the sweep reads of the workflow service (attributes are read when used, so a
    notifier swapped on the service is the one that hears)."""

    store: ApprovalStore
    audit: AuditLog
    directory: Directory
    notifier: Notifier
    access: AccessPolicy
    lifecycle: Lifecycle
    follow_ups: FollowUpStore
    default_sla: dt.timedelta

    def now(self) -> dt.datetime: ...


@dataclass(frozen=True)
class TickReport:
    expired: tuple[str, ...] = ()
    reminded: tuple[str, ...] = ()
    escalated: tuple[str, ...] = ()
    followed_up: tuple[str, ...] = ()  # approved requests whose follow-up ran during the sweep

    def to_json(self) -> dict[str, list[str]]:
        return {k: list(getattr(self, k)) for k in ("expired", "reminded", "escalated", "followed_up")}


def stage_sla(desk: SweepDesk, rec: ApprovalRecord) -> dt.timedelta:
    """The current stage's SLA from the route stored with the request (policy default else);
    an agent write's from ``write_sla`` in the access policy, by tool and stake."""
    if rec.kind == AGENT_KIND:
        from policies.write_sla import stake_usd

        return desk.access.write_sla.sla_for(rec.action, stake_usd(rec.current, rec.proposed, rec.args))
    stages = ((rec.request or {}).get("route") or {}).get("stages") or []
    hours = stages[rec.current_stage].get("sla_hours") if rec.current_stage < len(stages) else None
    return dt.timedelta(hours=hours) if hours else desk.default_sla


def tick(desk: SweepDesk) -> TickReport:
    """Expire requests past their deadline, remind approvers once a stage has waited its SLA,
    escalate to the next level after twice the SLA, and finish follow-ups left behind (a
    crash between approval and follow-up). Every action is audited and notified; running
    it concurrently or repeatedly does each action once."""
    now = desk.now()
    expired: list[str] = []
    reminded: list[str] = []
    escalated: list[str] = []
    for rec in business(desk.store.list(status="pending", limit=10_000)):
        if rec.expired(now):
            done = desk.store.expire(rec.id)
            if done is not None:
                expired.append(rec.id)
                desk.audit.append(
                    "request_expired",
                    actor="system",
                    thread_id=rec.thread_id,
                    approval_id=rec.id,
                    data={
                        "stage": stage_name(rec),
                        "expires_at": rec.expires_at.isoformat() if rec.expires_at else None,
                    },
                )
                desk.notifier.approval_decided(approval_view(done, desk.directory))
            continue
        sla = stage_sla(desk, rec)
        waited = now - rec.stage_started_at
        if waited >= 2 * sla and escalate(desk, rec, sla, waited):
            escalated.append(rec.id)
        elif waited >= sla and remind(desk, rec, sla, waited):
            reminded.append(rec.id)
    # Agent writes get the same reminders and escalation (issue #14); their expiry stays
    # with the runtime (approval_ttl_hours), their SLA comes from write_sla (access.yaml).
    for rec in desk.store.list(status="pending", kind=AGENT_KIND, limit=10_000):
        if rec.expired(now):
            continue
        sla = stage_sla(desk, rec)
        waited = now - rec.stage_started_at
        if waited >= 2 * sla and escalate(desk, rec, sla, waited):
            escalated.append(rec.id)
        elif waited >= sla and remind(desk, rec, sla, waited):
            reminded.append(rec.id)
    # Approved requests whose follow-up never ran (a crash between approval and execution),
    # and executions whose worker died (lease lapsed): the one executor finishes them.
    followed = [e.record.id for e in desk.lifecycle.finish_pending_work(kinds=tuple(FOLLOW_UPS)) if e.done]
    return TickReport(tuple(expired), tuple(reminded), tuple(escalated), tuple(followed))


def escalate(desk: SweepDesk, rec: ApprovalRecord, sla: dt.timedelta, waited: dt.timedelta) -> bool:
    stage = rec.stage
    assert stage is not None
    requester = desk.directory.get(rec.requester_id)
    above = next_level(stage.approvers, requester, desk.directory, today=desk.now().date())
    if not above:  # nobody higher up: keep reminding the stage instead
        return remind(desk, rec, sla, waited)
    done = desk.store.escalate(rec.id, add_approvers=above, seen_version=rec.version)
    if done is None:  # decided or escalated concurrently
        return False
    desk.audit.append(
        "request_escalated",
        actor="system",
        thread_id=rec.thread_id,
        approval_id=rec.id,
        data={
            "stage": stage.name,
            "added_approvers": list(above),
            "sla_hours": sla.total_seconds() / 3600,
            "waited_hours": round(waited.total_seconds() / 3600, 1),
        },
    )
    desk.notifier.approval_reminder(approval_view(done, desk.directory), escalated=True)
    return True


def remind(desk: SweepDesk, rec: ApprovalRecord, sla: dt.timedelta, waited: dt.timedelta) -> bool:
    # The unique row is the lock: exactly one sweep reminds for this stage wait.
    if not desk.follow_ups.claim_reminder(rec.id, rec.current_stage, rec.stage_started_at, desk.now()):
        return False
    done = desk.store.note_reminder(rec.id, seen_version=rec.version)
    if done is None or done.status != "pending":
        return False
    done = delegate_if_away(desk, done)
    stage = rec.stage
    desk.audit.append(
        "request_reminder",
        actor="system",
        thread_id=rec.thread_id,
        approval_id=rec.id,
        data={
            "stage": stage.name if stage else None,
            "approvers": list(rec.approvers_now()),
            "sla_hours": sla.total_seconds() / 3600,
            "waited_hours": round(waited.total_seconds() / 3600, 1),
        },
    )
    desk.notifier.approval_reminder(approval_view(done, desk.directory), escalated=False)
    return True


def delegate_if_away(desk: SweepDesk, rec: ApprovalRecord) -> ApprovalRecord:
    """Delegation honoured by reminders: an away approver's delegate joins the stage and is
    reminded too (agent/workflows/sweeper.py has the rule)."""
    from agent.workflows.sweeper import away_delegates

    delegates = away_delegates(rec, desk.directory, today=desk.now().date())
    if not delegates:
        return rec
    done = desk.store.escalate(rec.id, add_approvers=delegates, seen_version=rec.version)
    if done is None:
        return rec
    desk.audit.append(
        "request_delegated",
        actor="system",
        thread_id=rec.thread_id,
        approval_id=rec.id,
        data={"stage": stage_name(rec), "added_approvers": delegates, "why": "approver away"},
    )
    return done


def business(recs: Sequence[ApprovalRecord]) -> list[ApprovalRecord]:
    """The business requests among ``recs`` (not agent writes, and of a kind with a follow-up)."""
    return [r for r in recs if r.kind != AGENT_KIND and r.kind in FOLLOW_UPS]


def stage_name(rec: ApprovalRecord) -> str | None:
    stage = rec.stages[rec.current_stage] if rec.current_stage < len(rec.stages) else None
    return stage.name if stage else None
