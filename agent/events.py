"""What a conversation turn emits, for any surface (CLI, HTTP, Slack) to render.

The runtime streams :data:`Event` values while a turn runs and returns an :class:`Outcome`
when it stops: either with an answer or waiting for approval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from agent.end_state import EndState

if TYPE_CHECKING:
    from collections.abc import Callable

    from connectors.appdb import ApprovalStore


@dataclass(frozen=True)
class Progress:
    """A status line: "searching the CRM…", "waiting for approval from Dana (Finance)…"."""

    text: str
    kind: Literal["progress"] = "progress"


@dataclass(frozen=True)
class Citation:
    number: int
    title: str
    section: str = ""
    uri: str = ""


@dataclass(frozen=True)
class Table:
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    truncated: bool = False
    title: str = ""


@dataclass(frozen=True)
class Attachment:
    path: str  # a file under the data dir (CSV, PNG)
    title: str
    mime: str


@dataclass(frozen=True)
class RouteStage:
    name: str  # "manager", "finance", ...
    mode: Literal["any", "all"]
    approvers: Sequence[str]  # directory ids
    status: Literal["waiting", "pending", "approved", "rejected", "skipped"] = "pending"


@dataclass(frozen=True)
class QuotedText:
    """A free-text field of a request, shown as quoted data with where it came from, never as
    the system's own words ("from the requester", "from documents:call_1", ...)."""

    field: str
    text: str
    source: str


@dataclass(frozen=True)
class ApprovalView:
    """Everything an approver needs to decide, as stored in the app database."""

    id: str
    thread_id: str
    requester_id: str
    requester_label: str
    kind: str  # "tool_call" or a request kind: "expense", "purchase", ...
    title: str  # the tool name or "Expense: client lunch"
    summary: str
    reason: str  # why policy requires approval
    current: Mapping[str, Any]
    proposed: Mapping[str, Any]
    status: str
    stages: Sequence[RouteStage]
    created_at: datetime
    expires_at: datetime | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    # Taint: untrusted sources read in this conversation, and arguments that came from them.
    untrusted_sources: Sequence[str] = ()
    tainted_arguments: Sequence[str] = ()
    injection_score: float = 0.0
    flags: Sequence[str] = ()
    # Free text written by people or read from tools, each with its source: surfaces render
    # these as quotes, apart from the system's lines (title, amount, route, what changes).
    quoted: Sequence[QuotedText] = ()
    related: Sequence[str] = ()  # the requester's related requests (split-request detection)
    # What really became of it (executed with its result id, failed and who may retry, stale,
    # ...): agent/end_state.py; every surface renders this one line.
    end: EndState | None = None
    batch_id: str | None = None  # proposed with other writes of the same turn (agent/batches.py)


@dataclass(frozen=True)
class ApprovalRequested:
    approvals: Sequence[ApprovalView]
    kind: Literal["approval_requested"] = "approval_requested"


@dataclass(frozen=True)
class Answer:
    text: str
    citations: Sequence[Citation] = ()
    tables: Sequence[Table] = ()
    attachments: Sequence[Attachment] = ()
    kind: Literal["answer"] = "answer"


@dataclass(frozen=True)
class ErrorEvent:
    """A clear, user-facing failure (model down, tool failure, limit reached)."""

    message: str
    retryable: bool = False
    kind: Literal["error"] = "error"


Event = Progress | ApprovalRequested | Answer | ErrorEvent


@dataclass(frozen=True)
class Outcome:
    """How a turn ended."""

    thread_id: str
    status: Literal["answered", "waiting_for_approval", "failed"]
    answer: Answer | None = None
    pending: Sequence[ApprovalView] = ()
    error: ErrorEvent | None = None
    usage: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DecisionResult:
    """What happened when an approver clicked."""

    approval: ApprovalView
    accepted: bool  # False when refused (self-approval, wrong role, already decided)
    message: str  # shown to the clicker
    final: bool  # True once the request is approved/rejected as a whole
    # What happened to the request: "pending", "rejected", "executed", or a one-line reason it
    # did not run. Never the requester's conversation or the action's result: approvers
    # receive the decision and its outcome only.
    outcome: str = ""
    # True when the decision resumed the requester's waiting conversation; its answer was
    # stored in their thread (read it there with ``thread_outcome``, on the requester's side).
    resumed_thread: bool = False
    # The thread queued to continue elsewhere (a decision made without the graph, e.g. the
    # CLI's: a resumer picks it up from the durable queue), or None.
    resume_queued: str | None = None


class Decider(Protocol):
    """Who records a decision and runs what follows: the full runtime (agent/runtime/chamberlain.py,
    which continues the requester's conversation in-process) or the light path
    (agent/runtime/decisions.py, which queues it). Both settle it on the one lifecycle."""

    @property
    def approvals(self) -> ApprovalStore: ...

    def decide(
        self,
        approval_id: str,
        *,
        approver_id: str,
        approve: bool,
        reason: str | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> DecisionResult: ...

    def retry(self, approval_id: str, *, operator_id: str) -> DecisionResult: ...


__all__ = [
    "Answer",
    "ApprovalRequested",
    "ApprovalView",
    "Attachment",
    "Citation",
    "DecisionResult",
    "ErrorEvent",
    "Event",
    "Outcome",
    "Progress",
    "QuotedText",
    "RouteStage",
    "Table",
]
