"""Usage records (requests and model calls) per user, for budgets and reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, func, insert, select

from connectors.appdb._schema import usage
from connectors.appdb.approvals import now_utc


@dataclass(frozen=True)
class UsageTotals:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens


class UsageStore:
    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = now_utc) -> None:
        self.engine = engine
        self._clock = clock

    def record_request(self, user_id: str, thread_id: str | None) -> None:
        with self.engine.begin() as c:
            c.execute(insert(usage).values(at=self._clock(), user_id=user_id, thread_id=thread_id, kind="request"))

    def record_model_call(
        self,
        user_id: str,
        thread_id: str | None,
        *,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int,
        cache_write_tokens: int,
        cost_usd: float,
    ) -> None:
        with self.engine.begin() as c:
            c.execute(
                insert(usage).values(
                    at=self._clock(),
                    user_id=user_id,
                    thread_id=thread_id,
                    kind="model",
                    model=model,
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    cache_read_tokens=cache_read_tokens,
                    cache_write_tokens=cache_write_tokens,
                    cost_usd=cost_usd,
                )
            )

    def totals(
        self, user_id: str | None, window: timedelta | None = None, *, thread_id: str | None = None
    ) -> UsageTotals:
        conds = []
        if user_id is not None:
            conds.append(usage.c.user_id == user_id)
        if thread_id is not None:
            conds.append(usage.c.thread_id == thread_id)
        if window is not None:
            conds.append(usage.c.at >= self._clock() - window)
        q = select(
            func.sum(func.iif(usage.c.kind == "request", 1, 0))
            if self.engine.dialect.name == "sqlite"
            else func.count().filter(usage.c.kind == "request"),
            func.coalesce(func.sum(usage.c.input_tokens), 0),
            func.coalesce(func.sum(usage.c.output_tokens), 0),
            func.coalesce(func.sum(usage.c.cache_read_tokens), 0),
            func.coalesce(func.sum(usage.c.cache_write_tokens), 0),
            func.coalesce(func.sum(usage.c.cost_usd), 0.0),
        )
        if conds:
            q = q.where(and_(*conds))
        with self.engine.connect() as c:
            row = c.execute(q).one()
        return UsageTotals(int(row[0] or 0), int(row[1]), int(row[2]), int(row[3]), int(row[4]), float(row[5]))


__all__ = ["UsageStore", "UsageTotals"]
