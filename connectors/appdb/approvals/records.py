"""The approval vocabulary: statuses, payload hashing, and the frozen values the store takes and returns."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.engine import RowMapping

Status = Literal["pending", "approved", "rejected", "expired", "withdrawn", "executing", "executed", "failed", "stale"]
OPEN_STATUSES = ("pending",)
FINAL_DECISIONS = ("approved", "rejected", "expired", "withdrawn", "executing", "executed", "failed", "stale")
#: The approval kind of the agent's own writes; every other kind is a business request ("expense", ...).
AGENT_KIND = "tool_call"
#: How long a request waits for its decisions unless the caller says otherwise.
DEFAULT_TTL = timedelta(days=7)


def now_utc() -> datetime:
    return datetime.now(UTC)


def expiry(created_at: datetime, ttl: timedelta | None) -> datetime | None:
    """The one expiry computation: when a request created at ``created_at`` lapses (None: never)."""
    return created_at + ttl if ttl is not None else None


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def payload_hash(action: str, args: Mapping[str, Any], target_version: str | None) -> str:
    """The hash an approval binds to: tool + exact arguments + the target's version."""
    body = canonical_json({"action": action, "args": args, "target_version": target_version})
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class StageSpec:
    name: str
    approvers: tuple[str, ...]
    mode: Literal["any", "all"] = "any"
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "approvers": list(self.approvers),
            "mode": self.mode,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> StageSpec:
        return cls(raw["name"], tuple(raw["approvers"]), raw.get("mode", "any"), raw.get("reason", ""))


@dataclass(frozen=True)
class Taint:
    """Where a proposal's content came from, when it was not the requester alone.

    ``sources``: every untrusted source the conversation had read (documents, CRM records,
    messages, other people's requests and reasons); ``fields``: the arguments traced to one of
    them, as ``"path=value (from source)"``."""

    sources: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    injection_score: float = 0.0

    @property
    def tainted(self) -> bool:
        return bool(self.sources or self.fields)


@dataclass(frozen=True)
class NewApproval:
    """A proposed action waiting to be stored: the one shape of a proposal, whoever makes it
    (the gate, a person's direct call, a business request). ``agent.approvals.Proposal`` is this
    class; :meth:`agent.approvals.Lifecycle.propose` stores it. A proposal built from untrusted
    content (``taint``) is never auto-approved."""

    dedupe_key: str
    kind: str
    requester_id: str
    action: str
    args: Mapping[str, Any]
    title: str
    summary: str
    reason: str
    stages: Sequence[StageSpec]
    thread_id: str | None = None
    target_version: str | None = None
    current: Mapping[str, Any] = field(default_factory=dict)
    proposed: Mapping[str, Any] = field(default_factory=dict)
    flags: Sequence[str] = ()
    taint: Taint = field(default_factory=Taint)
    request: Mapping[str, Any] | None = None
    ttl: timedelta | None = DEFAULT_TTL
    auto_approved_by: str | None = None  # e.g. "policy:expense-small" — created approved


@dataclass(frozen=True)
class Vote:
    stage: int
    approver_id: str
    decision: str
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class ApprovalRecord:
    id: str
    dedupe_key: str
    kind: str
    thread_id: str | None
    requester_id: str
    action: str
    args: Mapping[str, Any]
    target_version: str | None
    payload_hash: str
    title: str
    summary: str
    reason: str
    current: Mapping[str, Any]
    proposed: Mapping[str, Any]
    stages: tuple[StageSpec, ...]
    current_stage: int
    status: Status
    flags: tuple[str, ...]
    untrusted_sources: tuple[str, ...]
    tainted_arguments: tuple[str, ...]
    injection_score: float
    request: Mapping[str, Any] | None
    created_at: datetime
    updated_at: datetime
    stage_started_at: datetime
    expires_at: datetime | None
    decided_at: datetime | None
    decided_by: str | None
    decision_reason: str | None
    reminders: int
    version: int
    idempotency_key: str
    claimed_at: datetime | None
    attempts: int
    executed_at: datetime | None
    result: Any
    votes: tuple[Vote, ...] = ()

    def expired(self, now: datetime) -> bool:
        """Whether the request's deadline has passed at ``now`` (the one expiry test)."""
        return self.expires_at is not None and self.expires_at <= now

    @property
    def stage(self) -> StageSpec | None:
        return self.stages[self.current_stage] if self.current_stage < len(self.stages) else None

    def approvers_now(self) -> tuple[str, ...]:
        """Who may vote right now (empty unless pending)."""
        if self.status != "pending" or self.stage is None:
            return ()
        voted = {v.approver_id for v in self.votes if v.stage == self.current_stage}
        return tuple(a for a in self.stage.approvers if a not in voted)


@dataclass(frozen=True)
class DecideResult:
    accepted: bool
    message: str
    record: ApprovalRecord
    final: bool = False  # the request as a whole is now approved or rejected


@dataclass(frozen=True)
class ClaimResult:
    outcome: Literal["claimed", "reclaimed", "in_progress", "done", "not_approved", "hash_mismatch"]
    record: ApprovalRecord

    @property
    def may_execute(self) -> bool:
        return self.outcome in ("claimed", "reclaimed")


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _record(row: RowMapping, votes: Sequence[Vote] = ()) -> ApprovalRecord:
    return ApprovalRecord(
        id=row["id"],
        dedupe_key=row["dedupe_key"],
        kind=row["kind"],
        thread_id=row["thread_id"],
        requester_id=row["requester_id"],
        action=row["action"],
        args=json.loads(row["args_json"]),
        target_version=row["target_version"],
        payload_hash=row["payload_hash"],
        title=row["title"],
        summary=row["summary"],
        reason=row["reason"],
        current=json.loads(row["current_json"]),
        proposed=json.loads(row["proposed_json"]),
        stages=tuple(StageSpec.from_json(s) for s in json.loads(row["stages_json"])),
        current_stage=row["current_stage"],
        status=row["status"],
        flags=tuple(json.loads(row["flags_json"])),
        untrusted_sources=tuple(json.loads(row["untrusted_sources_json"])),
        tainted_arguments=tuple(json.loads(row["tainted_args_json"])),
        injection_score=row["injection_score"],
        request=json.loads(row["request_json"]) if row["request_json"] else None,
        created_at=_aware(row["created_at"]),  # type: ignore[arg-type]
        updated_at=_aware(row["updated_at"]),  # type: ignore[arg-type]
        stage_started_at=_aware(row["stage_started_at"]),  # type: ignore[arg-type]
        expires_at=_aware(row["expires_at"]),
        decided_at=_aware(row["decided_at"]),
        decided_by=row["decided_by"],
        decision_reason=row["decision_reason"],
        reminders=row["reminders"],
        version=row["version"],
        idempotency_key=row["idempotency_key"],
        claimed_at=_aware(row["claimed_at"]),
        attempts=row["attempts"],
        executed_at=_aware(row["executed_at"]),
        result=json.loads(row["result_json"]) if row["result_json"] else None,
        votes=tuple(votes),
    )
