"""Prometheus metrics: what this process did (counters, latency histograms) and the state of
the shared app database (approvals, SLA breaches, outbox), read at scrape time.

Process series are per replica — sum them across replicas. Database series (``chamberlain_approvals``,
``chamberlain_approvals_sla_breached``, ``chamberlain_outbox_messages``) describe the one shared
database, so every replica reports the same value — use ``max`` across replicas, not ``sum``.

Nothing is created at import time: :func:`metrics` builds the registry on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


@dataclass
class Metrics:
    registry: CollectorRegistry
    turns: Counter
    turn_seconds: Histogram
    model_seconds: Histogram
    tool_seconds: Histogram
    sql_seconds: Histogram
    retrieval_seconds: Histogram
    tokens: Counter
    cost: Counter
    decisions: Counter
    expired: Counter
    refusals: Counter
    errors: Counter


_lock = threading.Lock()
_metrics: list[Metrics] = []


def metrics() -> Metrics:
    """The process's metrics (created on first use)."""
    if _metrics:
        return _metrics[0]
    with _lock:
        if not _metrics:
            _metrics.append(_build())
    return _metrics[0]


def _build() -> Metrics:
    r = CollectorRegistry(auto_describe=True)
    p = "chamberlain_"
    m = Metrics(
        registry=r,
        turns=Counter(p + "turns", "Conversation turns run, by outcome.", ["status"], registry=r),
        turn_seconds=Histogram(
            p + "turn_duration_seconds", "Wall time of one turn (or resume).", buckets=LATENCY_BUCKETS, registry=r
        ),
        model_seconds=Histogram(
            p + "model_call_duration_seconds", "Model API call latency.", ["model"], buckets=LATENCY_BUCKETS, registry=r
        ),
        tool_seconds=Histogram(
            p + "tool_call_duration_seconds",
            "Tool call latency (a write: claim, run, record).",
            ["tool", "effect"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        ),
        sql_seconds=Histogram(
            p + "sql_query_duration_seconds",
            "Warehouse query latency.",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        ),
        retrieval_seconds=Histogram(
            p + "retrieval_duration_seconds", "Knowledge search latency.", buckets=LATENCY_BUCKETS, registry=r
        ),
        tokens=Counter(p + "model_tokens", "Model tokens, by model and kind.", ["model", "kind"], registry=r),
        cost=Counter(p + "model_cost_usd", "Model cost in US dollars, by model.", ["model"], registry=r),
        decisions=Counter(
            p + "approval_decisions",
            "Approval votes recorded by this process, by kind, stage and decision (refused: not accepted).",
            ["kind", "stage", "decision"],
            registry=r,
        ),
        expired=Counter(p + "approvals_expired", "Approval requests this process expired.", ["kind"], registry=r),
        refusals=Counter(p + "policy_refusals", "Tool calls the policy gate denied, by rule.", ["rule"], registry=r),
        errors=Counter(p + "errors", "Errors, by kind.", ["kind"], registry=r),
    )
    from connectors import telemetry

    # Lower layers time their work with spans; metrics read the spans' durations.
    telemetry.observe(
        "chamberlain.sql.query",
        lambda s, _a, failed: m.sql_seconds.labels("error" if failed else "ok").observe(s),
    )
    telemetry.observe("chamberlain.retrieval", lambda s, _a, _f: m.retrieval_seconds.observe(s))
    return m


def render() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST

    return generate_latest(metrics().registry), CONTENT_TYPE_LATEST


def refusal_rule(reason: str) -> str:
    """A low-cardinality label for a denial reason (the reason text itself varies per call)."""
    text = reason.lower()
    for needle, rule in (
        ("budget", "budget"),
        ("invalid arguments", "invalid_arguments"),
        ("not allowed", "rbac"),
        ("may not", "rbac"),
        ("unknown tool", "unknown_tool"),
        ("untrusted", "taint_egress"),
        ("destination", "taint_egress"),
        ("could not prepare", "plan_failed"),
    ):
        if needle in text:
            return rule
    return "other"


# -- database state, read at scrape time --------------------------------------------------------


class AppDbCollector(Collector):
    """Approvals by kind/stage/status, SLA breaches and outbox state from the shared database."""

    def __init__(self, engine: Any, stage_sla: Callable[[Any], timedelta] | None = None) -> None:
        self.engine = engine
        self.stage_sla = stage_sla

    def describe(self) -> Iterator[Any]:
        return iter(())  # collected lazily; never at registration

    def collect(self) -> Iterator[Any]:
        from sqlalchemy import func, inspect, select

        from connectors.appdb import ApprovalStore

        by_status = GaugeMetricFamily(
            "chamberlain_approvals",
            "Approval requests in the shared database, by kind, current stage and status.",
            labels=["kind", "stage", "status"],
        )
        breached = GaugeMetricFamily(
            "chamberlain_approvals_sla_breached",
            "Pending approval requests whose current stage has waited longer than its SLA.",
            labels=["kind", "stage"],
        )
        outbox = GaugeMetricFamily(
            "chamberlain_outbox_messages", "Outgoing messages in the outbox, by state.", labels=["state"]
        )
        try:
            store = ApprovalStore(self.engine)
            counts: dict[tuple[str, str, str], int] = {}
            late: dict[tuple[str, str], int] = {}
            now = store.clock()
            for rec in store.list(limit=100_000):
                # Decided requests are past their last stage: label them with the stage they ended at.
                stage = rec.stages[min(rec.current_stage, len(rec.stages) - 1)].name if rec.stages else "-"
                key = (rec.kind, stage, rec.status)
                counts[key] = counts.get(key, 0) + 1
                overdue = self.stage_sla is not None and now - rec.stage_started_at > self.stage_sla(rec)
                if rec.status == "pending" and overdue:
                    late[(rec.kind, stage)] = late.get((rec.kind, stage), 0) + 1
            for (kind, stage, status), n in sorted(counts.items()):
                by_status.add_metric([kind, stage, status], n)
            for (kind, stage), n in sorted(late.items()):
                breached.add_metric([kind, stage], n)
            tables = inspect(self.engine).get_table_names()
            if "outbox" in tables:
                from sqlalchemy import MetaData, Table

                t = Table("outbox", MetaData(), autoload_with=self.engine)
                if "status" in t.c:  # a delivery worker keeps per-message state
                    with self.engine.connect() as c:
                        for state, n in c.execute(select(t.c.status, func.count()).group_by(t.c.status)):
                            outbox.add_metric([str(state)], n)
                else:
                    with self.engine.connect() as c:
                        outbox.add_metric(["queued"], c.execute(select(func.count()).select_from(t)).scalar_one())
        except Exception:  # a scrape must not fail because the database is briefly away
            metrics().errors.labels("metrics_scrape").inc()
        yield by_status
        yield breached
        yield outbox


def register_app_db(engine: Any, stage_sla: Callable[[Any], timedelta] | None = None) -> None:
    """Report the shared database's state on this process's ``/metrics`` (once per process)."""
    m = metrics()
    with _lock:
        if getattr(m, "_app_db", None) is None:
            collector = AppDbCollector(engine, stage_sla)
            m.registry.register(collector)
            m._app_db = collector  # type: ignore[attr-defined]
        else:
            m._app_db.engine, m._app_db.stage_sla = engine, stage_sla  # type: ignore[attr-defined]


__all__ = ["LATENCY_BUCKETS", "AppDbCollector", "Metrics", "metrics", "refusal_rule", "register_app_db", "render"]
