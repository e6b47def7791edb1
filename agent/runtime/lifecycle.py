"""Wiring of the approval lifecycle, shared by the full runtime and the light decision path.

``build_runtime`` (agent/runtime/chamberlain.py) and ``open_decisions`` (agent/runtime/decisions.py,
``chamberlain approvals approve`` without LangGraph) build the store, the audit log, the one
:class:`~agent.approvals.Lifecycle` with every effect (the agent's write tools, the business
requests' follow-ups) and the resume queue in exactly one way, here: a write approved from the
CLI runs the same effect, with the same checks, as one approved in Slack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.approvals import Lifecycle
from agent.notify import Notifier, NullNotifier
from agent.settings import Settings
from connectors.appdb import ApprovalStore, AuditLog
from connectors.appdb.resumes import ResumeQueue
from policies.access import AccessPolicy
from policies.directory import Directory
from tools.base import ToolRegistry

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from agent.workflows.service import WorkflowService
    from connectors.appdb import ApprovalRecord
    from connectors.crm import CrmConnector


@dataclass(frozen=True)
class LifecycleParts:
    """What approvals run on: the store, the audit log, the lifecycle, the resume queue."""

    store: ApprovalStore
    audit: AuditLog
    lifecycle: Lifecycle
    access: AccessPolicy
    notifier: Notifier
    resumes: ResumeQueue
    workflows: WorkflowService | None = None


def wire_lifecycle(
    settings: Settings,
    *,
    engine: Engine,
    directory: Directory,
    registry: ToolRegistry,
    notifier: Notifier | None = None,
    on_change: Callable[[Connection, ApprovalRecord, str], None] | None = None,
    with_workflows: bool = False,
    workflows_crm: CrmConnector | None = None,
) -> LifecycleParts:
    """The lifecycle on ``engine`` with the registry's write tools and, ``with_workflows``, the
    business requests' follow-ups (which read and write ``workflows_crm``)."""
    from policies.logging_filter import scrub

    store = ApprovalStore(engine)
    store.on_change = on_change
    audit = AuditLog(engine, redact=scrub)  # PII and secrets never reach the audit log
    notifier = notifier or NullNotifier()
    lifecycle = Lifecycle(store, audit, directory, notifier, registry=registry, artifacts_dir=settings.artifacts_dir)
    access = AccessPolicy.load(settings.access_policy_path)
    workflows = None
    if with_workflows:
        from agent.workflows.service import WorkflowService
        from policies.routing import DEFAULT_POLICY, RoutingPolicy

        policy = RoutingPolicy.load(settings.routing_policy_path or DEFAULT_POLICY, directory=directory)
        workflows = WorkflowService(
            store, audit, directory, policy, notifier, crm=workflows_crm, access=access, lifecycle=lifecycle
        )
    return LifecycleParts(store, audit, lifecycle, access, notifier, ResumeQueue(engine), workflows)


__all__ = ["LifecycleParts", "wire_lifecycle"]
