"""The app database: approvals, audit log, usage, de-duplication keys (SQLite or PostgreSQL)."""

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from connectors.appdb.dedupe import DedupeStore
    from connectors.appdb.usage_store import UsageStore, UsageTotals


def __getattr__(name: str) -> Any:
    # Load on first use: reading or deciding approvals needs neither, and the usage store builds
    # its SQL statements when imported.
    if name == "DedupeStore":
        from connectors.appdb.dedupe import DedupeStore

        return DedupeStore
    if name in ("UsageStore", "UsageTotals"):
        from connectors.appdb import usage_store

        return getattr(usage_store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
