"""Wiring: which connectors and tool families a runtime gets, from settings.

The embedded default needs no services: the local CRM starts in a background thread, the
warehouse is the seeded SQLite file, the knowledge base is an embedded Chroma store. Each can be
pointed at the real thing by a URL (see Settings).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from agent.notify import Notifier
from agent.settings import Settings
from connectors.appdb import ApprovalStore, make_engine
from policies.directory import Directory
from tools.base import Tool, ToolRegistry

if TYPE_CHECKING:
    from datetime import datetime

    from langchain_core.language_models import BaseChatModel
    from rich.console import Console
    from sqlalchemy import Engine

    # Imported where a runtime is built: the graph (LangGraph) is not needed to open the
    # services, so the light decision path (agent/runtime/decisions.py) does not load it.
    from agent.runtime.chamberlain import Chamberlain
    from agent.workflows.reports import ReportScheduler
    from agent.workflows.service import WorkflowService
    from connectors.appdb import AuditLog
    from connectors.crm import CrmConnector
    from connectors.knowledge import KnowledgeIndex
    from connectors.knowledge.index import DocumentSearch
    from connectors.outbox import SqlOutbox
    from connectors.warehouse import Warehouse

LOCAL_CRM_TOKEN = "local-dev-token"


@dataclass
class Services:
    """What one process opened from its settings, each once (the directory too), closed together."""

    directory: Directory
    crm: CrmConnector | None = None
    warehouse: Warehouse | None = None
    knowledge: DocumentSearch | None = None
    outbox: SqlOutbox | None = None
    engine: Engine | None = None  # the app database, shared by the runtime and the outbox
    workflows: WorkflowService | None = None  # built with the runtime (it runs on the runtime's lifecycle)
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        while self.closers:
            with contextlib.suppress(Exception):
                self.closers.pop()()


def ensure_crm_seeded(settings: Settings) -> None:
    from connectors.crm_service import SqliteCrmStore, seed_crm

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = SqliteCrmStore(settings.crm_db_path)
    if store.is_empty():
        seed_crm(store)


def open_crm(settings: Settings, services: Services) -> CrmConnector:
    from connectors.crm import HubSpotClient

    if settings.crm != "hubspot":
        from connectors.crm.registry import open_in_process

        return open_in_process(settings.crm)
    if settings.crm_url:
        token = settings.hubspot_token.get_secret_value() if settings.hubspot_token else ""
        client = HubSpotClient(settings.crm_url, token)
    else:
        from connectors.crm_service import CrmServer

        ensure_crm_seeded(settings)
        # port=0: a free port, so several processes (CLI, Slack bot) can each run one.
        server = CrmServer(settings.crm_db_path, LOCAL_CRM_TOKEN, seed=True)
        server.start()
        services.closers.append(server.stop)
        client = HubSpotClient(server.url, LOCAL_CRM_TOKEN)
    services.closers.append(client.close)
    return client


def ensure_warehouse(settings: Settings, *, console: Console | None = None) -> None:
    """Generate the demo warehouse when the default (embedded) one is missing."""
    if settings.warehouse_url:
        return
    path = settings.data_dir / "warehouse.db"
    if path.exists():
        return
    from connectors.demo.warehouse_gen import generate_warehouse

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if console is None:
        stats = generate_warehouse(path, people=Directory.load(settings.directory_path))
    else:
        from rich.progress import Progress as Bar

        # Seeding takes a while on a slow machine: show it moving, table by table.
        with Bar(console=console, transient=True) as bar:
            task = bar.add_task("generating the warehouse", total=None)

            def report(step: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description=f"warehouse: {step}")

            stats = generate_warehouse(path, people=Directory.load(settings.directory_path), progress=report)
    if console is not None:
        console.print(f"[green]warehouse generated[/green] ({stats.fact_rows:,} fact rows)")


def open_warehouse(settings: Settings, services: Services) -> Warehouse:
    from connectors.warehouse import SqlWarehouse

    ensure_warehouse(settings)
    wh = SqlWarehouse(
        settings.resolved_warehouse_url,
        pg_roles=settings.warehouse_pg_roles,
        allow_writable_role=settings.warehouse_allow_writable_role,
    )
    services.closers.append(wh.close)
    return wh


def open_knowledge(settings: Settings) -> KnowledgeIndex:
    """The document index (embedded Chroma under the data dir, or a Chroma server). Opening is
    cheap: the embedding model loads on the first search or ingest."""
    from connectors.knowledge import KnowledgeIndex

    return KnowledgeIndex.open(settings.knowledge_dir, chroma_url=settings.chroma_url)


def ensure_knowledge(settings: Settings, *, force: bool = False, console: Console | None = None) -> None:
    """Ingest the demo handbook (incremental: unchanged documents are not embedded again)."""
    from connectors.demo.handbook import materialize
    from connectors.knowledge import rich_progress

    marker = settings.knowledge_dir / ".seeded"
    if marker.exists() and not force:
        return
    index = open_knowledge(settings)
    folder = materialize(settings.data_dir / "handbook")
    if console is not None:
        with rich_progress("ingesting the handbook", console=console) as progress:
            report = index.ingest(folder, None, progress)
        console.print(
            f"[green]knowledge base ready[/green] ({len(report.added) + len(report.updated)} documents "
            f"embedded, {len(report.unchanged)} unchanged)"
        )
    else:
        index.ingest(folder)
    marker.write_text("handbook\n")


def open_services(settings: Settings, *, crm: CrmConnector | None = None) -> Services:
    services = Services(directory=Directory.load(settings.directory_path))
    services.crm = crm if crm is not None else open_crm(settings, services)
    services.warehouse = open_warehouse(settings, services)
    services.knowledge = open_knowledge(settings)
    from connectors.outbox import SqlOutbox

    services.engine = make_engine(settings.resolved_database_url)
    services.closers.append(services.engine.dispose)
    # Approved messages land here; the delivery worker (agent.interfaces.outbox_worker) sends them.
    services.outbox = SqlOutbox(services.engine)
    return services


def build_registry(settings: Settings, services: Services) -> ToolRegistry:
    tools: list[Tool[Any, Any]] = []
    if services.crm is not None:
        from tools.crm import crm_tools

        tools.extend(crm_tools(services.crm, directory=services.directory))
    if services.warehouse is not None:
        from tools.analytics import analytics_tools

        tools.extend(analytics_tools(services.warehouse, extra_functions=tuple(settings.warehouse_extra_functions)))
    if services.knowledge is not None:
        from tools.documents import document_tools

        tools.extend(document_tools(services.knowledge))
    if services.warehouse is not None and services.engine is not None:
        from connectors.appdb.reports import ReportStore
        from tools.reports import report_tools

        tools.extend(
            report_tools(
                ReportStore(services.engine),
                services.warehouse,
                services.directory,
                channel_members=channel_members(settings),
                min_interval=timedelta(seconds=settings.report_min_interval_s),
            )
        )
    if services.outbox is not None:
        from tools.messaging import messaging_tools

        tools.extend(messaging_tools(services.outbox, directory=services.directory))
    from tools.requests import request_tools

    tools.extend(request_tools(lambda: _workflows(services)))
    tools.extend(external_tools(settings, services))
    return ToolRegistry(tools)


def external_tools(settings: Settings, services: Services) -> list[Tool[Any, Any]]:
    """Operators' own tools: Python modules (@governed) and MCP servers (with a tool policy).
    They pass the same gate as built-in tools; grant them to roles in the access policy."""
    out: list[Tool[Any, Any]] = []
    modules = [m for m in settings.tool_modules.split(",") if m.strip()]
    if modules:
        from tools.external import load_python_tools

        out.extend(load_python_tools(modules))
    if settings.mcp_servers_path is not None:
        import logging

        from tools.mcp import McpToolset, McpUnavailable, load_mcp_servers

        for config in load_mcp_servers(settings.mcp_servers_path):
            try:
                toolset = McpToolset(config)
            except McpUnavailable as exc:
                logging.getLogger("chamberlain.mcp").warning("%s; its tools are not offered", exc)
                continue
            services.closers.append(toolset.close)
            for name, why in toolset.disabled.items():
                logging.getLogger("chamberlain.mcp").warning("MCP tool %s disabled: %s", name, why)
            out.extend(toolset.tools())
    return out


def channel_members(settings: Settings) -> Callable[[str], list[str] | None]:
    """Who reads a Slack channel, from the operator's channel file (None: unknown, refused)."""
    mapping: dict[str, list[str]] = {}
    if settings.report_channels_path is not None:
        import yaml

        raw = yaml.safe_load(settings.report_channels_path.read_text(encoding="utf-8")) or {}
        mapping = {str(k): [str(m) for m in v or []] for k, v in raw.items()}
    return lambda channel: mapping.get(channel)


