"""A scripted stand-in for the runtime, for Slack tests, the burst benchmark and demos.

It follows the runtime protocol (``ask`` / ``decide`` / ``pending_for`` / ``get_approval``)
with keyword-scripted turns instead of a model, a real compare-and-set on decisions and a write
counter, so "the approved write ran exactly once" is observable. It calls its notifier the way
the real runtime does.

Scripted turns (by words in the message):
    "update …" / "change …"  → a write: an approval request routed to the requester's manager
    "model down"             → ErrorEvent (retryable), the turn fails
    "tool failure"           → ErrorEvent after progress
    "delete …"               → a policy denial
    "crash"                  → the runtime raises
    "big table" / "table"    → an answer with a 25-row / 3-row table
    anything else            → progress, then an answer with a numbered citation
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from agent.errors import PermissionDenied
from agent.events import (
    Answer,
    ApprovalRequested,
    ApprovalView,
    Citation,
    DecisionResult,
    ErrorEvent,
    Event,
    Outcome,
    Progress,
    RouteStage,
    Table,
)
from agent.notify import Notifier, NullNotifier
from agent.service.approvals import ApprovalService, involved
from connectors.errors import AmbiguousId, RecordNotFound
from policies.directory import Directory


@dataclass(frozen=True)
class ExecutedWrite:
    approval_id: str
    thread_id: str
    approved_by: str


class ScriptedRuntime:
    def __init__(
        self,
        directory: Directory | None = None,
        notifier: Notifier | None = None,
        *,
        think_time: float = 0.0,
    ) -> None:
        self.directory = directory or Directory.load()
        self.notifier: Notifier = notifier or NullNotifier()
        self.think_time = think_time
        self.turns: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.told: dict[str, list[str]] = defaultdict(list)  # what the "model" heard on resume
        self.outcomes: dict[str, Outcome] = {}  # each thread's latest outcome (the requester's)
        self.writes: list[ExecutedWrite] = []
        self._approvals: dict[str, ApprovalView] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- turns -------------------------------------------------------------------------------

    def ask(
        self,
        user_id: str,
        text: str,
        *,
        thread_id: str,
        on_event: Callable[[Event], None] | None = None,
    ) -> Outcome:
        emit = on_event or (lambda e: None)
        self.directory.get(user_id)
        with self._lock:
            self.turns[thread_id].append((user_id, text))
        words = text.lower()
        if "crash" in words:
            raise RuntimeError("scripted crash")
        emit(Progress("thinking…"))
        if self.think_time:
            time.sleep(self.think_time)
        if "model down" in words:
            err = ErrorEvent("The language model is not reachable right now (HTTP 529).", retryable=True)
            emit(err)
            return Outcome(thread_id, "failed", error=err)
        if "tool failure" in words:
            emit(Progress("querying the warehouse…"))
            err = ErrorEvent("The warehouse query failed: it timed out after 30 s.")
            emit(err)
            return Outcome(thread_id, "failed", error=err)
        if "delete" in words:
            err = ErrorEvent("Policy denied: deleting CRM records is not allowed, with or without approval.")
            emit(err)
            return Outcome(thread_id, "failed", error=err)
        if "update" in words or "change" in words:
            return self._request_write(user_id, text, thread_id, emit)
        emit(Progress("querying the warehouse…"))
        if "big table" in words:
            table = Table(["region", "month", "revenue"], [["West", f"2026-{m:02d}", m * 1000.0] for m in range(1, 26)])
            answer = Answer("Here is revenue by month.", tables=(table,))
        elif "table" in words:
            table = Table(["region", "revenue"], [["West", 1200.5], ["East", 980.0], ["Central", 455.25]])
            answer = Answer("Revenue by region:", tables=(table,))
        else:
            answer = Answer(
                f"Q3 revenue was **$1.2M** [1]. (turn {len(self.turns[thread_id])} of this conversation)",
                citations=(Citation(1, "Q3 sales report", "Summary", "https://docs.larkspur.example/q3"),),
            )
        emit(answer)
        return Outcome(thread_id, "answered", answer=answer)

    def _request_write(self, user_id: str, text: str, thread_id: str, emit: Callable[[Event], None]) -> Outcome:
        requester = self.directory.get(user_id)
        manager = self.directory.manager_of(user_id)
        approver = manager.id if manager else "u_olivia"
        emit(Progress("checking policy…"))
        view = ApprovalView(
            id=f"apr_{next(self._ids):04d}",
            thread_id=thread_id,
            requester_id=user_id,
            requester_label=requester.label,
            kind="tool_call",
            title="crm_update_deal",
            summary="Move the Acme Corporation renewal to stage *Closed Won*",
            reason="Every write to the CRM needs approval by the requester's manager.",
            current={"stage": "Negotiation", "amount": 120000},
            proposed={"stage": "Closed Won", "amount": 120000},
            status="pending",
            stages=(RouteStage("manager", "any", (approver,), "pending"),),
            created_at=datetime.now(UTC),
        )
        with self._lock:
            self._approvals[view.id] = view
        self.notifier.approval_requested(view)
        emit(ApprovalRequested((view,)))
        return Outcome(thread_id, "waiting_for_approval", pending=(view,))

    # -- approvals ---------------------------------------------------------------------------

    def get_approval(self, approval_id: str) -> ApprovalView:
        with self._lock:
            try:
                return self._approvals[approval_id]
            except KeyError:
                raise KeyError(f"no approval request {approval_id!r}") from None

    def pending_for(self, approver_id: str) -> list[ApprovalView]:
        with self._lock:
            return [
                v
                for v in self._approvals.values()
                if v.status == "pending" and any(approver_id in s.approvers for s in v.stages)
            ]

    def decide(
        self,
        approval_id: str,
        *,
        approver_id: str,
        approve: bool,
        reason: str | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> DecisionResult:
        emit = on_event or (lambda e: None)
        with self._lock:  # the compare-and-set
            view = self._approvals[approval_id]
            refusal = None
            if approver_id == view.requester_id:
                refusal = "You cannot approve or reject your own request."
            elif view.status != "pending":
                refusal = f"This request was already {view.status}."
            elif not any(approver_id in s.approvers for s in view.stages):
                refusal = "You are not an approver for this request."
            if refusal is not None:
                return DecisionResult(view, accepted=False, message=refusal, final=False)
            status: Literal["approved", "rejected"] = "approved" if approve else "rejected"
            stage = replace(view.stages[0], status=status)
            view = replace(view, status=status, decided_by=approver_id, decision_reason=reason, stages=(stage,))
            self._approvals[approval_id] = view
        self.notifier.approval_decided(view)
        who = self.directory.get(approver_id).label
        if approve:
            emit(Progress("updating the CRM…"))
            with self._lock:
                self.writes.append(ExecutedWrite(approval_id, view.thread_id, approver_id))
            answer = Answer(f"Done: the Acme Corporation renewal is now *Closed Won* (approved by {who}).")
        else:
            with self._lock:
                self.told[view.thread_id].append(f"rejected by {who}: {reason}")
            answer = Answer(f"{who} rejected the change (“{reason}”), so I did not make it.")
        emit(answer)
        self.outcomes[view.thread_id] = Outcome(view.thread_id, "answered", answer=answer)
        return DecisionResult(
            view, accepted=True, message=f"{status.capitalize()}.", final=True, outcome=status, resumed_thread=True
        )

    def thread_outcome(self, thread_id: str) -> Outcome:
        return self.outcomes.get(thread_id) or Outcome(thread_id, "answered")

    def retry(self, approval_id: str, *, operator_id: str) -> DecisionResult:
        """Scripted writes never fail, so there is never anything to retry."""
        view = self.get_approval(approval_id)
        return DecisionResult(view, accepted=False, message=f"Nothing to retry: it is {view.status}.", final=False)

    def approval_service(self) -> ScriptedApprovals:
        """The service API on these in-memory records (what the Slack bot calls)."""
        return ScriptedApprovals(self)


class ScriptedApprovals(ApprovalService):
    """:class:`ApprovalService` over a :class:`ScriptedRuntime`'s in-memory approvals.

    Only the reads differ (the records live in the runtime, not an app database): id prefixes,
    one request, what waits for someone. Deciding, the approver pre-check, batches' refusals and
    retry are the real service's code, with the scripted runtime as its decider."""

    def __init__(self, runtime: ScriptedRuntime) -> None:  # no store: the records are the runtime's
        self.directory = runtime.directory
        self.notifier = runtime.notifier
        # decide and retry as a Decider has them; it has no ApprovalStore (``Decider.approvals``),
        # which only batch decisions use, and the scripted runtime has no batches.
        self._decider = runtime  # type: ignore[assignment]
        self._runtime = runtime

    def resolve(self, typed: str) -> str:
        typed = typed.strip()
        with self._runtime._lock:
            ids = list(self._runtime._approvals)
        if typed in ids:
            return typed
        hits = [i for i in ids if typed and i.startswith(typed)]
        if not hits:
            raise RecordNotFound(f"approval {typed!r} not found; list requests with `chamberlain approvals list`")
        if len(hits) > 1:
            raise AmbiguousId(f"approval id prefix {typed!r} matches several requests; type more characters")
        return hits[0]

    def view(self, typed: str, *, viewer: str | None = None) -> ApprovalView:
        view = self._runtime.get_approval(self.resolve(typed))
        if viewer is not None and not involved(view, viewer):
            raise PermissionDenied("only the requester and the route's approvers may see this request")
        return view

    def pending_for(self, approver_id: str) -> list[ApprovalView]:
        return self._runtime.pending_for(approver_id)

    def batch(self, batch_id: str, *, viewer: str | None = None) -> list[ApprovalView]:
        raise RecordNotFound(f"no batch {batch_id!r} (the scripted runtime proposes one write per turn)")


