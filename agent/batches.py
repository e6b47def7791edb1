"""Batch decisions: the writes one turn proposes are shown as one card, decided per item.

- :func:`group_turn_writes` runs in the gate before anything is proposed: when the model asks
  for two or more writes in one turn, their dedupe keys are recorded as one batch
  (``connectors/appdb/batches.py``).
- :func:`batch_views` is what every surface renders: the batch's items, each a full
  :class:`~agent.events.ApprovalView` (its own diff, route, state and end state).
- :func:`decide_batch` is "approve all" (or "reject all"): one ordinary decision per item,
  through the one lifecycle. An item the approver may not decide is refused for that item
  only; a concurrent per-item click, a double click or a second "approve all" is refused by the
  store (one vote row per person and stage, compare-and-set transitions), and each item still
  executes at most once (claim with its own idempotency key).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.events import ApprovalView
from connectors.appdb.batches import BatchStore, batch_id_for

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from agent.events import Decider, DecisionResult, Event
    from policies.directory import Directory

#: Fewer writes in a turn than this make ordinary cards.
MIN_ITEMS = 2


def group_turn_writes(
    engine: Engine, thread_id: str, calls: Sequence[Mapping[str, Any]], is_write: Any, cap: int
) -> str | None:
    """Record the turn's write calls (up to the per-turn cap) as one batch; its id, or None."""
    ids = [str(c.get("id") or f"call_{i}") for i, c in enumerate(calls) if is_write(c.get("name"))][:cap]
    if len(ids) < MIN_ITEMS:
        return None
    batch_id = batch_id_for(thread_id, ids)
    BatchStore(engine).group(batch_id, [f"{thread_id}:{i}" for i in ids], thread_id=thread_id or None)
    return batch_id


def batch_of(engine: Engine, dedupe_key: str) -> str | None:
    """The batch a proposal belongs to (recorded only for turns with two or more writes; it is
    a batch even while its siblings are still being filed, so nobody gets a single card first)."""
    return BatchStore(engine).batch_of(dedupe_key)


def batch_views(engine: Engine, directory: Directory, batch_id: str) -> list[ApprovalView]:
    """Every filed item of the batch, as it is now; empty for an unknown batch."""
    from agent.views import approval_view
    from connectors.appdb import ApprovalStore

    store = ApprovalStore(engine)
    return [approval_view(store.get(i), directory, engine=engine) for i in BatchStore(engine).items(batch_id)]


def involved(view: ApprovalView, person: str) -> bool:
    """The requester and the route's approvers may see an item; nobody else."""
    return person == view.requester_id or any(person in s.approvers for s in view.stages)


@dataclass(frozen=True)
class ItemDecision:
    approval_id: str
    title: str
    accepted: bool
    message: str
    status: str
    outcome: str
    resume_queued: str | None = None  # the conversation queued to continue (DecisionResult)


@dataclass(frozen=True)
class BatchDecision:
    batch_id: str
    items: tuple[ItemDecision, ...]

    @property
    def accepted(self) -> int:
        return sum(1 for i in self.items if i.accepted)

    @property
    def queued_threads(self) -> tuple[str, ...]:
        """Conversations the decisions queued to continue elsewhere (each once)."""
        return tuple(dict.fromkeys(i.resume_queued for i in self.items if i.resume_queued))

    def summary(self) -> str:
        """One line for the person who clicked: how many were recorded, and why not the rest."""
        done = [i for i in self.items if i.accepted]
        refused = [i for i in self.items if not i.accepted]
        parts = [f"{len(done)} of {len(self.items)} decided"]
        for i in refused:
            parts.append(f"{i.title} ({i.approval_id}): {i.message.rstrip('.')}")
        return "; ".join(parts) + "."

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "accepted": self.accepted,
            "message": self.summary(),
            "items": [
                {
                    "approval_id": i.approval_id,
                    "accepted": i.accepted,
                    "message": i.message,
                    "status": i.status if i.accepted else None,
                    "outcome": i.outcome if i.accepted else None,
                }
                for i in self.items
            ],
        }


def decide_batch(
    runtime: Decider,
    batch_id: str,
    *,
    approver_id: str,
    approve: bool,
    reason: str | None = None,
    only: Sequence[str] | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> BatchDecision:
    """Decide every item of ``batch_id`` still waiting (``only``: just these approval ids) as
    ``approver_id``, each through ``runtime.decide`` (agent.runtime.chamberlain.Chamberlain)."""
    from connectors.errors import RecordNotFound

    ids = BatchStore(runtime.approvals.engine).items(batch_id)
    if not ids:
        raise RecordNotFound(f"batch {batch_id!r} not found")
    if only is not None:
        unknown = sorted(set(only) - set(ids))
        if unknown:
            raise RecordNotFound(f"{', '.join(unknown)} not in batch {batch_id}")
        ids = [i for i in ids if i in set(only)]
    out: list[ItemDecision] = []
    for approval_id in ids:
        rec = runtime.approvals.get(approval_id)
        if rec.status != "pending":
            out.append(ItemDecision(approval_id, rec.title, False, f"already {rec.status}", rec.status, ""))
            continue
        res: DecisionResult = runtime.decide(
            approval_id, approver_id=approver_id, approve=approve, reason=reason, on_event=on_event
        )
        out.append(
            ItemDecision(
                approval_id, rec.title, res.accepted, res.message, res.approval.status, res.outcome, res.resume_queued
            )
        )
    return BatchDecision(batch_id, tuple(out))


__all__ = [
    "BatchDecision",
    "ItemDecision",
    "batch_of",
    "batch_views",
    "decide_batch",
    "group_turn_writes",
    "involved",
]
