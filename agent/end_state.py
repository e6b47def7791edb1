"""What really became of an approval request, in words every copy of its card shows.

A card that says "approved" while the action failed, or "done" while the approved message is
still waiting in the outbox, is worse than no card. :func:`end_state` reads the request as it is
now (and, when it can, the outbox row its action queued and the request it was re-routed as)
and says, in one plain sentence: executed (with the result's id and, for a message, its
delivery state), failed (why, who may retry and how), stale (what changed; the fresh request),
expired, withdrawn, rejected or still waiting. Slack, the HTTP API, the web page and the CLI
all render this one value, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from connectors.appdb import ApprovalRecord
    from policies.directory import Directory

#: ``message id → (status, delivery ref, last error)`` of an outbox row, or None if unknown.
DeliveryLookup = Callable[[str], "tuple[str, str | None, str | None] | None"]
#: ``dedupe key → approval id`` of an existing request, or None.
RequestLookup = Callable[[str], "str | None"]

RETRY_ROLE = "it_admin"  # who may retry any failed execution (agent.approvals.Lifecycle.retry)


@dataclass(frozen=True)
class EndState:
    """The request's real state, for people. ``headline`` is one sentence without markup."""

    state: str  # the approval's status
    headline: str
    result_id: str | None = None  # what the action created or changed (a CRM record, a message)
    delivery: str | None = None  # a queued message: queued | sending | sent | failed
    delivery_ref: str | None = None  # the channel's id for a sent message (Slack ts, Message-ID)
    retry_by: tuple[str, ...] = ()  # who may retry a failed execution (labels)
    retry_command: str | None = None
    rerouted_as: str | None = None  # the fresh request a stale one was routed as

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "headline": self.headline,
            "result_id": self.result_id,
            "delivery": self.delivery,
            "delivery_ref": self.delivery_ref,
            "retry_by": list(self.retry_by),
            "retry_command": self.retry_command,
            "rerouted_as": self.rerouted_as,
        }


def end_state(
    rec: ApprovalRecord,
    directory: Directory,
    *,
    delivery: DeliveryLookup | None = None,
    find_request: RequestLookup | None = None,
) -> EndState:
    def label(pid: str | None) -> str:
        if not pid:
            return "someone"
        if pid.startswith(("policy:", "system:")):
            return "policy" if pid.startswith("policy:") else "the system"
        p = directory.find(pid)
        return p.label if p else pid

    status = rec.status
    by = label(rec.decided_by)
    if status == "pending":
        stage = rec.stage
        who = ", ".join(label(a) for a in rec.approvers_now()) or "nobody"
        where = f" ({stage.name})" if stage else ""
        return EndState(status, f"Waiting for a decision{where} from {who}.")
    if status == "approved":
        return EndState(status, f"Approved by {by}; it has not run yet and will run exactly once.")
    if status == "executing":
        return EndState(status, f"Approved by {by}; it is running now.")
    if status == "executed":
        return _executed(rec, by, delivery)
    if status == "failed":
        result = rec.result if isinstance(rec.result, Mapping) else {}
        why = _sentence(str(result.get("error") or "the action reported an error without a reason"))
        involved = [rec.requester_id, *(a for s in rec.stages for a in s.approvers)]
        retriers = (*dict.fromkeys(label(p) for p in involved), "an IT admin")
        hint = "" if result.get("retryable") else " Fix the cause first: a retry sends the same change again."
        return EndState(
            status,
            f"Approved by {by}, but it failed: {why}{hint}",
            retry_by=retriers,
            retry_command=f"chamberlain approvals retry {rec.id} --user YOUR_ID",
        )
    if status == "stale":
        why = _sentence(rec.decision_reason or "the target changed after the request was made")
        fresh = find_request(f"{rec.dedupe_key}:reroute:{rec.id}") if find_request else None
        tail = (
            f" It was routed again on the current values as {fresh}."
            if fresh
            else " Ask again to propose it on the current values."
        )
        return EndState(status, f"Not run: {why} Nothing was overwritten.{tail}", rerouted_as=fresh)
    if status == "expired":
        when = f" on {rec.decided_at:%Y-%m-%d %H:%M} UTC" if rec.decided_at else ""
        return EndState(status, f"Expired{when} without a decision; nothing ran.")
    if status == "withdrawn":
        return EndState(status, f"Withdrawn by {label(rec.requester_id)}; nothing ran.")
    if status == "rejected":
        if (rec.decided_by or "").startswith("policy:"):
            why = _sentence(rec.decision_reason or "the execution-time check refused it")
            return EndState(status, f"Approved, but refused when it was about to run: {why} Nothing ran.")
        why = f": “{rec.decision_reason}”" if rec.decision_reason else ""
        return EndState(status, f"Rejected by {by}{why}; nothing ran.")
    return EndState(status, f"The request is {status}.")


def _executed(rec: ApprovalRecord, by: str, delivery: DeliveryLookup | None) -> EndState:
    result = rec.result if isinstance(rec.result, Mapping) else {}
    message_id = result.get("message_id")
    if isinstance(message_id, str) and message_id:
        seen = delivery(message_id) if delivery is not None else None
        if seen is None:
            return EndState(
                "executed",
                f"Approved by {by}; the message was queued as {message_id} for delivery.",
                result_id=message_id,
                delivery="queued",
            )
        state, ref, error = seen
        words = {
            "queued": "is queued for delivery",
            "sending": "is being delivered",
            "sent": f"was delivered ({ref})" if ref else "was delivered",
            "failed": f"could not be delivered: {_sentence(error or 'no reason given')}",
        }
        line = f"Approved by {by}; the message {message_id} {words.get(state, state)}"
        line = line if line.endswith(".") else line + "."
        retry = f"chamberlain outbox retry {message_id[:8]}" if state == "failed" else None
        return EndState(
            "executed",
            line,
            result_id=message_id,
            delivery=state,
            delivery_ref=ref,
            retry_by=("an operator",) if retry else (),
            retry_command=retry,
        )
    ref = result.get("ref")  # e.g. crm://notes/40009: names its kind already
    rid = ref or result.get("id") or result.get("report_id") or result.get("request_id")
    what = f" {result.get('object_type')}" if result.get("object_type") and not ref else ""
    done = f"; result:{what} {rid}" if rid else ""
    return EndState("executed", f"Approved by {by} and done{done}.", result_id=str(rid) if rid else None)


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > 300:
        text = text[:299] + "…"
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def app_db_lookups(engine: Engine) -> tuple[DeliveryLookup, RequestLookup]:
    """The two lookups over one app database (the outbox table may not exist yet)."""
    from sqlalchemy import inspect, select
    from sqlalchemy.exc import SQLAlchemyError

    from connectors.appdb._schema import approvals
    from connectors.outbox import outbox_table

    have_outbox: list[bool] = []

    def delivery(message_id: str) -> tuple[str, str | None, str | None] | None:
        if not have_outbox:
            have_outbox.append(inspect(engine).has_table("outbox"))
        if not have_outbox[0]:
            return None
        t = outbox_table.c
        try:
            with engine.connect() as c:
                row = c.execute(select(t.status, t.delivery_ref, t.last_error).where(t.id == message_id)).first()
        except SQLAlchemyError:
            return None
        return (str(row[0]), row[1], row[2]) if row else None

    def find_request(dedupe_key: str) -> str | None:
        with engine.connect() as c:
            return c.execute(select(approvals.c.id).where(approvals.c.dedupe_key == dedupe_key)).scalar()

    return delivery, find_request


__all__ = ["DeliveryLookup", "EndState", "RequestLookup", "app_db_lookups", "end_state"]