__all__ = ["ExecutedWrite", "ScriptedApprovals", "ScriptedRuntime"]


# -- signed Slack requests (what Slack's servers send us) ------------------------------------------

TEAM_ID = "T0LARKSPUR"
APP_ID = "A0CHAMBERLAIN"


@dataclass(frozen=True)
class SlackRequest:
    body: str
    headers: dict[str, str]


def signed(
    secret: str,
    body: str,
    *,
    content_type: str,
    timestamp: int | None = None,
    retry_num: int | None = None,
) -> SlackRequest:
    """Sign ``body`` the way Slack does (v0 HMAC-SHA256 over ``v0:{timestamp}:{body}``)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": str(signature),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return SlackRequest(body, headers)


def event_request(
    secret: str,
    event: dict[str, object],
    *,
    event_id: str,
    retry_num: int | None = None,
    timestamp: int | None = None,
) -> SlackRequest:
    body = json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": "U0CHAMBERLAIN", "is_bot": True}],
        }
    )
    return signed(secret, body, content_type="application/json", retry_num=retry_num, timestamp=timestamp)


def mention_event(
    user: str, text: str, *, channel: str = "C0GENERAL", ts: str, thread_ts: str | None = None
) -> dict[str, object]:
    event: dict[str, object] = {
        "type": "app_mention",
        "user": user,
        "text": f"<@U0CHAMBERLAIN> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def dm_event(user: str, text: str, *, ts: str, thread_ts: str | None = None) -> dict[str, object]:
    event: dict[str, object] = {
        "type": "message",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": f"D{user}",
        "event_ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def command_request(
    secret: str, user: str, text: str, *, channel: str = "C0GENERAL", response_url: str
) -> SlackRequest:
    body = urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "channel_id": channel,
            "user_id": user,
            "command": "/chamberlain",
            "text": text,
            "api_app_id": APP_ID,
            "response_url": response_url,
            "trigger_id": f"trigger-{time.monotonic_ns()}",
        }
    )
    return signed(secret, body, content_type="application/x-www-form-urlencoded")


def _interactive(secret: str, payload: dict[str, object]) -> SlackRequest:
    body = urlencode({"payload": json.dumps(payload)})
    return signed(secret, body, content_type="application/x-www-form-urlencoded")


def action_request(
    secret: str,
    user: str,
    action_id: str,
    value: str,
    *,
    channel: str,
    message_ts: str,
    response_url: str,
) -> SlackRequest:
    now = f"{time.time():.6f}"
    return _interactive(
        secret,
        {
            "type": "block_actions",
            "team": {"id": TEAM_ID, "domain": "larkspur"},
            "user": {"id": user, "team_id": TEAM_ID},
            "api_app_id": APP_ID,
            "token": "legacy-verification-token",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
            "trigger_id": f"trigger-{time.monotonic_ns()}",
            "channel": {"id": channel},
            "message": {"ts": message_ts, "type": "message"},
            "response_url": response_url,
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": f"approval:{value}",
                    "value": value,
                    "type": "button",
                    "action_ts": now,
                }
            ],
        },
    )


def view_submission_request(secret: str, user: str, *, view: dict[str, object], reason: str) -> SlackRequest:
    """Submit the reject modal ``view`` (as opened through views.open) with ``reason`` typed in."""
    from agent.interfaces.slack.blocks import REASON_BLOCK, REASON_INPUT

    submitted = {
        **view,
        "team_id": TEAM_ID,
        "state": {"values": {REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input", "value": reason}}}},
        "hash": "h",
    }
    return _interactive(
        secret,
        {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": "larkspur"},
            "user": {"id": user, "team_id": TEAM_ID},
            "api_app_id": APP_ID,
            "token": "legacy-verification-token",
            "trigger_id": f"trigger-{time.monotonic_ns()}",
            "view": submitted,
        },
    )


__all__ += [
    "SlackRequest",
    "action_request",
    "command_request",
    "dm_event",
    "event_request",
    "mention_event",
    "signed",
    "view_submission_request",
]
