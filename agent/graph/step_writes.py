"""One app-database transaction per step that must commit, one per read-only turn.

A node's audit entries and usage records are collected while it runs and written together, in
one transaction (:meth:`connectors.appdb.AuditLog.append_prepared` with ``also=``): all of them
or none. A step that only hands on to another read-only step (``call_model`` asking for reads,
``gate`` running them) does not commit at all: it carries what it collected to the next step in
the graph state (``unlogged``, checkpointed with the step), and the step that ends the turn, or
hands it to a person or to a write, commits the whole turn's entries at once. A plain read turn
thus costs two transactions: the admission (counted before the model is called, so concurrent
turns of one person see each other in the budgets) and its end.

What stays true:

- Order in the hash chain is the order of events: before anything that writes to the app
  database on its own (the approval lifecycle, a write), the node calls :func:`flush`, which
  commits the carried entries first. Entries are stamped with the time they happened.
- An entry for a proposed write, an approval or an execution is durable before the effect it
  records: proposals and executions go through the lifecycle, which is preceded by a flush, and
  a step that ends at an approval commits before it waits.
- Carried entries are prepared (PII-redacted, serialised) when logged: the checkpoint never
  holds an unredacted audit entry. A process killed mid-turn leaves them in the checkpoint of the
  last step; the thread's next run (``ask`` resumes a crashed turn first) commits them with the
  rest of the turn. A node that raises commits everything it holds at once. A node that
  LangGraph runs again after a crash (the commit made, the checkpoint not) gets the same
  hand-over back and commits it at most once: the flush looks for its first entry in the log,
  in the same transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypedDict

from sqlalchemy import Connection

from connectors.appdb import AuditLog
from connectors.appdb.audit import PreparedEntry, RawEntry
from connectors.appdb.usage_store import UsageRow, insert_usage

# A write in the step's transaction; it may return audit entries of its own (what it decided).
Write = Callable[[Connection], Sequence[RawEntry] | None]


class Unlogged(TypedDict):
    """What read-only steps of this turn collected and did not commit yet (graph state)."""

    audit: list[PreparedEntry]
    usage: list[UsageRow]


class StepWrites:
    """The app-database writes of one graph step (and those handed to it), not yet committed."""

    def __init__(self, audit: AuditLog, carried: Unlogged | None = None) -> None:
        self.audit = audit
        self.entries: list[PreparedEntry] = list(carried["audit"]) if carried else []
        self.usage: list[UsageRow] = list(carried["usage"]) if carried else []
        self.writes: list[Write] = []
        # The hand-over is committed at most once: a step that LangGraph runs again (the process
        # died after this step's commit, before its checkpoint) gets the same ``carried`` back.
        self.handed = _Handover.of(carried)

    def flush(self) -> None:
        entries, usage, writes, handed = self.entries, self.usage, self.writes, self.handed
        self.entries, self.usage, self.writes, self.handed = [], [], [], None
        if handed is not None:
            self.audit.append_prepared(handed.entries_of(entries), also=[handed.check, handed.usage_of(usage), *writes])
            return
        if usage:
            writes = [_usage_write(usage), *writes]
        if entries or writes:
            self.audit.append_prepared(entries, also=writes)

    def carry(self) -> Unlogged | None:
        """Hand what this step holds to the next step instead of committing it; None (nothing
        taken) when it holds a write that cannot wait in a checkpoint."""
        if self.writes:
            return None
        out = Unlogged(audit=self.entries, usage=self.usage)
        self.entries, self.usage, self.handed = [], [], None  # the next step commits them
        return out


class _Handover:
    """What earlier steps handed on: the first ``n_entries`` entries and ``n_usage`` usage rows
    of a flush. Its entries carry the time they were logged, to the microsecond, so the flush
    can tell, in its own transaction, whether an earlier run of this step committed them
    already (its first entry is in the log) and then leaves the hand-over out."""

    def __init__(self, first_entry: PreparedEntry, n_entries: int, n_usage: int) -> None:
        self.first_entry, self.n_entries, self.n_usage = first_entry, n_entries, n_usage
        self.new = True

    @classmethod
    def of(cls, carried: Unlogged | None) -> _Handover | None:
        if not carried or not carried["audit"]:
            return None  # usage alone is never handed on: a model call also logs its turn
        return cls(carried["audit"][0], len(carried["audit"]), len(carried["usage"]))

    def check(self, c: Connection) -> None:
        self.new = not AuditLog.has_prepared(c, self.first_entry)

    def entries_of(self, entries: list[PreparedEntry]) -> Callable[[], list[PreparedEntry]]:
        return lambda: entries if self.new else entries[self.n_entries :]

    def usage_of(self, usage: list[UsageRow]) -> Write:
        def write(c: Connection) -> None:
            insert_usage(c, usage if self.new else usage[self.n_usage :])

        return write


def _usage_write(rows: list[UsageRow]) -> Write:
    def write(c: Connection) -> None:
        insert_usage(c, rows)

    return write


_CURRENT: ContextVar[StepWrites | None] = ContextVar("chamberlain_step_writes", default=None)


@contextmanager
def step(audit: AuditLog, carried: Unlogged | None = None) -> Iterator[StepWrites]:
    """Collect the writes of the code inside (after those ``carried`` from earlier steps);
    commit what is left when it ends, also when it raises."""
    writes = StepWrites(audit, carried)
    token = _CURRENT.set(writes)
    try:
        yield writes
    finally:
        _CURRENT.reset(token)
        writes.flush()


def _current(audit: AuditLog) -> StepWrites | None:
    writes = _CURRENT.get()
    return writes if writes is not None and writes.audit is audit else None


def log(
    audit: AuditLog,
    event: str,
    *,
    actor: str,
    thread_id: str | None = None,
    approval_id: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    """An audit entry: part of the current step's transaction, or its own outside a step."""
    writes = _current(audit)
    if writes is None:
        audit.append(event, actor=actor, thread_id=thread_id, approval_id=approval_id, data=data)
    else:
        writes.entries.append(
            audit.prepare(event, actor=actor, thread_id=thread_id, approval_id=approval_id, data=data)
        )


