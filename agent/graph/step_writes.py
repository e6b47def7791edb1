"""One app-database transaction per graph step.

A turn used to open a transaction per audit entry and per usage record (about ten per turn,
each a ``BEGIN IMMEDIATE`` and a commit). Now a node's audit entries and usage records are
collected while it runs and written together when it ends, in one transaction
(:meth:`connectors.appdb.AuditLog.append_many` with ``also=``): all of them or none.

Order in the hash chain stays the order of events: before anything that writes to the app
database on its own (the approval lifecycle, a tool), the node calls :func:`flush`. The buffer
is flushed when the node ends, also when it raises; a process killed mid-step loses the step's
entries together with the step itself, which LangGraph then runs again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlalchemy import Connection

from connectors.appdb import AuditLog

Write = Callable[[Connection], None]
_Entry = tuple[str, str, str | None, str | None, Mapping[str, Any] | None]


class StepWrites:
    """The app-database writes of one graph step, not yet committed."""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit
        self.entries: list[_Entry] = []
        self.writes: list[Write] = []

    def flush(self) -> None:
        entries, writes = self.entries, self.writes
        self.entries, self.writes = [], []
        if entries or writes:
            self.audit.append_many(entries, also=writes)


_CURRENT: ContextVar[StepWrites | None] = ContextVar("chamberlain_step_writes", default=None)


@contextmanager
def step(audit: AuditLog) -> Iterator[StepWrites]:
    """Collect the writes of the code inside; commit them together when it ends."""
    writes = StepWrites(audit)
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
        writes.entries.append((event, actor, thread_id, approval_id, data))


def write(audit: AuditLog, fn: Write) -> None:
    """Another write (a usage record) in the current step's transaction, or its own outside one."""
    writes = _current(audit)
    if writes is None:
        audit.append_many([], also=[fn])
    else:
        writes.writes.append(fn)


def flush() -> None:
    """Commit what the current step collected so far (before a component writes on its own)."""
    writes = _CURRENT.get()
    if writes is not None:
        writes.flush()


F = TypeVar("F", bound=Callable[..., Any])


def in_one_transaction(audit_of: Callable[[Any], AuditLog]) -> Callable[[F], F]:
    """Decorate a graph node ``(state, runtime)``: its writes commit together at its end."""

    def wrap(node: F) -> F:
        @functools.wraps(node)
        def run(state: Any, runtime: Any, *args: Any, **kwargs: Any) -> Any:
            with step(audit_of(runtime)):
                return node(state, runtime, *args, **kwargs)

        return run  # type: ignore[return-value]

    return wrap


__all__ = ["StepWrites", "flush", "in_one_transaction", "log", "step", "write"]
