"""First-time-seen keys (Slack event ids, button action ids, CLI request ids)."""

from __future__ import annotations

from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError

from connectors.appdb._schema import dedupe_keys
from connectors.appdb.approvals import now_utc


class DedupeStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def first_time(self, key: str) -> bool:
        """True exactly once per key, across threads and processes (a unique insert)."""
        try:
            with self.engine.begin() as c:
                c.execute(insert(dedupe_keys).values(key=key, at=now_utc()))
            return True
        except IntegrityError:
            return False


__all__ = ["DedupeStore"]