def record_usage(audit: AuditLog, row: UsageRow) -> None:
    """A usage record (connectors.appdb.UsageStore rows): with the current step's writes, or its
    own transaction outside a step."""
    writes = _current(audit)
    if writes is None:
        audit.append_prepared([], also=[_usage_write([row])])
    else:
        writes.usage.append(row)


def write(audit: AuditLog, fn: Write) -> None:
    """Another write in the current step's transaction, or its own outside one. The step then
    commits when it ends (a write does not wait in a checkpoint)."""
    writes = _current(audit)
    if writes is None:
        audit.append_prepared([], also=[fn])
    else:
        writes.writes.append(fn)


def flush() -> None:
    """Commit what the current step holds so far (before a component writes on its own, or when
    a write must be visible now)."""
    writes = _CURRENT.get()
    if writes is not None:
        writes.flush()


def in_one_transaction(
    audit_of: Callable[[Any], AuditLog], hands_on: Callable[[Any, dict[str, Any]], bool] | None = None
) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Decorate a graph node ``(state, runtime) -> update``: its writes commit together at its
    end, or, when ``hands_on(state, update)`` says the next step is read-only too, ride to it in
    the state's ``unlogged``."""

    def wrap(node: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        @functools.wraps(node)
        def run(state: Any, runtime: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
            held = state.get("unlogged") or None
            with step(audit_of(runtime), held) as writes:
                update = node(state, runtime, *args, **kwargs)
                carried = writes.carry() if hands_on is not None and hands_on(state, update) else None
                if carried is not None and (carried["audit"] or carried["usage"]):
                    update = {**update, "unlogged": carried}
                elif held:
                    writes.flush()  # committed here, so the state must not hand them on again
                    update = {**update, "unlogged": None}
            return update

        return run

    return wrap


__all__ = ["StepWrites", "Unlogged", "flush", "in_one_transaction", "log", "record_usage", "step", "write"]
