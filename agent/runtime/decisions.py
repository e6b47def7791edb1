"""Decisions without the conversation graph: ``chamberlain approvals approve|reject`` in under a second.

A decision and the write it approves need the store, the lifecycle and the action's effect (the
CRM, the outbox, a business request's follow-up) — not LangGraph or the model stack, which take
seconds to import. :func:`open_decisions` opens exactly that (through the same
:func:`~agent.runtime.lifecycle.wire_lifecycle` as the full runtime), runs the decision and the
write through :meth:`Lifecycle.settle`, and records the requester's conversation as "resume
pending" in the durable queue (connectors/appdb/resumes.py). Whoever has the graph continues it,
exactly once: the detached ``chamberlain resume --queued`` the CLI starts, a server's sweeper,
the requester's next ``ask`` on that thread, or ``chamberlain resume``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from agent.events import DecisionResult, Event
from agent.runtime.lifecycle import LifecycleParts, wire_lifecycle
from agent.runtime.services import (
    Services,
    build_registry,
    open_crm,
    open_warehouse,
    outbox_notifications_on,
)
from agent.settings import Settings
from agent.views import approval_view
from connectors.appdb import ApprovalStore, make_engine
from connectors.appdb.approvals import AGENT_KIND
from policies.directory import Directory
from tools.base import Tool, ToolRegistry

if TYPE_CHECKING:
    from connectors.crm import CrmConnector


@dataclass
class Decisions:
    """Decide, retry and read approvals on the lifecycle alone; conversations are queued, not run."""

    parts: LifecycleParts
    directory: Directory

    @property
    def approvals(self) -> ApprovalStore:
        return self.parts.store

    def decide(
        self,
        approval_id: str,
        *,
        approver_id: str,
        approve: bool,
        reason: str | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> DecisionResult:
        """Record the decision and, once approved as a whole, run the write (exactly once, by the
        lifecycle). A conversation waiting on it is queued for a resumer (``resume_queued``)."""
        res, outcome = self.parts.lifecycle.settle(approval_id, approver_id=approver_id, approve=approve, reason=reason)
        if not res.accepted or not res.final:
            return DecisionResult(approval_view(res.record, self.directory), res.accepted, res.message, False, outcome)
        queued = self._queue(res.record.thread_id, res.record.kind)
        view = approval_view(self.parts.store.get(approval_id), self.directory)
        return DecisionResult(view, True, res.message, True, outcome=outcome, resume_queued=queued)

    def retry(self, approval_id: str, *, operator_id: str) -> DecisionResult:
        done = self.parts.lifecycle.retry(approval_id, operator_id=operator_id)
        queued = None
        if done.outcome in ("executed", "failed"):
            queued = self._queue(done.record.thread_id, done.record.kind)
        view = approval_view(self.parts.store.get(approval_id), self.directory)
        ok = done.outcome == "executed"
        return DecisionResult(view, ok, done.message, True, outcome=done.message, resume_queued=queued)

    def _queue(self, thread_id: str | None, kind: str) -> str | None:
        # Only the agent's own writes hold a conversation waiting at the approval (the graph's
        # interrupt); a business request filed from a chat did not stop its conversation.
        if not thread_id or kind != AGENT_KIND:
            return None
        self.parts.resumes.request(thread_id)
        return thread_id


class _OnDemandRegistry(ToolRegistry):
    """The write tools, opened (CRM, warehouse, outbox) the first time an effect is looked up:
    a rejection, a stage that is not the last, or a business request's follow-up needs none."""

    def __init__(self, build: Callable[[], ToolRegistry]) -> None:
        self._build = build
        self._built: dict[str, Tool[Any, Any]] | None = None

    @property
    def _tools(self) -> dict[str, Tool[Any, Any]]:
        if self._built is None:
            self._built = dict(self._build()._tools)
        return self._built

    @_tools.setter
    def _tools(self, value: dict[str, Tool[Any, Any]]) -> None:
        self._built = value


class _OnDemandCrm:
    """The CRM for business follow-ups (discounts), opened on first use."""

    def __init__(self, open_: Callable[[], CrmConnector]) -> None:
        self._open = open_

    def __getattr__(self, name: str) -> Any:
        return getattr(self._open(), name)


@contextlib.contextmanager
def open_decisions(settings: Settings, *, directory: Directory | None = None) -> Iterator[Decisions]:
    """The lifecycle with every configured write effect, and no graph or model; closed on exit.
    The connectors behind the effects open only when an approved action needs them.
    ``directory``: the settings' directory, when the caller has loaded it already."""
    services = Services(directory=directory or Directory.load(settings.directory_path))
    lock = threading.Lock()

    def crm() -> CrmConnector:
        with lock:
            if services.crm is None:
                services.crm = open_crm(settings, services)
            return services.crm

    def registry() -> ToolRegistry:
        crm()
        with lock:
            services.warehouse = services.warehouse or open_warehouse(settings, services)  # reports are writes
            # The document index stays closed: its tools only read, and reads are never approved.
            return build_registry(settings, services)

    try:
        services.engine = make_engine(settings.resolved_database_url)
        services.closers.append(services.engine.dispose)
        from connectors.outbox import SqlOutbox

        services.outbox = SqlOutbox(services.engine)
        on_change = None
        if outbox_notifications_on(settings):
            from agent.notify import notification_hook

            on_change = notification_hook(services.outbox)
        parts = wire_lifecycle(
            settings,
            engine=services.engine,
            directory=services.directory,
            registry=_OnDemandRegistry(registry),
            on_change=on_change,
            with_workflows=True,
            workflows_crm=cast("CrmConnector", _OnDemandCrm(crm)),
        )
        services.workflows = parts.workflows
        yield Decisions(parts, services.directory)
    finally:
        services.close()


__all__ = ["Decisions", "open_decisions"]
