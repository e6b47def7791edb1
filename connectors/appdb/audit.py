"""The append-only, hash-chained audit log.

Each entry's hash covers its content and the previous entry's hash, and a one-row head table
holds the latest (seq, hash). Appends advance the head with compare-and-set, so concurrent
writers cannot fork the chain. :meth:`AuditLog.verify` recomputes the chain and names the first
entry that was edited, deleted or reordered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from connectors.appdb._schema import audit_head, audit_log
from connectors.appdb.approvals import canonical_json, now_utc
from connectors.errors import ConflictError

GENESIS = "0" * 64


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
        data_json = canonical_json(self._redact(dict(data or {})))
        for _ in range(50):
            at = self._clock()
            try:
                with self.engine.begin() as c:
                    head = c.execute(select(audit_head).where(audit_head.c.id == 1)).mappings().first()
                    if head is None:
                        c.execute(insert(audit_head).values(id=1, seq=0, hash=GENESIS))
                        prev_seq, prev_hash = 0, GENESIS
                    else:
                        prev_seq, prev_hash = head["seq"], head["hash"]
                    seq = prev_seq + 1
                    h = _entry_hash(prev_hash, seq, at, actor, event, thread_id, approval_id, data_json)
                    res = c.execute(
                        update(audit_head)
                        .where(
                            and_(
                                audit_head.c.id == 1,
                                audit_head.c.seq == prev_seq,
                                audit_head.c.hash == prev_hash,
                            )
                        )
                        .values(seq=seq, hash=h)
                    )
                    if res.rowcount != 1:
                        raise _Retry()
                    c.execute(
                        insert(audit_log).values(
                            seq=seq,
                            at=at,
                            actor=actor,
                            event=event,
                            thread_id=thread_id,
                            approval_id=approval_id,
                            data_json=data_json,
                            prev_hash=prev_hash,
                            hash=h,
                        )
                    )
                    return AuditEntry(
                        seq, at, actor, event, thread_id, approval_id, json.loads(data_json), prev_hash, h
                    )
            except (_Retry, IntegrityError):
                continue
        raise ConflictError("could not append to the audit log: too much contention")

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
                at = r["at"] if r["at"].tzinfo else r["at"].replace(tzinfo=UTC)
                yield AuditEntry(
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


__all__ = ["GENESIS", "AuditEntry", "AuditLog", "VerifyReport"]
