"""Approvals as every surface sees them: list, id prefixes, one request's detail, decisions.

A decision goes through a :class:`Decider`: the full runtime (:class:`~agent.runtime.chamberlain.
Chamberlain`, which continues the requester's conversation in-process) or the light
:class:`~agent.runtime.decisions.Decisions` (the CLI: the write runs, the conversation is queued).
Both run the same lifecycle (:meth:`agent.approvals.Lifecycle.settle`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, get_args

from agent.batches import BatchDecision, batch_views, decide_batch, involved
from agent.errors import InvalidInput, PermissionDenied
from agent.events import ApprovalView, Decider, DecisionResult, Event
from agent.notify import Notifier, NullNotifier
from agent.views import approval_view
from connectors.appdb import ApprovalRecord, ApprovalStore, AuditEntry, AuditLog
from connectors.appdb.approvals import Status
from connectors.appdb.id_prefix import resolve_approval_id
from connectors.errors import RecordNotFound
from policies.directory import Directory

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from agent.end_state import EndState


@dataclass(frozen=True)
class ApprovalDetail:
    """One request as a person reads it: what changes, why, the route, and its audit trail."""

    view: ApprovalView
    audit: tuple[AuditEntry, ...]


STATUSES: tuple[str, ...] = get_args(Status)


class ApprovalService:
    """Approvals on one app database; ``decider`` for the actions that change them."""

    def __init__(
        self,
        store: ApprovalStore,
        audit: AuditLog,
        directory: Directory,
        decider: Decider | None = None,
        *,
        notifier: Notifier | None = None,
    ) -> None:
        self.store = store
        self.audit = audit
        self.directory = directory
        self._decider = decider
        self.notifier: Notifier = notifier or NullNotifier()

    @property
    def engine(self) -> Engine:
        return self.store.engine

    # -- reading

    def resolve(self, typed: str) -> str:
        """The full id of what a person typed (any unique prefix); RecordNotFound / AmbiguousId."""
        return resolve_approval_id(self.store.engine, typed.strip())

    def record(self, typed: str) -> ApprovalRecord:
        return self.store.get(self.resolve(typed))

    def list_views(
        self, *, waiting_for: str | None = None, status: str | None = None, limit: int = 500
    ) -> list[ApprovalView]:
        """Requests waiting for ``waiting_for``, or all (of ``status``), newest first."""
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"unknown status {status!r}; use one of: {', '.join(STATUSES)}")
        recs = self.store.pending_for(waiting_for) if waiting_for else self.store.list(status=status, limit=limit)
        return [approval_view(r, self.directory) for r in recs]

    def pending_for(self, approver_id: str) -> list[ApprovalView]:
        """What waits for ``approver_id`` (with end state and batch, as cards show them)."""
        engine = self.store.engine
        return [approval_view(r, self.directory, engine=engine) for r in self.store.pending_for(approver_id)]

    def records(
        self, *, waiting_for: str | None = None, requester_id: str | None = None, limit: int = 300
    ) -> list[ApprovalRecord]:
        """The raw records the web page renders as cards: waiting for ``waiting_for``, asked
        for by ``requester_id``, or all; newest first."""
        if waiting_for is not None:
            return self.store.pending_for(waiting_for)
        return self.store.list(requester_id=requester_id, limit=limit)

    def find_by_dedupe_key(self, key: str) -> ApprovalRecord | None:
        """The request filed under ``key`` (a caller's idempotency key), if any."""
        return self.store.find_by_dedupe_key(key)

    def on_thread(self, thread_id: str, *, limit: int = 100) -> list[ApprovalRecord]:
        """The requests one conversation filed, newest first."""
        return self.store.list(thread_id=thread_id, limit=limit)

    def batch_records(self, batch_id: str) -> list[ApprovalRecord]:
        """The records of ``batch_id`` in the order proposed (empty: no such batch)."""
        return [self.store.get(i) for i in self.batch_ids(batch_id)]

    def now(self) -> datetime:
        """The store's time (stage timers and expiry use the same clock)."""
        now: datetime = self.store.clock()
        return now

    def end_state(self, rec: ApprovalRecord) -> EndState:
        """What became of a decided request (agent/end_state.py): delivery, follow-up, retry."""
        from agent.end_state import app_db_lookups, end_state

        delivery, find_request = app_db_lookups(self.store.engine)
        return end_state(rec, self.directory, delivery=delivery, find_request=find_request)

    def batch_of(self, rec: ApprovalRecord) -> str | None:
        """The batch ``rec`` was proposed in, if any."""
        from agent.batches import batch_of

        return batch_of(self.store.engine, rec.dedupe_key)

    def view(self, typed: str, *, viewer: str | None = None) -> ApprovalView:
        """One request (``viewer``: refused unless they are the requester or an approver)."""
        view = approval_view(self.record(typed), self.directory, engine=self.store.engine)
        if viewer is not None and not involved(view, viewer):
            raise PermissionDenied("only the requester and the route's approvers may see this request")
        return view

    def detail(self, typed: str, *, viewer: str | None = None) -> ApprovalDetail:
        """``approvals show``, ``GET /v1/approvals/{id}``, the web page and the Slack card."""
        view = self.view(typed, viewer=viewer)
        return ApprovalDetail(view, tuple(self.audit.entries(approval_id=view.id)))

    def audit_trail(self, typed: str, *, viewer: str | None = None) -> list[AuditEntry]:
        return list(self.detail(typed, viewer=viewer).audit)

    def batch(self, batch_id: str, *, viewer: str | None = None) -> list[ApprovalView]:
        """The writes proposed together as ``batch_id`` (RecordNotFound when there is none)."""
        views = batch_views(self.store.engine, self.directory, batch_id)
        if not views:
            raise RecordNotFound(
                f"no batch {batch_id!r}; `chamberlain approvals show ID` of one of its requests names its batch"
            )
        if viewer is not None and not any(involved(v, viewer) for v in views):
            raise PermissionDenied("only the requesters and approvers of a batch may see it")
        return views

    def batch_ids(self, batch_id: str) -> list[str]:
        """The approval ids of ``batch_id``, in the order proposed (empty: no such batch)."""
        from connectors.appdb.batches import BatchStore

        return BatchStore(self.store.engine).items(batch_id)

    # -- deciding

    def delegate(self, approval_id: str, *, by: str, to: str) -> ApprovalRecord | None:
        """An approver of the current ("any") stage adds ``to`` beside them; None when the request
        changed meanwhile (compare-and-set on its version). The caller checks that ``to`` fits."""
        rec = self.store.get(approval_id)
        if by not in rec.approvers_now() or rec.stage is None:
            raise PermissionDenied("only an approver of the current stage may delegate it")
        done = self.store.escalate(approval_id, add_approvers=[to], seen_version=rec.version)
        if done is None:
            return None
        self.audit.append(
            "approval_delegated",
            actor=by,
            thread_id=rec.thread_id,
            approval_id=approval_id,
            data={"to": to, "stage": rec.stage.name},
        )
        self.notifier.approval_requested(approval_view(done, self.directory))
        return done

    def _decider_or_fail(self) -> Decider:
        if self._decider is None:
            raise RuntimeError("this ApprovalService was opened read-only (open_service(..., decide=True))")
        return self._decider

    def decide(
        self,
        typed: str,
        *,
        approver_id: str,
        approve: bool,
        reason: str | None = None,
        on_event: Callable[[Event], None] | None = None,
        approvers_only: bool = False,
    ) -> DecisionResult:
        """One approver's decision (any unique id prefix). ``approvers_only``: refuse people off
        the route before anything is recorded (the HTTP API; the lifecycle refuses them too,
        with an audited refusal)."""
        self.directory.get(approver_id)  # UnknownPrincipal before anything is looked up
        full = self.resolve(typed)
        if approvers_only and not involved(self.view(full), approver_id):
            raise PermissionDenied("you are not an approver of this request")
        return self._decider_or_fail().decide(
            full, approver_id=approver_id, approve=approve, reason=reason, on_event=on_event
        )

    def decide_batch(
        self,
        batch_id: str,
        *,
        approver_id: str,
        approve: bool,
        reason: str | None = None,
        only: Sequence[str] | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> BatchDecision:
        self.directory.get(approver_id)
        return decide_batch(
            self._decider_or_fail(),
            batch_id,
            approver_id=approver_id,
            approve=approve,
            reason=reason,
            only=only,
            on_event=on_event,
        )

    def retry(self, typed: str, *, operator_id: str) -> DecisionResult:
        """An operator retries a failed execution (same payload, same idempotency key)."""
        return self._decider_or_fail().retry(self.resolve(typed), operator_id=operator_id)


__all__ = ["STATUSES", "ApprovalDetail", "ApprovalService", "Decider", "involved"]
