"""The append-only, hash-chained audit log.

Each entry's hash covers its content and the previous entry's hash, and a one-row head table
holds the latest (seq, hash). Appends advance the head with compare-and-set, so concurrent
writers cannot fork the chain. :meth:`AuditLog.verify` recomputes the chain and names the first
entry that was edited, deleted or reordered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from connectors.appdb._prepared import Prepared
from connectors.appdb._schema import audit_head, audit_log
from connectors.appdb.approvals import canonical_json, now_utc
from connectors.errors import ConflictError

GENESIS = "0" * 64

# Built once, and run on the driver (connectors/appdb/_prepared.py): every turn appends to the
# chain, and SQLAlchemy's per-execution work would cost ten times the statements themselves.
_HEAD = Prepared(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1))
_INIT_HEAD = insert(audit_head).values(id=1, seq=0, hash=bindparam("hash"))
_ADVANCE_HEAD = Prepared(
    update(audit_head)
    .where(
        and_(
            audit_head.c.id == 1,
            audit_head.c.seq == bindparam("prev_seq"),
            audit_head.c.hash == bindparam("prev_hash"),
        )
    )
    .values(seq=bindparam("seq"), hash=bindparam("hash"))
)
_INSERT = Prepared(insert(audit_log), columns=[c.name for c in audit_log.columns])
# Is this prepared entry in the log already? (a hand-over re-committed after a crash)
_HAS_ENTRY = Prepared(
    select(audit_log.c.seq)
    .where(
        audit_log.c.at == bindparam("at"),
        audit_log.c.actor == bindparam("actor"),
        audit_log.c.event == bindparam("event"),
        audit_log.c.data_json == bindparam("data_json"),
        or_(
            audit_log.c.thread_id == bindparam("thread_id"),
            and_(audit_log.c.thread_id.is_(None), bindparam("no_thread") == True),  # noqa: E712
        ),
    )
    .limit(1)
)

# ``(event, actor, thread_id, approval_id, data)`` as a caller logs it.
RawEntry = tuple[str, str, str | None, str | None, Mapping[str, Any] | None]
# ``[event, actor, thread_id, approval_id, data_json, at]``: redacted, serialised and stamped
# (:meth:`AuditLog.prepare`); a list of strings, so a checkpoint can hold it.
PreparedEntry = list[str | None]


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    event: str
    thread_id: str | None
    approval_id: str | None
    data: Mapping[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "event": self.event,
            "thread_id": self.thread_id,
            "approval_id": self.approval_id,
            "data": self.data,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    entries: int
    problems: tuple[str, ...]


def _entry_hash(
    prev: str,
    seq: int,
    at: datetime,
    actor: str,
    event: str,
    thread_id: str | None,
    approval_id: str | None,
    data_json: str,
) -> str:
    body = canonical_json([prev, seq, at.astimezone(UTC).isoformat(), actor, event, thread_id, approval_id, data_json])
    return hashlib.sha256(body.encode()).hexdigest()


class AuditLog:
    """Append and read audit entries. ``redact`` scrubs data before it is stored (PII, secrets)."""

    def __init__(
        self,
        engine: Engine,
        *,
        redact: Callable[[Any], Any] | None = None,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.engine = engine
        self._redact = redact or (lambda x: x)
        self._clock = clock

    def append(
        self,
        event: str,
        *,
        actor: str,
        thread_id: str | None = None,
        approval_id: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        return self.append_many([(event, actor, thread_id, approval_id, data)])[0]

    def prepare(
        self,
        event: str,
        *,
        actor: str,
        thread_id: str | None = None,
        approval_id: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> PreparedEntry:
        """An entry ready to append later (:meth:`append_prepared`): its data redacted and
        serialised now, stamped with the time it happened. Plain strings, so a graph step can hand
        it to the next in its checkpoint (agent/graph/step_writes.py)."""
        data_json = canonical_json(self._redact(dict(data or {})))
        return [event, actor, thread_id, approval_id, data_json, self._clock().astimezone(UTC).isoformat()]

    def append_many(
        self,
        entries: Sequence[RawEntry],
        *,
        also: Sequence[Callable[[Connection], Sequence[RawEntry] | None]] = (),
    ) -> list[AuditEntry]:
        """Append ``(event, actor, thread_id, approval_id, data)`` entries, in order, in one
        transaction (one lock, one commit): all of them or none. ``also``: see :meth:`append_prepared`."""
        return self.append_prepared(
            [self.prepare(e, actor=a, thread_id=t, approval_id=ap, data=d) for e, a, t, ap, d in entries], also=also
        )

    @staticmethod
    def has_prepared(c: Connection, entry: PreparedEntry) -> bool:
        """Whether ``entry`` (from :meth:`prepare`) is in the log already, in the caller's
        transaction: same time to the microsecond, actor, event, thread and data."""
        event, actor, thread_id, _approval_id, data_json, at_iso = entry
        params = {
            "at": datetime.fromisoformat(str(at_iso)),
            "actor": actor,
            "event": event,
            "data_json": data_json,
            "thread_id": thread_id,
            "no_thread": thread_id is None,
        }
        return _HAS_ENTRY.execute(c, params).first() is not None

    def append_prepared(
        self,
        entries: Sequence[PreparedEntry] | Callable[[], Sequence[PreparedEntry]],
        *,
        also: Sequence[Callable[[Connection], Sequence[RawEntry] | None]] = (),
    ) -> list[AuditEntry]:
        """Append prepared entries, in order, in one transaction: all of them or none.

        ``also``: other writes of the same step (usage records, a budget admission that reads
        and counts), run first in that transaction so one commit holds them all. One may return
        entries of its own (what it decided): they follow ``entries`` in the chain. They run
        again if the head moved under us (the transaction is retried as a whole). ``entries``
        may be a function, called after them (what to append may depend on what they found)."""
        if not entries and not also:
            return []
        for _ in range(50):
            try:
                with self.engine.begin() as c:
                    decided: list[PreparedEntry] = []
                    for write in also:
                        more = write(c)
                        if more:
                            decided += [
                                self.prepare(e, actor=a, thread_id=t, approval_id=ap, data=d) for e, a, t, ap, d in more
                            ]
                    batch = [*(entries() if callable(entries) else entries), *decided]
                    if not batch:
                        return []
                    return self._chain(c, batch)
            except (_Retry, IntegrityError):
                continue
        raise ConflictError("could not append to the audit log: too much contention")

    def _chain(self, c: Connection, batch: Sequence[PreparedEntry]) -> list[AuditEntry]:
        """Link ``batch`` after the head and advance it, in the caller's transaction."""
        head = _HEAD.execute(c).first()
        if head is None:
            c.execute(_INIT_HEAD, {"hash": GENESIS})
            first_seq, first_hash = 0, GENESIS
        else:
            first_seq, first_hash = int(head[0]), str(head[1])
        seq, prev = first_seq, first_hash
        out: list[AuditEntry] = []
        rows: list[dict[str, Any]] = []
        for event, actor, thread_id, approval_id, data_json, at_iso in batch:
            seq += 1
            at = datetime.fromisoformat(str(at_iso))
            h = _entry_hash(prev, seq, at, str(actor), str(event), thread_id, approval_id, str(data_json))
            rows.append(
                {
                    "seq": seq,
                    "at": at,
                    "actor": actor,
                    "event": event,
                    "thread_id": thread_id,
                    "approval_id": approval_id,
                    "data_json": data_json,
                    "prev_hash": prev,
                    "hash": h,
                }
            )
            out.append(
                AuditEntry(seq, at, str(actor), str(event), thread_id, approval_id, json.loads(str(data_json)), prev, h)
            )
            prev = h
        # Compare-and-set on the head: on PostgreSQL two writers may read the same head.
        res = _ADVANCE_HEAD.execute(c, {"seq": seq, "hash": prev, "prev_seq": first_seq, "prev_hash": first_hash})
        if res.rowcount != 1:
            raise _Retry()
        _INSERT.executemany(c, rows)
        return out

    def entries(
        self,
        *,
        thread_id: str | None = None,
        approval_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[AuditEntry]:
        q = select(audit_log).order_by(audit_log.c.seq.desc() if newest_first else audit_log.c.seq)
        if thread_id is not None:
            q = q.where(audit_log.c.thread_id == thread_id)
        if approval_id is not None:
            q = q.where(audit_log.c.approval_id == approval_id)
        if since is not None:
            q = q.where(audit_log.c.at >= since)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as c:
            for r in c.execute(q).mappings():
                yield _entry(r)

    def search(
        self,
        *,
        text: str | None = None,
        actor: str | None = None,
        events: Sequence[str] | None = None,
        thread_id: str | None = None,
        approval_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_seq: int | None = None,
        limit: int = 200,
    ) -> list[AuditEntry]:
        """Newest first. ``text`` matches actor, event, thread, approval id or the entry's data
        (a bound LIKE pattern with wildcards escaped: it is never SQL)."""
        q = select(audit_log).order_by(audit_log.c.seq.desc()).limit(max(1, min(limit, 100_000)))
        if text:
            cols = (audit_log.c.data_json, audit_log.c.actor, audit_log.c.event, audit_log.c.thread_id)
            q = q.where(or_(*(col.contains(text, autoescape=True) for col in cols), audit_log.c.approval_id == text))
        if actor is not None:
            q = q.where(audit_log.c.actor == actor)
        if events:
            q = q.where(audit_log.c.event.in_(list(events)))
        if thread_id is not None:
            q = q.where(audit_log.c.thread_id == thread_id)
        if approval_id is not None:
            q = q.where(audit_log.c.approval_id == approval_id)
        if since is not None:
            q = q.where(audit_log.c.at >= since)
        if until is not None:
            q = q.where(audit_log.c.at < until)
        if before_seq is not None:
            q = q.where(audit_log.c.seq < before_seq)
        with self.engine.connect() as c:
            return [_entry(r) for r in c.execute(q).mappings()]

    def verify(self) -> VerifyReport:
        """Recompute the chain; report every entry that was edited, deleted or reordered."""
        problems: list[str] = []
        prev_hash, expected_seq, n = GENESIS, 1, 0
        with self.engine.connect() as c:
            head = c.execute(select(audit_head).where(audit_head.c.id == 1)).mappings().first()
            rows = c.execute(select(audit_log).order_by(audit_log.c.seq)).mappings().all()
        for r in rows:
            n += 1
            if r["seq"] != expected_seq:
                problems.append(f"entry {expected_seq}: missing (next entry is {r['seq']}): deleted or reordered")
            if r["prev_hash"] != prev_hash:
                problems.append(f"entry {r['seq']}: does not follow the previous entry (deleted or reordered)")
            at = r["at"] if r["at"].tzinfo else r["at"].replace(tzinfo=UTC)
            recomputed = _entry_hash(
                r["prev_hash"],
                r["seq"],
                at,
                r["actor"],
                r["event"],
                r["thread_id"],
                r["approval_id"],
                r["data_json"],
            )
            if recomputed != r["hash"]:
                problems.append(f"entry {r['seq']}: content does not match its hash (edited)")
            prev_hash, expected_seq = r["hash"], r["seq"] + 1
        if head is None:
            if rows:
                problems.append("chain head is missing")
        else:
            if head["seq"] != n or head["hash"] != prev_hash:
                problems.append(
                    f"chain head says {head['seq']} entries ending in {head['hash'][:12]}…, "
                    f"found {n} ending in {prev_hash[:12]}…: entries were deleted or appended outside the log"
                )
        return VerifyReport(not problems, n, tuple(problems))


class _Retry(Exception):
    pass


def _entry(r: Any) -> AuditEntry:
    at = r["at"] if r["at"].tzinfo else r["at"].replace(tzinfo=UTC)
    return AuditEntry(
        r["seq"],
        at,
        r["actor"],
        r["event"],
        r["thread_id"],
        r["approval_id"],
        json.loads(r["data_json"]),
        r["prev_hash"],
        r["hash"],
    )


__all__ = ["GENESIS", "AuditEntry", "AuditLog", "PreparedEntry", "RawEntry", "VerifyReport"]
