"""At-most-once gate for Slack deliveries: "is this the first time we see this key?".

Slack redelivers events it thinks we missed (same ``event_id``, ``X-Slack-Retry-Num`` header),
and people double-click buttons. The answer comes from a unique-key INSERT into ``slack_dedupe``,
so it is atomic across threads, processes and workers sharing the database (SQLite or
PostgreSQL). Use a file-backed SQLite database, not ``sqlite://`` (each thread would get its own
in-memory database).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

_metadata = MetaData()

slack_dedupe = Table(
    "slack_dedupe",
    _metadata,
    Column("key", String(255), primary_key=True),
    Column("seen_at", DateTime(timezone=True), nullable=False, index=True),
)

_MAX_KEY = 255


class Dedupe:
    """``first_time(key)`` is True exactly once per key (until :meth:`forget` or pruning)."""

    def __init__(self, engine: Engine, *, create_table: bool = True) -> None:
        self.engine = engine
        if create_table:
            _metadata.create_all(engine, checkfirst=True)

    def first_time(self, key: str) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(slack_dedupe).values(key=_normal(key), seen_at=datetime.now(UTC)))
        except IntegrityError:
            return False
        return True

    def forget(self, key: str) -> None:
        """Let ``key`` through again (the first attempt was refused or failed before doing work)."""
        with self.engine.begin() as conn:
            conn.execute(delete(slack_dedupe).where(slack_dedupe.c.key == _normal(key)))

    def prune(self, older_than: timedelta = timedelta(days=2)) -> int:
        """Drop keys older than ``older_than`` (Slack stops retrying after minutes)."""
        cutoff = datetime.now(UTC) - older_than
        with self.engine.begin() as conn:
            result = conn.execute(delete(slack_dedupe).where(slack_dedupe.c.seen_at < cutoff))
        return int(result.rowcount or 0)


def _normal(key: str) -> str:
    if not key:
        raise ValueError("empty dedupe key")
    if len(key) <= _MAX_KEY:
        return key
    return key[:180] + "#" + hashlib.sha256(key.encode()).hexdigest()


__all__ = ["Dedupe", "slack_dedupe"]
