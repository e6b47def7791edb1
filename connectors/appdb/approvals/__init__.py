"""Durable approval requests with compare-and-set transitions.

Lifecycle::

    pending ──approve (last stage)──▶ approved ──claim──▶ executing ──▶ executed | failed
       │  └─approve (more stages)─▶ pending (next stage)        ▲
       ├─reject──▶ rejected                                      └─ re-claim after a crash
       ├─expire──▶ expired                                          (lease expired; same
       └─withdraw─▶ withdrawn                                        idempotency key)
    approved/pending ──target changed──▶ stale

Every transition is ``UPDATE ... WHERE id = :id AND version = :seen`` inside a transaction, and
each approver's vote is a row unique per (request, stage, approver): double clicks, concurrent
resumes and retries cannot decide or execute anything twice.
"""

from __future__ import annotations

from connectors.appdb.approvals.records import (
    AGENT_KIND,
    DEFAULT_TTL,
    ApprovalRecord,
    ClaimResult,
    DecideResult,
    NewApproval,
    StageSpec,
    Status,
    Taint,
    Vote,
    canonical_json,
    expiry,
    now_utc,
    payload_hash,
)
from connectors.appdb.approvals.store import ApprovalStore

__all__ = [
    "AGENT_KIND",
    "DEFAULT_TTL",
    "ApprovalRecord",
    "ApprovalStore",
    "ClaimResult",
    "DecideResult",
    "NewApproval",
    "StageSpec",
    "Status",
    "Taint",
    "Vote",
    "canonical_json",
    "expiry",
    "now_utc",
    "payload_hash",
]
