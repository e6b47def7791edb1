"""One way in for every interface: :class:`Service` over one app database.

``Service.approvals`` is the approvals API (agent/service/approvals.py); the other records a
surface manages are reached through it too — the audit log, the outbox, scheduled reports, API
keys, model usage, Slack's cards and delivery de-duplication — so no interface opens a store or
an engine of its own. A server builds it on its runtime (:meth:`Service.for_runtime`); a command
opens it from settings (:func:`open_service`), without the graph or the model stack.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from agent.service.approvals import ApprovalService, Decider
from agent.settings import Settings
from connectors.appdb import ApprovalStore, AuditLog, make_engine
from policies.directory import Directory

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from agent.notify import Notifier
    from agent.runtime.chamberlain import Chamberlain
    from connectors.appdb import ApprovalRecord
    from connectors.appdb.api_keys import ApiKeyStore
    from connectors.appdb.dedupe import DedupeStore
    from connectors.appdb.reports import ReportStore
    from connectors.appdb.resumes import ResumeQueue
    from connectors.appdb.slack_cards import CardStore
    from connectors.appdb.usage_store import UsageStore
    from connectors.outbox import SqlOutbox


@dataclass
class Service:
    """The app database as the interfaces use it; built once per process or command."""

    engine: Engine
    directory: Directory
    approvals: ApprovalService
    settings: Settings | None = field(default=None)
    owns_engine: bool = False  # opened for one command: close() disposes of it

    def close(self) -> None:
        if self.owns_engine:
            self.engine.dispose()

    @property
    def audit(self) -> AuditLog:
        """The hash-chained audit log (entries, search, verify; appends are redacted)."""
        return self.approvals.audit

    @cached_property
    def outbox(self) -> SqlOutbox:
        from connectors.outbox import SqlOutbox

        return SqlOutbox(self.engine)

    @cached_property
    def reports(self) -> ReportStore:
        from connectors.appdb.reports import ReportStore

        return ReportStore(self.engine)

    @cached_property
    def api_keys(self) -> ApiKeyStore:
        from connectors.appdb.api_keys import ApiKeyStore

        return ApiKeyStore(self.engine)

    @cached_property
    def usage(self) -> UsageStore:
        from connectors.appdb.usage_store import UsageStore

        return UsageStore(self.engine)

    @cached_property
    def slack_cards(self) -> CardStore:
        from connectors.appdb.slack_cards import CardStore

        return CardStore(self.engine)

    @cached_property
    def dedupe(self) -> DedupeStore:
        from connectors.appdb.dedupe import DedupeStore

        return DedupeStore(self.engine)

    @cached_property
    def resumes(self) -> ResumeQueue:
        from connectors.appdb.resumes import ResumeQueue

        return ResumeQueue(self.engine)

    def delivery(self, rec: ApprovalRecord) -> dict[str, Any] | None:
        """The outbox row of an approved message, if this request sent one (the web page)."""
        from sqlalchemy import MetaData, Table, inspect, select

        engine = self.engine
        if "outbox" not in inspect(engine).get_table_names():
            return None
        t = Table("outbox", MetaData(), autoload_with=engine)
        with engine.connect() as c:
            row = c.execute(select(t).where(t.c.idempotency_key == rec.idempotency_key)).mappings().first()
        if row is None:
            return None
        state = row.get("status") or ("delivered" if row.get("delivered_at") else "queued")
        return {
            "state": state,
            "recipient": row.get("recipient"),
            "at": row.get("delivered_at") or row.get("sent_at"),
            "error": row.get("last_error") or row.get("error"),
            "attempts": row.get("attempts"),
        }

    def ping(self) -> None:
        """Raise unless the app database answers (readiness probes)."""
        from sqlalchemy import text

        with self.engine.connect() as c:
            c.execute(text("SELECT 1"))

    def register_metrics(self, stage_sla: Any = None) -> None:
        """Export this app database's approval gauges on the process's Prometheus registry."""
        from agent.observability.metrics import register_app_db

        register_app_db(self.engine, stage_sla)

    @classmethod
    def on_engine(cls, engine: Engine, directory: Directory, *, notifier: Notifier | None = None) -> Service:
        """The service on an app database someone else owns (the outbox worker, Slack's notifier)."""
        return cls(
            engine, directory, ApprovalService(ApprovalStore(engine), _audit(engine), directory, notifier=notifier)
        )

    @classmethod
    def for_runtime(cls, rt: Chamberlain) -> Service:
        """The service on a running runtime: decisions continue the requester's conversation here."""
        approvals = ApprovalService(rt.approvals, rt.audit, rt.directory, rt, notifier=rt.deps.notifier)
        return cls(rt.approvals.engine, rt.directory, approvals, rt.settings)


def _audit(engine: Engine) -> AuditLog:
    from policies.logging_filter import scrub

    return AuditLog(engine, redact=scrub)  # PII and secrets never reach the audit log


@contextlib.contextmanager
def open_service(settings: Settings, *, decide: bool = False, directory: Directory | None = None) -> Iterator[Service]:
    """The service for one command. ``decide``: with the light decision path (the lifecycle and
    every write effect: the CRM, the outbox, business follow-ups; no graph, no model); without
    it, reading and record-keeping only. ``directory``: the settings' directory, if the caller
    has already loaded it (it is read once per command)."""
    if decide:
        from agent.runtime.decisions import open_decisions

        with open_decisions(settings, directory=directory) as decisions:
            parts = decisions.parts
            approvals = ApprovalService(parts.store, parts.audit, decisions.directory, decisions)
            yield Service(parts.store.engine, decisions.directory, approvals, settings)
        return
    svc = connect_service(settings, directory=directory)
    try:
        yield svc
    finally:
        svc.close()


def connect_service(settings: Settings, *, directory: Directory | None = None) -> Service:
    """The read and record-keeping service on the settings' app database; the caller closes it."""
    engine = make_engine(settings.resolved_database_url)
    try:
        directory = directory or Directory.load(settings.directory_path)
        approvals = ApprovalService(ApprovalStore(engine), _audit(engine), directory)
    except BaseException:
        engine.dispose()
        raise
    return Service(engine, directory, approvals, settings, owns_engine=True)


__all__ = ["Decider", "Service", "connect_service", "open_service"]
