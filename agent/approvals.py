"""The one approval lifecycle, for the agent's writes and business requests alike::

    propose → gate → route → decide → claim → execute → record

- **propose**: the gate (agent/graph/gate.py) or the workflow layer (agent/workflows/service.py) builds a
  :class:`Proposal`: the exact action and arguments, the target's version, the route (resolved by
  policies/approvers.py), and the taint of what it was built from. :meth:`Lifecycle.propose`
  stores it (idempotent on its dedupe key), audits it and tells the approvers. A proposal built
  from untrusted content is never auto-approved.
- **decide**: :meth:`Lifecycle.decide` records one approver's vote (compare-and-set in the
  store; the requester never votes, one person decides at most one stage).
- **claim / execute / record**: :meth:`Lifecycle.execute` is the only executor. It re-checks
  the target (its version, and the requester's right to change it) *before* claiming; a changed
  target is never overwritten: the approval goes stale and, for business requests, a fresh
  request is routed on the current values with the reason on its card. Then it claims the
  approval (approved → executing, bound to the payload hash, with a lease), runs the action's
  :class:`Effect` with the approval's idempotency key, and records executed or failed. A failed
  execution stays visible and can be retried by an operator (:meth:`Lifecycle.retry`).

Effects are looked up by the approval's ``action``: a business request's follow-up
(``record_expense``, ``apply_deal_discount``, ...) registered by the workflow layer, or an agent
write tool of that name from the tool registry.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from agent.notify import Notifier, NullNotifier
from agent.views import approval_view
from connectors.appdb import ApprovalRecord, ApprovalStore, AuditLog, NewApproval, payload_hash
from connectors.appdb.approvals import AGENT_KIND, DecideResult, Taint
from connectors.errors import ConnectorError, ConnectorUnavailable
from policies.directory import Directory
from policies.errors import PolicyError
from tools.base import Tool, ToolContext, ToolRegistry
from tools.errors import ToolFailure, ToolInputError

# -- what a proposal carries -----------------------------------------------------------------


#: What the gate, a person's direct call and the workflow layer propose: one concept with one
#: home, the record the store takes (connectors/appdb/approvals/records.py). ``Taint`` says what
#: untrusted content it was built from.
Proposal = NewApproval


# -- effects ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """An execution-time check that failed: ``stale`` (the target changed since approval: route
    again) or ``refused`` (the requester may not make this change: nothing runs)."""

    kind: Literal["stale", "refused"]
    reason: str


class Effect(Protocol):
    """What an approved action does. ``check`` reads the target (no side effects) and says why
    it must not run now; ``run`` does it, using ``idempotency_key`` for every outside write so a
    retry after a crash finds what the first attempt did."""

    def check(self, rec: ApprovalRecord) -> Check | None: ...

    def run(self, rec: ApprovalRecord, idempotency_key: str) -> Any: ...


class Rerouter(Protocol):
    """An effect that can route a stale request again on the target's current values."""

    def reroute(self, rec: ApprovalRecord, reason: str) -> Proposal | None: ...


class EffectFailed(Exception):
    """An effect could not be applied; nothing was changed (``retryable``: try again later)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass
class ToolEffect:
    """An agent write tool as an effect: re-planned before it runs (the target's version must
    still be the one approved), run as the requester with the approval's idempotency key."""

    tool: Tool[Any, Any]
    directory: Directory
    artifacts_dir: Path | None = None

    def _ctx(self, rec: ApprovalRecord, key: str | None = None) -> ToolContext:
        return ToolContext(
            principal=self.directory.get(rec.requester_id),
            thread_id=rec.thread_id or "",
            idempotency_key=key,
            artifacts_dir=self.artifacts_dir,
        )

    def check(self, rec: ApprovalRecord) -> Check | None:
        if self.tool.plan is None:
            return None
        try:
            plan = self.tool.plan(self.tool.parse_args(dict(rec.args)), self._ctx(rec))
        except ToolInputError as exc:
            return Check("refused", str(exc))
        except ToolFailure as exc:
            if exc.retryable:
                raise EffectFailed(str(exc), retryable=True) from exc
            return Check("refused", str(exc))
        if plan.target_version != rec.target_version:
            return Check("stale", f"{plan.target} changed after it was approved")
        return None

    def run(self, rec: ApprovalRecord, idempotency_key: str) -> Any:
        try:
            result = self.tool.fn(self.tool.parse_args(dict(rec.args)), self._ctx(rec, idempotency_key))
        except ToolFailure as exc:
            raise EffectFailed(str(exc), retryable=exc.retryable) from exc
        except (ToolInputError, ConnectorError) as exc:
            raise EffectFailed(str(exc), retryable=isinstance(exc, ConnectorUnavailable)) from exc
        return result.model_dump(mode="json") if hasattr(result, "model_dump") else result


