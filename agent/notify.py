"""How approvers hear about requests. The Slack bot implements :class:`Notifier`; the CLI works
with :class:`NullNotifier` (approvers use ``chamberlain approvals list``).

Through the outbox (the default when Slack is configured): :func:`notification_hook` runs
inside every approval state change's transaction and queues a ``notification`` row, and
:class:`NotificationChannel` delivers it from the worker by calling the real notifier with the
request *as it is now*. A crash between a decision and its notification therefore loses
nothing, and because every delivery renders the current state, late or repeated notifications
converge on the truthful card (executed, failed, stale, expired, withdrawn).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from agent.events import ApprovalView

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from connectors.appdb import ApprovalRecord, ApprovalStore
    from connectors.outbox import NewMessage, SentMessage, SqlOutbox
    from policies.directory import Directory


class Notifier(Protocol):
    def approval_requested(self, view: ApprovalView) -> None:
        """A request is waiting for the approvers of its current stage."""

    def approval_decided(self, view: ApprovalView) -> None:
        """A request (or one stage of it) was decided; update every copy of its card."""

    def approval_reminder(self, view: ApprovalView, *, escalated: bool) -> None:
        """A request is overdue; remind (or, when escalated, ask the next level)."""


class NullNotifier:
    def approval_requested(self, view: ApprovalView) -> None:
        return None

    def approval_decided(self, view: ApprovalView) -> None:
        return None

    def approval_reminder(self, view: ApprovalView, *, escalated: bool) -> None:
        return None


class RecordingNotifier:
    """Keeps what it was told; used by tests and the CLI demo to show who was notified."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ApprovalView]] = []

    def approval_requested(self, view: ApprovalView) -> None:
        self.events.append(("requested", view))

    def approval_decided(self, view: ApprovalView) -> None:
        self.events.append(("decided", view))

    def approval_reminder(self, view: ApprovalView, *, escalated: bool) -> None:
        self.events.append(("escalated" if escalated else "reminder", view))


#: Store events → what the notifier is asked to do with the current view.
_REQUESTED = {"requested", "approved"}
_REMINDERS = {"reminder": False, "escalated": True}


def notification_hook(outbox: SqlOutbox) -> Callable[[Connection, ApprovalRecord, str], None]:
    """An ``ApprovalStore.on_change`` that queues one notification row per state change."""

    def queue(c: Connection, rec: ApprovalRecord, event: str) -> None:
        outbox.send(
            f"approvers of {rec.id}",
            f"{event}: {rec.title}",
            # One row per (request, version): a re-run of the same change cannot queue twice,
            # and a new change always gets its own row.
            idempotency_key=f"notify:{rec.id}:{rec.version}:{event}",
            kind="notification",
            channel="notify",
            requester_id=rec.requester_id,
            thread_id=rec.thread_id,
            payload={"event": event, "approval_id": rec.id, "version": rec.version},
            connection=c,
        )

    return queue


APPROVAL_KEY_PREFIX = "chamberlain-apr_"  # an approved write's idempotency key (ApprovalStore.create)


def card_update_for_delivery(message: SentMessage, state: str) -> NewMessage | None:
    """The card update a delivered (or failed) approved message queues with its mark, so every
    copy of the approval's card shows the message's real delivery state."""
    from connectors.outbox import NewMessage

    if message.kind != "message" or not message.idempotency_key.startswith(APPROVAL_KEY_PREFIX):
        return None
    approval_id = message.idempotency_key.removeprefix("chamberlain-")
    return NewMessage(
        recipient=f"approvers of {approval_id}",
        text=f"delivery {state}: {approval_id}",
        idempotency_key=f"notify:{approval_id}:delivery:{message.id}:{state}:{message.attempts}",
        kind="notification",
        channel="notify",
        requester_id=message.requester_id,
        thread_id=message.thread_id,
        payload={"event": f"delivery_{state}", "approval_id": approval_id},
    )


class NotificationChannel:
    """Delivers ``notification`` rows by calling ``notifier`` with the request's current view."""

    name = "notify"

    def __init__(self, notifier: Notifier, store: ApprovalStore, directory: Directory) -> None:
        self.notifier = notifier
        self.store = store
        self.directory = directory

    def deliver(self, message: SentMessage) -> str:
        from agent.views import approval_view
        from connectors.errors import DeliveryRefused, RecordNotFound

        event = str(message.payload.get("event", ""))
        approval_id = str(message.payload.get("approval_id", ""))
        try:
            rec = self.store.get(approval_id)
        except RecordNotFound as exc:
            raise DeliveryRefused(f"approval {approval_id} no longer exists") from exc
        view = approval_view(rec, self.directory)
        if event in _REQUESTED:
            self.notifier.approval_requested(view)
        elif event in _REMINDERS:
            self.notifier.approval_reminder(view, escalated=_REMINDERS[event])
        else:  # decided, withdrawn, stale, expired, executed, failed, delivery_*: every card shows it
            self.notifier.approval_decided(view)
        return f"{event} → card shows {rec.status}"


__all__ = [
    "NotificationChannel",
    "Notifier",
    "NullNotifier",
    "RecordingNotifier",
    "card_update_for_delivery",
    "notification_hook",
]
