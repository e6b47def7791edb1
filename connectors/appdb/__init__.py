"""The app database: approvals, audit log, usage, de-duplication keys (SQLite or PostgreSQL)."""

from connectors.appdb._engine import make_engine
from connectors.appdb.approvals import (
    ApprovalRecord,
    ApprovalStore,
    ClaimResult,
    DecideResult,
    NewApproval,
    StageSpec,
    Vote,
    canonical_json,
    payload_hash,
)
from connectors.appdb.audit import AuditEntry, AuditLog, VerifyReport
from connectors.appdb.dedupe import DedupeStore
from connectors.appdb.usage_store import UsageStore, UsageTotals

__all__ = [
    "ApprovalRecord",
    "ApprovalStore",
    "AuditEntry",
    "AuditLog",
    "ClaimResult",
    "DecideResult",
    "DedupeStore",
    "NewApproval",
    "StageSpec",
    "UsageStore",
    "UsageTotals",
    "VerifyReport",
    "Vote",
    "canonical_json",
    "make_engine",
    "payload_hash",
]