def open_reports(
    settings: Settings,
    *,
    engine: Engine,
    warehouse: Warehouse,
    outbox: SqlOutbox,
    audit: AuditLog | None = None,
    directory: Directory | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ReportScheduler:
    """The report scheduler: runs reports as their owners, delivers through the outbox. Needs
    only the app DB, the warehouse and the outbox (no model, no CRM, no documents)."""
    from agent.workflows.reports import ReportScheduler, load_narrator
    from connectors.appdb import AuditLog
    from connectors.appdb.reports import ReportStore
    from policies.access import AccessPolicy
    from policies.logging_filter import scrub
    from tools.analytics import analytics_tools

    (run_query,) = [t for t in analytics_tools(warehouse) if t.name == "run_query"]
    kwargs: dict[str, Any] = {"clock": clock} if clock is not None else {}
    return ReportScheduler(
        ReportStore(engine),
        run_query=run_query,
        warehouse=warehouse,
        directory=directory or Directory.load(settings.directory_path),
        access=AccessPolicy.load(settings.access_policy_path),
        outbox=outbox,
        audit=audit if audit is not None else AuditLog(engine, redact=scrub),
        channel_members=channel_members(settings),
        narrator=load_narrator(settings.report_narrator) if settings.report_narrator else None,
        artifacts_dir=settings.artifacts_dir,
        lease=timedelta(seconds=settings.report_lease_s),
        **kwargs,
    )


@contextlib.contextmanager
def open_report_scheduler(
    settings: Settings, *, clock: Callable[[], datetime] | None = None
) -> Iterator[ReportScheduler]:
    """A scheduler with just what reports need (for `chamberlain reports tick|run-now`)."""
    from connectors.outbox import SqlOutbox

    services = Services(directory=Directory.load(settings.directory_path))
    try:
        services.engine = make_engine(settings.resolved_database_url)
        services.closers.append(services.engine.dispose)
        services.warehouse = open_warehouse(settings, services)
        yield open_reports(
            settings,
            engine=services.engine,
            warehouse=services.warehouse,
            outbox=SqlOutbox(services.engine),
            directory=services.directory,
            clock=clock,
        )
    finally:
        services.close()


def _workflows(services: Services) -> WorkflowService:
    if services.workflows is None:
        raise RuntimeError("business requests need a runtime built with workflows (open_runtime does)")
    return services.workflows


@contextlib.contextmanager
def open_runtime(
    settings: Settings,
    *,
    chat_model: BaseChatModel | None = None,
    notifier: Notifier | None = None,
    crm: CrmConnector | None = None,
    sweep_every_s: float | None = None,
) -> Iterator[Chamberlain]:
    """A runtime with every configured tool family; closes everything on exit."""
    from agent.observability.telemetry import configure as configure_tracing
    from agent.runtime.chamberlain import build_runtime

    configure_tracing(settings)  # OTLP traces when OTEL_* asks for them; otherwise nothing
    services = open_services(settings, crm=crm)
    queued_notifications = outbox_notifications_on(settings)
    if queued_notifications:
        # Cards are queued by the approval store's own transactions and posted by the outbox
        # worker; calling a notifier here as well would post every reminder twice.
        notifier = None
    on_change = None
    if queued_notifications:
        from agent.notify import notification_hook

        assert services.outbox is not None  # open_services always opens it
        on_change = notification_hook(services.outbox)
    reports: Callable[[AuditLog, Directory], ReportScheduler] | None = None
    if services.warehouse is not None and services.outbox is not None and services.engine is not None:
        warehouse, outbox, engine = services.warehouse, services.outbox, services.engine

        def scheduler(audit: AuditLog, directory: Directory) -> ReportScheduler:
            return open_reports(
                settings, engine=engine, warehouse=warehouse, outbox=outbox, audit=audit, directory=directory
            )

        reports = scheduler

    try:
        rt = build_runtime(
            settings,
            registry=build_registry(settings, services),
            chat_model=chat_model,
            notifier=notifier,
            engine=services.engine,
            directory=services.directory,
            on_change=on_change,
            with_workflows=True,
            workflows_crm=services.crm,
            reports=reports,
        )
    except BaseException:
        services.close()
        raise
    # The request tools (built before the runtime) reach the service through this slot.
    services.workflows = rt.workflows
    sweeper = None
    try:
        if sweep_every_s:
            # Long-running servers: expiry, reminders, escalation without a cron job.
            from agent.workflows.sweeper import Sweeper

            assert rt.workflows is not None  # with_workflows=True
            # resume_requested_threads: conversations a decision elsewhere (the CLI) asked to continue.
            jobs: list[Callable[[], Any]] = [rt.workflows.tick, rt.expire_due, rt.resume_requested_threads]
            if rt.reports is not None:
                jobs.append(rt.reports.tick)  # each report period once, across N servers
            sweeper = Sweeper(sweep_every_s, jobs).start()
        yield rt
    finally:
        if sweeper is not None:
            sweeper.stop()
        rt.close()
        services.close()


@contextlib.contextmanager
def open_tool_runtime(settings: Settings, tools: Iterable[Tool[Any, Any]]) -> Iterator[Chamberlain]:
    """A runtime over just ``tools`` and no model, for a person's direct tool calls
    (:meth:`Chamberlain.call_tool`, e.g. ``chamberlain sql run``); closed on exit."""
    from agent.runtime.chamberlain import build_runtime
    from agent.runtime.metering import NoModelPlanner

    rt = build_runtime(settings, registry=ToolRegistry(tools), planner=NoModelPlanner())
    try:
        yield rt
    finally:
        rt.close()


def outbox_notifications_on(settings: Settings) -> bool:
    """Approval notifications go through the outbox when there is a Slack bot to post them."""
    return bool(settings.outbox_notifications and settings.slack_bot_token)


@contextlib.contextmanager
def open_store(settings: Settings) -> Iterator[tuple[ApprovalStore, Directory]]:
    """Just the approvals store and directory (for commands that do not need a model)."""
    engine = make_engine(settings.resolved_database_url)
    try:
        yield ApprovalStore(engine), Directory.load(settings.directory_path)
    finally:
        engine.dispose()


def seed_all(settings: Settings, *, force: bool = False, console: Console | None = None) -> None:
    """Seed the embedded demo company: CRM, warehouse (and, with --force, rebuild them)."""
    if force:
        for name in ("crm.db", "warehouse.db"):
            (settings.data_dir / name).unlink(missing_ok=True)
    ensure_crm_seeded(settings)
    if console is not None:
        console.print("[green]CRM seeded[/green]")
    ensure_warehouse(settings, console=console)
    ensure_knowledge(settings, force=force, console=console)


@contextlib.contextmanager
def open_workflows(
    settings: Settings, *, with_crm: bool = False, notifier: Notifier | None = None
) -> Iterator[WorkflowService]:
    """The service without a model runtime (CLI submit/withdraw/stats/tick). ``with_crm`` opens
    the configured CRM (discounts read and update deals)."""
    from agent.workflows.service import WorkflowService
    from connectors.appdb import AuditLog
    from policies.access import AccessPolicy
    from policies.logging_filter import scrub
    from policies.routing import DEFAULT_POLICY, RoutingPolicy

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    services = open_services(settings) if with_crm else None
    try:
        directory = Directory.load(settings.directory_path)
        policy = RoutingPolicy.load(settings.routing_policy_path or DEFAULT_POLICY, directory=directory)
        yield WorkflowService(
            ApprovalStore(engine),
            AuditLog(engine, redact=scrub),
            directory,
            policy,
            notifier,
            crm=services.crm if services else None,
            access=AccessPolicy.load(settings.access_policy_path),
        )
    finally:
        if services is not None:
            services.close()
        engine.dispose()


__all__ = [
    "LOCAL_CRM_TOKEN",
    "Services",
    "build_registry",
    "ensure_crm_seeded",
    "open_runtime",
    "open_services",
    "open_store",
    "open_tool_runtime",
    "open_workflows",
    "outbox_notifications_on",
    "seed_all",
]
