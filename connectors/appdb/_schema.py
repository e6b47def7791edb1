"""Tables of the app database: approvals and their decisions, the hash-chained audit log,
usage records for budgets, and the de-duplication keys of entry points."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

approvals = Table(
    "approvals",
    metadata,
    Column("id", String(40), primary_key=True),
    # Creation is idempotent on this key ("<thread>:<tool_call_id>" for agent writes).
    Column("dedupe_key", String(300), nullable=False, unique=True),
    Column("kind", String(40), nullable=False),  # tool_call | expense | purchase | ...
    Column("thread_id", String(300)),
    Column("requester_id", String(100), nullable=False),
    Column("action", String(100), nullable=False),  # the tool (or follow-up) that runs on approval
    Column("args_json", Text, nullable=False),
    Column("target_version", String(200)),
    Column("payload_hash", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("current_json", Text, nullable=False),
    Column("proposed_json", Text, nullable=False),
    Column("stages_json", Text, nullable=False),
    Column("current_stage", Integer, nullable=False, default=0),
    Column("status", String(20), nullable=False),
    Column("flags_json", Text, nullable=False, default="[]"),
    Column("untrusted_sources_json", Text, nullable=False, default="[]"),
    Column("tainted_args_json", Text, nullable=False, default="[]"),
    Column("injection_score", Float, nullable=False, default=0.0),
    Column("request_json", Text),  # the structured business request, for request kinds
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("stage_started_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("decided_at", DateTime(timezone=True)),
    Column("decided_by", String(100)),
    Column("decision_reason", Text),
    Column("reminders", Integer, nullable=False, default=0),
    # Optimistic concurrency: every transition is UPDATE ... WHERE id=? AND version=?.
    Column("version", Integer, nullable=False, default=0),
    Column("idempotency_key", String(100), nullable=False, unique=True),
    Column("claimed_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("executed_at", DateTime(timezone=True)),
    Column("result_json", Text),
)
Index("ix_approvals_status", approvals.c.status)
Index("ix_approvals_requester", approvals.c.requester_id)
Index("ix_approvals_thread", approvals.c.thread_id)

approval_decisions = Table(
    "approval_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("approval_id", String(40), ForeignKey("approvals.id"), nullable=False),
    Column("stage", Integer, nullable=False),
    Column("approver_id", String(100), nullable=False),
    Column("decision", String(10), nullable=False),  # approve | reject
    Column("reason", Text),
    Column("at", DateTime(timezone=True), nullable=False),
    # One vote per person per stage: a double click cannot count twice.
    UniqueConstraint("approval_id", "stage", "approver_id", name="uq_one_vote_per_stage"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("event", String(60), nullable=False),
    Column("thread_id", String(300)),
    Column("approval_id", String(40)),
    Column("data_json", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
Index("ix_audit_thread", audit_log.c.thread_id)
Index("ix_audit_at", audit_log.c.at)

# One row: the chain's head. Appends advance it with compare-and-set, so concurrent writers
# (threads or processes) can never fork the chain.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

usage = Table(
    "usage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("user_id", String(100), nullable=False),
    Column("thread_id", String(300)),
    Column("kind", String(20), nullable=False),  # request | model
    Column("model", String(100)),
    Column("input_tokens", Integer, nullable=False, default=0),
    Column("output_tokens", Integer, nullable=False, default=0),
    Column("cache_read_tokens", Integer, nullable=False, default=0),
    Column("cache_write_tokens", Integer, nullable=False, default=0),
    Column("cost_usd", Float, nullable=False, default=0.0),
    # Added for usage reports (issue #19); UsageStore adds them to older databases.
    Column("groups", Text),  # the asker's groups at the time, as ",a,b," (matchable with LIKE)
    Column("task_kind", String(20)),  # answer | sql | summarize | classify
    Column("provider", String(20)),
    Column("latency_ms", Float),
)
Index("ix_usage_user_at", usage.c.user_id, usage.c.at)
Index("ix_usage_at", usage.c.at)

# Running totals per budget window, updated in the transaction that writes each usage row, so a
# budget check reads a few rows by key instead of summing a history.
usage_rollup = Table(
    "usage_rollup",
    metadata,
    Column("scope", String(10), primary_key=True),  # user | group
    Column("key", String(100), primary_key=True),
    Column("period", String(10), primary_key=True),  # hour | day | month
    Column("start", String(20), primary_key=True),  # 2026-12-03T09 | 2026-12-03 | 2026-12 (UTC)
    Column("requests", Integer, nullable=False, default=0),
    Column("tokens", Integer, nullable=False, default=0),
    Column("cost_usd", Float, nullable=False, default=0.0),
)

dedupe_keys = Table(
    "dedupe_keys",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)
