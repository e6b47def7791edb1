"""The approval store: every transition a compare-and-set inside a transaction."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, and_, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from connectors.appdb._schema import approval_decisions, approvals
from connectors.appdb.approvals.records import (
    ApprovalRecord,
    ClaimResult,
    DecideResult,
    NewApproval,
    StageSpec,
    Status,
    Vote,
    _aware,
    _record,
    canonical_json,
    expiry,
    now_utc,
    payload_hash,
)
from connectors.errors import ConflictError, RecordNotFound


class ApprovalStore:
    """The one approval engine: agent writes and business requests both live here."""

    def __init__(self, engine: Engine, *, lease: timedelta = timedelta(minutes=5), clock: Any = now_utc) -> None:
        self.engine = engine
        self.lease = lease
        self._clock = clock
        # Called inside the transaction of every state change with (connection, record after
        # the change, event), so what follows from it (the outbox's notification rows) commits
        # or rolls back with it. Events: requested, approved (auto), decided, withdrawn, stale,
        # expired, escalated, reminder, executed, failed.
        self.on_change: Callable[[Connection, ApprovalRecord, str], None] | None = None

    def _changed(self, c: Connection, rec: ApprovalRecord, event: str) -> ApprovalRecord:
        if self.on_change is not None:
            self.on_change(c, rec, event)
        return rec

    @property
    def clock(self) -> Any:
        """The store's time source (``() -> aware datetime``); SLA checks must use the same one."""
        return self._clock

    def use_clock(self, clock: Any) -> None:
        """Replace the time source, e.g. a travelling clock in evals (stage timers, expiry)."""
        self._clock = clock

    # -- reads -------------------------------------------------------------------------------

    def get(self, approval_id: str) -> ApprovalRecord:
        with self.engine.connect() as c:
            return self._get(c, approval_id)

    def find_by_dedupe_key(self, key: str) -> ApprovalRecord | None:
        with self.engine.connect() as c:
            row = c.execute(select(approvals).where(approvals.c.dedupe_key == key)).mappings().first()
            return _record(row, self._votes(c, row["id"])) if row else None

    def list(
        self,
        *,
        status: str | Sequence[str] | None = None,
        requester_id: str | None = None,
        thread_id: str | None = None,
        kind: str | None = None,
        limit: int = 200,
    ) -> builtins.list[ApprovalRecord]:
        q = select(approvals).order_by(approvals.c.created_at.desc()).limit(limit)
        if status is not None:
            q = q.where(approvals.c.status.in_([status] if isinstance(status, str) else list(status)))
        if requester_id is not None:
            q = q.where(approvals.c.requester_id == requester_id)
        if thread_id is not None:
            q = q.where(approvals.c.thread_id == thread_id)
        if kind is not None:
            q = q.where(approvals.c.kind == kind)
        with self.engine.connect() as c:
            rows = c.execute(q).mappings().all()
            return [_record(r, self._votes(c, r["id"])) for r in rows]

    def pending_for(self, approver_id: str) -> builtins.list[ApprovalRecord]:
        return [r for r in self.list(status="pending") if approver_id in r.approvers_now()]

    def _get(self, c: Connection, approval_id: str) -> ApprovalRecord:
        row = c.execute(select(approvals).where(approvals.c.id == approval_id)).mappings().first()
        if row is None:
            raise RecordNotFound(f"approval {approval_id!r} not found")
        return _record(row, self._votes(c, approval_id))

    def _votes(self, c: Connection, approval_id: str) -> builtins.list[Vote]:
        rows = c.execute(
            select(approval_decisions)
            .where(approval_decisions.c.approval_id == approval_id)
            .order_by(approval_decisions.c.id)
        ).mappings()
        return [Vote(r["stage"], r["approver_id"], r["decision"], r["reason"], _aware(r["at"])) for r in rows]  # type: ignore[arg-type]

    # -- create --------------------------------------------------------------------------------

    def create(self, new: NewApproval) -> tuple[ApprovalRecord, bool]:
        """Create the request, or return the existing one with the same dedupe key.

        Returns ``(record, created)``.
        """
        if not new.stages and new.auto_approved_by is None:
            raise ValueError("an approval needs at least one stage (or an auto-approval)")
        if new.auto_approved_by is not None and new.taint.tainted:
            raise ValueError("a request built from untrusted content is never auto-approved")
        for s in new.stages:
            if not s.approvers:
                raise ValueError(f"stage {s.name!r} has no approvers")
        now = self._clock()
        approval_id = "apr_" + uuid.uuid4().hex[:20]
        status: Status = "approved" if new.auto_approved_by else "pending"
        values = {
            "id": approval_id,
            "dedupe_key": new.dedupe_key,
            "kind": new.kind,
            "thread_id": new.thread_id,
            "requester_id": new.requester_id,
            "action": new.action,
            "args_json": canonical_json(dict(new.args)),
            "target_version": new.target_version,
            "payload_hash": payload_hash(new.action, new.args, new.target_version),
            "title": new.title,
            "summary": new.summary,
            "reason": new.reason,
            "current_json": canonical_json(dict(new.current)),
            "proposed_json": canonical_json(dict(new.proposed)),
            "stages_json": canonical_json([s.to_json() for s in new.stages]),
            "current_stage": len(new.stages) if new.auto_approved_by else 0,
            "status": status,
            "flags_json": canonical_json(list(new.flags)),
            "untrusted_sources_json": canonical_json(list(new.taint.sources)),
            "tainted_args_json": canonical_json(list(new.taint.fields)),
            "injection_score": float(new.taint.injection_score),
            "request_json": canonical_json(dict(new.request)) if new.request is not None else None,
            "created_at": now,
            "updated_at": now,
            "stage_started_at": now,
            "expires_at": expiry(now, new.ttl),
            "decided_at": now if new.auto_approved_by else None,
            "decided_by": new.auto_approved_by,
            "reminders": 0,
            "version": 0,
            "idempotency_key": "chamberlain-" + approval_id,
            "attempts": 0,
        }
        try:
            with self.engine.begin() as c:
                c.execute(insert(approvals).values(**values))
                rec = self._get(c, approval_id)
                return self._changed(c, rec, "requested" if status == "pending" else "approved"), True
        except IntegrityError:
            existing = self.find_by_dedupe_key(new.dedupe_key)
            if existing is None:
                raise
            return existing, False

    # -- decide --------------------------------------------------------------------------------

    def decide(self, approval_id: str, *, approver_id: str, approve: bool, reason: str | None = None) -> DecideResult:
        """Record one approver's vote; advance, approve or reject the request."""
        for _attempt in range(8):
            try:
                return self._decide_once(approval_id, approver_id, approve, reason)
            except _LostRace:
                continue
        raise ConflictError(f"approval {approval_id}: too much contention deciding; try again")

    def _decide_once(self, approval_id: str, approver_id: str, approve: bool, reason: str | None) -> DecideResult:
        now = self._clock()
        with self.engine.begin() as c:
            rec = self._get(c, approval_id)
            if rec.status != "pending":
                return DecideResult(False, f"This request is already {rec.status}.", rec)
            if rec.expired(now):
                return DecideResult(False, "This request has expired.", rec)
            if approver_id == rec.requester_id:
                return DecideResult(False, "You cannot approve or reject your own request.", rec)
            stage = rec.stage
            assert stage is not None
            if approver_id not in stage.approvers:
                return DecideResult(
                    False,
                    f"You are not an approver for the current stage ({stage.name}) of this request.",
                    rec,
                )
            if any(v.stage == rec.current_stage and v.approver_id == approver_id for v in rec.votes):
                return DecideResult(False, "You have already decided on this stage.", rec)
            if any(v.stage < rec.current_stage and v.approver_id == approver_id for v in rec.votes):
                # Separation of duties, enforced where the vote is stored: the route may have been
                # escalated since it was resolved, and escalation must not let anyone in twice.
                return DecideResult(
                    False,
                    "You already decided an earlier stage of this request; one person decides at most one stage.",
                    rec,
                )
            try:
                with c.begin_nested():
                    c.execute(
                        insert(approval_decisions).values(
                            approval_id=approval_id,
                            stage=rec.current_stage,
                            approver_id=approver_id,
                            decision="approve" if approve else "reject",
                            reason=reason,
                            at=now,
                        )
                    )
            except IntegrityError:
                return DecideResult(False, "You have already decided on this stage.", self._get(c, approval_id))

            changes: dict[str, Any] = {"updated_at": now, "version": rec.version + 1}
            final = False
            if not approve:
                changes.update(status="rejected", decided_at=now, decided_by=approver_id, decision_reason=reason)
                final = True
                message = "Rejected."
            else:
                approvals_here = {
                    v.approver_id for v in rec.votes if v.stage == rec.current_stage and v.decision == "approve"
                } | {approver_id}
                stage_done = stage.mode == "any" or set(stage.approvers) <= approvals_here
                if not stage_done:
                    message = f"Approval recorded; stage {stage.name} still needs the others."
                elif rec.current_stage + 1 < len(rec.stages):
                    nxt = rec.stages[rec.current_stage + 1]
                    changes.update(current_stage=rec.current_stage + 1, stage_started_at=now, reminders=0)
                    # Stage names can be words ("it", "finance"): quote them and name who decides next.
                    message = f"Approved stage “{stage.name}”; next: stage “{nxt.name}” ({', '.join(nxt.approvers)})."
                else:
                    changes.update(
                        status="approved",
                        current_stage=len(rec.stages),
                        decided_at=now,
                        decided_by=approver_id,
                        decision_reason=reason,
                    )
                    final = True
                    message = "Approved."
            res = c.execute(
                update(approvals)
                .where(and_(approvals.c.id == approval_id, approvals.c.version == rec.version))
                .values(**changes)
            )
            if res.rowcount != 1:
                raise _LostRace()
            return DecideResult(True, message, self._changed(c, self._get(c, approval_id), "decided"), final)

    # -- lifecycle -----------------------------------------------------------------------------

    def _transition(
        self, approval_id: str, *, from_status: Sequence[str], to_status: Status, **values: Any
    ) -> ApprovalRecord | None:
        """CAS one transition; returns the new record, or None if the status did not allow it."""
        now = self._clock()
        with self.engine.begin() as c:
            rec = self._get(c, approval_id)
            if rec.status not in from_status:
                return None
            res = c.execute(
                update(approvals)
                .where(and_(approvals.c.id == approval_id, approvals.c.version == rec.version))
                .values(status=to_status, updated_at=now, version=rec.version + 1, **values)
            )
            if res.rowcount != 1:
                return None
            return self._changed(c, self._get(c, approval_id), to_status)

    def withdraw(self, approval_id: str, *, by: str, reason: str | None = None) -> ApprovalRecord | None:
        rec = self.get(approval_id)
        if rec.requester_id != by:
            raise PermissionError("only the requester can withdraw a request")
        return self._transition(
            approval_id,
            from_status=("pending",),
            to_status="withdrawn",
            decided_at=self._clock(),
            decided_by=by,
            decision_reason=reason,
        )

    def mark_stale(self, approval_id: str, reason: str) -> ApprovalRecord | None:
        return self._transition(
            approval_id, from_status=("pending", "approved"), to_status="stale", decision_reason=reason
        )

    def refuse(self, approval_id: str, reason: str) -> ApprovalRecord | None:
        """An approved request the execution-time checks refuse (e.g. the requester may no longer
        change the target): approved → rejected by policy, nothing executed."""
        return self._transition(
            approval_id,
            from_status=("approved",),
            to_status="rejected",
            decided_at=self._clock(),
            decided_by="policy:execution-check",
            decision_reason=reason,
        )

    def retry(self, approval_id: str) -> ApprovalRecord | None:
        """An operator retries a failed execution: failed → approved (the same idempotency key, so
        whatever the failed attempt did is found, not repeated). None unless it had failed."""
        return self._transition(approval_id, from_status=("failed",), to_status="approved")

    def expire_due(self) -> builtins.list[ApprovalRecord]:
        now = self._clock()
        with self.engine.connect() as c:
            ids = (
                c.execute(
                    select(approvals.c.id).where(
                        and_(
                            approvals.c.status == "pending",
                            approvals.c.expires_at.is_not(None),
                            approvals.c.expires_at <= now,
                        )
                    )
                )
                .scalars()
                .all()
            )
        out: builtins.list[ApprovalRecord] = []
        for i in ids:
            rec = self._transition(
                i, from_status=("pending",), to_status="expired", decided_at=now, decided_by="system:expiry"
            )
            if rec is not None:
                out.append(rec)
        return out

    def expire(self, approval_id: str) -> ApprovalRecord | None:
        """Expire one pending request whose deadline has passed; None if not pending or not due."""
        now = self._clock()
        rec = self.get(approval_id)
        if not rec.expired(now):
            return None
        return self._transition(
            approval_id, from_status=("pending",), to_status="expired", decided_at=now, decided_by="system:expiry"
        )

    def overdue(self, sla: timedelta) -> builtins.list[ApprovalRecord]:
        """Pending requests whose current stage has waited longer than ``sla``."""
        cutoff = self._clock() - sla
        with self.engine.connect() as c:
            rows = (
                c.execute(
                    select(approvals).where(
                        and_(approvals.c.status == "pending", approvals.c.stage_started_at <= cutoff)
                    )
                )
                .mappings()
                .all()
            )
            return [_record(r, self._votes(c, r["id"])) for r in rows]

    def escalate(self, approval_id: str, *, add_approvers: Sequence[str], seen_version: int) -> ApprovalRecord | None:
        """Add approvers (the next level up) to the current stage; restarts its SLA clock."""
        now = self._clock()
        with self.engine.begin() as c:
            rec = self._get(c, approval_id)
            if rec.status != "pending" or rec.version != seen_version or rec.stage is None:
                return None
            stages = list(rec.stages)
            cur = stages[rec.current_stage]
            merged = tuple(dict.fromkeys([*cur.approvers, *add_approvers]))
            stages[rec.current_stage] = StageSpec(
                cur.name, merged, "any" if cur.mode == "any" else cur.mode, cur.reason
            )
            res = c.execute(
                update(approvals)
                .where(and_(approvals.c.id == approval_id, approvals.c.version == rec.version))
                .values(
                    stages_json=canonical_json([s.to_json() for s in stages]),
                    stage_started_at=now,
                    reminders=rec.reminders + 1,
                    updated_at=now,
                    version=rec.version + 1,
                )
            )
            return self._changed(c, self._get(c, approval_id), "escalated") if res.rowcount == 1 else None

    def note_reminder(self, approval_id: str, *, seen_version: int) -> ApprovalRecord | None:
        now = self._clock()
        with self.engine.begin() as c:
            rec = self._get(c, approval_id)
            res = c.execute(
                update(approvals)
                .where(and_(approvals.c.id == approval_id, approvals.c.version == seen_version))
                .values(reminders=rec.reminders + 1, updated_at=now, version=rec.version + 1)
            )
            return self._changed(c, self._get(c, approval_id), "reminder") if res.rowcount == 1 else None

    # -- execution -----------------------------------------------------------------------------

    def claim(self, approval_id: str, *, payload_hash_now: str) -> ClaimResult:
        """Claim an approved request for execution (approved → executing), exactly once.

        A request stuck in ``executing`` longer than the lease (its worker crashed) can be
        re-claimed; the executor must then rely on the request's idempotency key.
        """
        now = self._clock()
        with self.engine.begin() as c:
            rec = self._get(c, approval_id)
            if rec.payload_hash != payload_hash_now:
                return ClaimResult("hash_mismatch", rec)
            if rec.status in ("executed", "failed"):
                return ClaimResult("done", rec)
            if rec.status == "executing":
                if rec.claimed_at is not None and rec.claimed_at > now - self.lease:
                    return ClaimResult("in_progress", rec)
                outcome: Literal["claimed", "reclaimed"] = "reclaimed"
            elif rec.status == "approved":
                outcome = "claimed"
            else:
                return ClaimResult("not_approved", rec)
            res = c.execute(
                update(approvals)
                .where(and_(approvals.c.id == approval_id, approvals.c.version == rec.version))
                .values(
                    status="executing",
                    claimed_at=now,
                    attempts=rec.attempts + 1,
                    updated_at=now,
                    version=rec.version + 1,
                )
            )
            if res.rowcount != 1:
                return ClaimResult("in_progress", self._get(c, approval_id))
            return ClaimResult(outcome, self._get(c, approval_id))

    def complete(self, approval_id: str, *, ok: bool, result: Any) -> ApprovalRecord:
        now = self._clock()
        with self.engine.begin() as c:
            rec = self._get(c, approval_id)
            if rec.status != "executing":
                raise ConflictError(f"approval {approval_id} is {rec.status}, not executing")
            c.execute(
                update(approvals)
                .where(and_(approvals.c.id == approval_id, approvals.c.version == rec.version))
                .values(
                    status="executed" if ok else "failed",
                    executed_at=now,
                    result_json=canonical_json(result),
                    updated_at=now,
                    version=rec.version + 1,
                )
            )
            return self._changed(c, self._get(c, approval_id), "executed" if ok else "failed")

    def stats_rows(self, since: datetime | None = None) -> builtins.list[ApprovalRecord]:
        q = select(approvals)
        if since is not None:
            q = q.where(approvals.c.created_at >= since)
        with self.engine.connect() as c:
            return [_record(r) for r in c.execute(q).mappings().all()]


class _LostRace(Exception):
    """Another writer changed the row between our read and our update; retry."""