# -- results ----------------------------------------------------------------------------------

Outcome = Literal["executed", "failed", "in_progress", "stale", "refused", "not_approved", "hash_mismatch", "not_yet"]


@dataclass(frozen=True)
class Execution:
    outcome: Outcome
    record: ApprovalRecord
    message: str  # one line for people; never the effect's result payload
    rerouted: ApprovalRecord | None = None  # the fresh request a stale one was routed as

    @property
    def done(self) -> bool:
        return self.outcome in ("executed", "failed")


# -- the lifecycle ----------------------------------------------------------------------------


class Lifecycle:
    """Propose, decide and execute approvals on one store; the only executor of approved work."""

    def __init__(
        self,
        store: ApprovalStore,
        audit: AuditLog,
        directory: Directory,
        notifier: Notifier | None = None,
        *,
        registry: ToolRegistry | None = None,
        artifacts_dir: Path | None = None,
        wait_s: float = 10.0,
    ) -> None:
        self.store = store
        self.audit = audit
        self.directory = directory
        self.notifier: Notifier = notifier or NullNotifier()
        self.registry = registry
        self.artifacts_dir = artifacts_dir
        self.wait_s = wait_s
        self._effects: dict[str, Effect] = {}

    # -- effects

    def register(self, action: str, effect: Effect) -> None:
        self._effects[action] = effect

    def effect_for(self, action: str) -> Effect | None:
        if action in self._effects:
            return self._effects[action]
        tool = self.registry.get(action) if self.registry is not None else None
        if tool is not None and tool.effect.value == "write":
            return ToolEffect(tool, self.directory, self.artifacts_dir)
        return None

    # -- propose

    def propose(self, p: Proposal) -> tuple[ApprovalRecord, bool]:
        """Store a proposal (or find the one with its dedupe key); audit and notify once."""
        auto = p.auto_approved_by if not p.taint.tainted else None
        if p.auto_approved_by and auto is None:  # the caller should have routed it to people
            raise PolicyError("a request built from untrusted content cannot be auto-approved")
        # The store refuses an auto-approved tainted proposal too; here it is a policy error first.
        rec, created = self.store.create(p)
        if not created:
            return rec, False
        self.audit.append(
            "approval_requested",
            actor=p.requester_id,
            thread_id=p.thread_id,
            approval_id=rec.id,
            data={
                "kind": p.kind,
                "action": p.action,
                "stages": [s.to_json() for s in rec.stages],
                "auto_approved_by": auto,
                "tainted": p.taint.tainted,
                "tainted_fields": list(p.taint.fields),
                "flags": list(p.flags),
            },
        )
        if rec.status == "pending":
            self.notifier.approval_requested(approval_view(rec, self.directory))
        return rec, True

    # -- decide

    def decide(self, approval_id: str, *, approver_id: str, approve: bool, reason: str | None = None) -> DecideResult:
        self.directory.get(approver_id)
        res = self.store.decide(approval_id, approver_id=approver_id, approve=approve, reason=reason)
        self.audit.append(
            "approval_decision" if res.accepted else "approval_refused",
            actor=approver_id,
            thread_id=res.record.thread_id,
            approval_id=approval_id,
            data={"approve": approve, "reason": reason, "accepted": res.accepted, "message": res.message},
        )
        if res.accepted:
            view = approval_view(res.record, self.directory)
            self.notifier.approval_decided(view)
            if not res.final:
                self.notifier.approval_requested(view)  # the next stage's approvers
        return res

    def settle(
        self, approval_id: str, *, approver_id: str, approve: bool, reason: str | None = None
    ) -> tuple[DecideResult, str]:
        """One approver's decision and what follows from it, without the conversation: once the
        request is approved as a whole it is executed here (the one executor); a rejected
        business request is audited as such. Returns the decision and its outcome ("executed",
        the one-line failure, or the record's status). Every surface decides through this; the
        requester's thread is resumed by the caller (agent/runtime)."""
        res = self.decide(approval_id, approver_id=approver_id, approve=approve, reason=reason)
        outcome: str = res.record.status
        if not res.accepted or not res.final:
            return res, outcome
        if res.record.status == "approved":
            done = self.execute(approval_id)
            outcome = done.message if done.outcome != "executed" else "executed"
        elif res.record.status == "rejected" and res.record.kind != AGENT_KIND:
            self.audit.append(
                "request_rejected",
                actor=approver_id,
                thread_id=res.record.thread_id,
                approval_id=approval_id,
                data={"reason": reason},
            )
        return res, outcome

    # -- execute

    def execute(self, approval_id: str, *, payload_hash_now: str | None = None) -> Execution:
        """Run an approved action exactly once (safe to call twice, concurrently, after a crash).

        ``payload_hash_now``: the hash of the call being executed, when the caller holds one (the
        graph); it must equal the approved one."""
        rec = self.store.get(approval_id)
        if rec.status in ("executed", "failed"):
            return self._done(rec)
        if rec.status in ("pending", "rejected", "expired", "withdrawn", "stale"):
            return Execution("not_approved", rec, f"not executed: the request is {rec.status}")
        effect = self.effect_for(rec.action)
        if effect is None:
            return self._fail_unrunnable(rec, f"no effect is registered for {rec.action!r}")
        expected = payload_hash_now or payload_hash(rec.action, rec.args, rec.target_version)
        if expected != rec.payload_hash:
            self.audit.append(
                "approval_mismatch",
                actor="system",
                thread_id=rec.thread_id,
                approval_id=rec.id,
                data={"action": rec.action},
            )
            return Execution("hash_mismatch", rec, "not executed: the call differs from what was approved")
        if rec.status == "approved":
            try:
                check = effect.check(rec)
            except (EffectFailed, ConnectorError) as exc:
                return Execution("not_yet", rec, f"not executed yet: {exc}; the approval still stands")
            if check is not None:
                return self._checked(rec, effect, check)
        claim = self.store.claim(rec.id, payload_hash_now=expected)
        if claim.outcome == "hash_mismatch":
            return Execution("hash_mismatch", claim.record, "not executed: the call differs from what was approved")
        if claim.outcome == "done":
            return self._done(claim.record)
        if claim.outcome == "not_approved":
            return Execution("not_approved", claim.record, f"not executed: the request is {claim.record.status}")
        if claim.outcome == "in_progress":
            waited = self._wait(rec.id)
            if waited.status in ("executed", "failed"):
                return self._done(waited)
            return Execution("in_progress", waited, "being executed by another worker; its result will follow")
        rec = claim.record
        try:
            result = effect.run(rec, rec.idempotency_key)
        except (EffectFailed, ConnectorError, PolicyError, ValueError) as exc:
            retryable = getattr(exc, "retryable", isinstance(exc, ConnectorUnavailable))
            done = self.store.complete(rec.id, ok=False, result={"error": str(exc), "retryable": retryable})
            self.audit.append(
                "write_failed",
                actor="system",
                thread_id=rec.thread_id,
                approval_id=rec.id,
                data={**_tool_of(rec), "action": rec.action, "error": str(exc), "attempt": rec.attempts},
            )
            self.notifier.approval_decided(approval_view(done, self.directory))
            return self._done(done)
        done = self.store.complete(rec.id, ok=True, result=result)
        self.audit.append(
            "write_executed",
            actor=rec.requester_id,
            thread_id=rec.thread_id,
            approval_id=rec.id,
            data={
                **_tool_of(rec),
                "action": rec.action,
                "args": dict(rec.args),
                "approved_by": rec.decided_by,
                "attempt": done.attempts,
            },
        )
        self.notifier.approval_decided(approval_view(done, self.directory))
        return self._done(done)

    def retry(self, approval_id: str, *, operator_id: str) -> Execution:
        """An operator retries a failed execution (same payload, same idempotency key)."""
        operator = self.directory.get(operator_id)
        rec = self.store.get(approval_id)
        involved = {rec.requester_id, *(a for s in rec.stages for a in s.approvers)}
        if operator.id not in involved and not operator.has_role("it_admin"):
            raise PermissionError("only the requester, the request's approvers or an IT admin may retry it")
        if rec.status != "failed":
            return Execution("not_approved", rec, f"nothing to retry: the request is {rec.status}")
        again = self.store.retry(approval_id)
        if again is None:
            return Execution("in_progress", self.store.get(approval_id), "someone else is retrying it")
        self.audit.append("execution_retry", actor=operator.id, thread_id=rec.thread_id, approval_id=rec.id)
        return self.execute(approval_id)

    def finish_pending_work(self, *, kinds: Sequence[str] | None = None) -> list[Execution]:
        """Execute every approved request not yet run, and re-claim executions whose worker died
        (their lease lapsed). Run by the sweeper after a restart."""
        out = []
        for rec in self.store.list(status=("approved", "executing"), limit=10_000):
            if kinds is not None and rec.kind not in kinds:
                continue
            out.append(self.execute(rec.id))
        return out

    # -- internals

    def _checked(self, rec: ApprovalRecord, effect: Effect, check: Check) -> Execution:
        if check.kind == "refused":
            done = self.store.refuse(rec.id, check.reason)
            self.audit.append(
                "execution_refused",
                actor="policy",
                thread_id=rec.thread_id,
                approval_id=rec.id,
                data={"action": rec.action, "reason": check.reason},
            )
            if done is not None:
                self.notifier.approval_decided(approval_view(done, self.directory))
            return Execution("refused", done or self.store.get(rec.id), f"not executed: {check.reason}")
        stale = self.store.mark_stale(rec.id, check.reason)
        self.audit.append(
            "approval_stale",
            actor="system",
            thread_id=rec.thread_id,
            approval_id=rec.id,
            data={**_tool_of(rec), "action": rec.action, "reason": check.reason},
        )
        rerouted = None
        if stale is not None:
            self.notifier.approval_decided(approval_view(stale, self.directory))
            reroute = getattr(effect, "reroute", None)  # a Rerouter: business requests
            if callable(reroute):
                proposal = reroute(stale, check.reason)
                if proposal is not None:
                    rerouted, _ = self.propose(proposal)
                    self.audit.append(
                        "request_rerouted",
                        actor="system",
                        thread_id=rec.thread_id,
                        approval_id=rerouted.id,
                        data={"stale": rec.id, "reason": check.reason},
                    )
        msg = f"not executed: {check.reason}; nothing was overwritten"
        if rerouted is not None:
            msg += f". It was routed again on the current values as {rerouted.id}"
        return Execution("stale", stale or self.store.get(rec.id), msg, rerouted)

    def _fail_unrunnable(self, rec: ApprovalRecord, why: str) -> Execution:
        claim = self.store.claim(rec.id, payload_hash_now=rec.payload_hash)
        if claim.may_execute:
            done = self.store.complete(rec.id, ok=False, result={"error": why, "retryable": True})
            self.audit.append("write_failed", actor="system", approval_id=rec.id, data={"error": why})
            return self._done(done)
        return Execution("not_yet", claim.record, why)

    def _wait(self, approval_id: str) -> ApprovalRecord:
        deadline = time.monotonic() + self.wait_s
        rec = self.store.get(approval_id)
        while rec.status == "executing" and time.monotonic() < deadline:
            time.sleep(0.05)
            rec = self.store.get(approval_id)
        return rec

    @staticmethod
    def _done(rec: ApprovalRecord) -> Execution:
        if rec.status == "executed":
            return Execution("executed", rec, "executed")
        err = str((rec.result or {}).get("error", "unknown error"))
        retry = " (an operator can retry it)" if (rec.result or {}).get("retryable") else ""
        return Execution("failed", rec, f"approved but failed: {err}{retry}")


def _tool_of(rec: ApprovalRecord) -> dict[str, str]:
    """Audit key naming the tool that ran: an agent write's own; a business request's follow-up
    is named by ``action`` only (it ran for the request, not as a tool of its own)."""
    return {"tool": rec.action} if rec.kind == AGENT_KIND else {}


__all__ = [
    "Check",
    "Effect",
    "EffectFailed",
    "Execution",
    "Lifecycle",
    "Proposal",
    "Rerouter",
    "Taint",
    "ToolEffect",
]
