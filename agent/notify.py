"""How approvers hear about requests. The Slack bot implements :class:`Notifier`; the CLI works
with :class:`NullNotifier` (approvers use ``chamberlain approvals list``)."""

from __future__ import annotations

from typing import Protocol

from agent.events import ApprovalView


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


__all__ = ["Notifier", "NullNotifier", "RecordingNotifier"]
