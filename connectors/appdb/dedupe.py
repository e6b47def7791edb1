"""At-most-once gate for deliveries: "is this the first time we see this key?".

Slack redelivers events (same ``event_id``) and people double-click buttons. The answer comes from
a unique-key INSERT, so it is atomic across threads, processes and workers sharing the app
database (SQLite file or PostgreSQL; not ``sqlite://`` in memory, which is per connection).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import Engine, delete, insert
from sqlalchemy.exc import IntegrityError

from connectors.appdb._schema import dedupe_keys
from connectors.appdb.approvals import now_utc

_MAX_KEY = 255


class DedupeStore:
    """``first_time(key)`` is True exactly once per key (until :meth:`forget` or pruning)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def first_time(self, key: str) -> bool:
        try:
            with self.engine.begin() as c:
                c.execute(insert(dedupe_keys).values(key=_normal(key), at=now_utc()))
        except IntegrityError:
            return False
        return True

    def forget(self, key: str) -> None:
        """Let ``key`` through again (the first attempt was refused or failed before doing work)."""
        with self.engine.begin() as c:
            c.execute(delete(dedupe_keys).where(dedupe_keys.c.key == _normal(key)))

    def prune(self, older_than: timedelta = timedelta(days=2)) -> int:
        """Drop keys older than ``older_than`` (Slack stops retrying after minutes)."""
        with self.engine.begin() as c:
            res = c.execute(delete(dedupe_keys).where(dedupe_keys.c.at < now_utc() - older_than))
        return int(res.rowcount or 0)


def _normal(key: str) -> str:
    if not key:
        raise ValueError("empty dedupe key")
    if len(key) <= _MAX_KEY:
        return key
    return key[:180] + "#" + hashlib.sha256(key.encode()).hexdigest()


__all__ = ["DedupeStore"]
