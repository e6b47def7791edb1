"""Usage records (requests and model calls) per user, for budgets and reports.

Every record also adds to running totals per user and per group for the current hour, day and
month (``usage_rollup``), in the same transaction, so a budget check is a few reads by key
(:meth:`UsageStore.window`) however long the history is. Reports group the raw records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, inspect, or_, select, text

from connectors.appdb._prepared import Prepared
from connectors.appdb._schema import usage, usage_rollup
from connectors.appdb.approvals import now_utc

PERIODS = ("hour", "day", "month")

_UPSERTS: dict[str, Prepared] = {}


def _rollup_upsert(dialect: str) -> Prepared:
    """``INSERT … ON CONFLICT DO UPDATE`` adding to the running totals (SQLite or PostgreSQL)."""
    stmt = _UPSERTS.get(dialect)
    if stmt is not None:
        return stmt
    # The dialects' insert constructs load here, on first use: importing the PostgreSQL dialect
    # costs a command on SQLite ~30 ms of start-up (and pulls in its asyncpg driver module).
    base: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        base = postgresql.insert(usage_rollup)
    elif dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        base = sqlite.insert(usage_rollup)
    else:  # pragma: no cover - the app DB is SQLite or PostgreSQL
        raise RuntimeError(f"usage rollups need SQLite or PostgreSQL, not {dialect}")
    stmt = Prepared(
        base.on_conflict_do_update(
            index_elements=["scope", "key", "period", "start"],
            set_={
                "requests": usage_rollup.c.requests + base.excluded.requests,
                "tokens": usage_rollup.c.tokens + base.excluded.tokens,
                "cost_usd": usage_rollup.c.cost_usd + base.excluded.cost_usd,
            },
        ),
        columns=["scope", "key", "period", "start", "requests", "tokens", "cost_usd"],
    )
    _UPSERTS[dialect] = stmt
    return stmt


REPORT_DIMENSIONS = ("day", "user", "group", "model", "task_kind", "provider")


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


@dataclass(frozen=True)
class WindowTotals:
    """Running totals of one user or group in one budget window."""

    requests: int = 0
    tokens: int = 0
    cost_usd: float = 0.0


@dataclass
class ReportRow:
    """One line of a usage report: the grouping values and the sums."""

    keys: dict[str, str]
    calls: int = 0
    input_tokens: int = 0  # uncached
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms_total: float = 0.0
    latencies: list[float] = field(default_factory=list, repr=False)

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def latency_ms_avg(self) -> float:
        return self.latency_ms_total / self.calls if self.calls else 0.0

    @property
    def latency_ms_p95(self) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.keys,
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "latency_ms_avg": round(self.latency_ms_avg, 1),
            "latency_ms_p95": round(self.latency_ms_p95, 1),
        }


def period_start(period: str, at: datetime) -> str:
    """The key of the window of ``period`` containing ``at`` (UTC)."""
    at = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    if period == "hour":
        return at.strftime("%Y-%m-%dT%H")
    if period == "day":
        return at.strftime("%Y-%m-%d")
    if period == "month":
        return at.strftime("%Y-%m")
    raise ValueError(f"unknown period {period!r}: use {', '.join(PERIODS)}")


def _groups_text(groups: Iterable[str]) -> str | None:
    names = sorted({g for g in groups if g})
    return f",{','.join(names)}," if names else None


# One usage row as plain values (``at`` a datetime or its ISO text): what a graph step may
# carry to the next in its checkpoint before the turn's one transaction writes it.
UsageRow = dict[str, Any]
_COLUMNS = ("model", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_usd",
            "groups", "task_kind", "provider", "latency_ms")  # fmt: skip
_ZERO = {"input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0, "cost_usd": 0.0}

# Built once, and run on the driver (connectors/appdb/_prepared.py): a turn records usage twice
# or more, and SQLAlchemy's per-execution work costs more than these statements themselves.
# Every row gives every column (``_row``).
_INSERT_USAGE = Prepared(insert(usage), columns=["at", "user_id", "thread_id", "kind", *_COLUMNS])


def _row(at: datetime, user_id: str, thread_id: str | None, kind: str, **values: Any) -> UsageRow:
    row: UsageRow = {"at": at.isoformat(), "user_id": user_id, "thread_id": thread_id, "kind": kind}
    for col in _COLUMNS:  # every row has every column: one executemany takes them all
        row[col] = values.get(col, _ZERO.get(col))
    return row


def insert_usage(c: Connection, rows: Sequence[UsageRow]) -> None:
    """Write usage rows and add them to the running totals, in the caller's transaction."""
    if not rows:
        return
    stored = [{**r, "at": datetime.fromisoformat(r["at"]) if isinstance(r["at"], str) else r["at"]} for r in rows]
    _INSERT_USAGE.executemany(c, stored)
    rollups: dict[tuple[str, str, str, str], list[float]] = {}
    for r in stored:
        groups = sorted({g for g in (r.get("groups") or "").split(",") if g})
        add = rollups_of(r)
        for scope, key in [("user", r["user_id"]), *(("group", g) for g in groups)]:
            for period in PERIODS:
                acc = rollups.setdefault((scope, key, period, period_start(period, r["at"])), [0, 0, 0.0])
                for i, v in enumerate(add):
                    acc[i] += v
    _rollup_upsert(c.dialect.name).executemany(
        c,
        [
            {
                "scope": s,
                "key": k,
                "period": p,
                "start": st,
                "requests": int(v[0]),
                "tokens": int(v[1]),
                "cost_usd": v[2],
            }
            for (s, k, p, st), v in rollups.items()
        ],
    )


def rollups_of(r: UsageRow) -> tuple[int, int, float]:
    """What one row adds to its windows: (requests, tokens, cost)."""
    tokens = sum(
        int(r.get(k) or 0) for k in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    )
    return (1 if r["kind"] == "request" else 0, tokens, float(r.get("cost_usd") or 0.0))


# Each window of one (scope, key) by its primary key, built once.
_WINDOWS = Prepared(
    select(usage_rollup.c.period, usage_rollup.c.requests, usage_rollup.c.tokens, usage_rollup.c.cost_usd).where(
        usage_rollup.c.scope == bindparam("scope"),
        usage_rollup.c.key == bindparam("key"),
        or_(*(and_(usage_rollup.c.period == p, usage_rollup.c.start == bindparam(f"start_{p}")) for p in PERIODS)),
    )
)

_MIGRATED: set[str] = set()


class UsageStore:
    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = now_utc) -> None:
        self.engine = engine
        self._clock = clock
        self._ensure_columns()

    def _ensure_columns(self) -> None:
        """Databases created before the report columns existed get them (nullable, so cheap)."""
        key = str(self.engine.url)
        if key in _MIGRATED:
            return
        have = {c["name"] for c in inspect(self.engine).get_columns("usage")}
        missing = [c for c in usage.columns if c.name not in have]
        if missing:
            with self.engine.begin() as c:
                for col in missing:
                    kind = col.type.compile(dialect=self.engine.dialect)
                    c.execute(text(f'ALTER TABLE usage ADD COLUMN "{col.name}" {kind}'))
        _MIGRATED.add(key)

    # -- writing ---------------------------------------------------------------------------

    def record_request(self, user_id: str, thread_id: str | None, *, groups: Iterable[str] = ()) -> None:
        with self.engine.begin() as c:
            self.request_write(user_id, thread_id, groups=groups)(c)

    def request_row(self, user_id: str, thread_id: str | None, *, groups: Iterable[str] = ()) -> UsageRow:
        """A request as a row for :func:`insert_usage` (plain values: a graph step can hand it on)."""
        return _row(self._clock(), user_id, thread_id, "request", groups=_groups_text(groups))

    def request_write(
        self, user_id: str, thread_id: str | None, *, groups: Iterable[str] = ()
    ) -> Callable[[Connection], None]:
        """:meth:`record_request` as a write to run in the caller's transaction (a graph step
        commits its audit entries and usage records together)."""
        row = self.request_row(user_id, thread_id, groups=groups)
        return lambda c: insert_usage(c, [row])

    def record_model_call(self, user_id: str, thread_id: str | None, **call: Any) -> None:
        """Record one model call (keyword arguments as :meth:`model_call_write`)."""
        with self.engine.begin() as c:
            self.model_call_write(user_id, thread_id, **call)(c)

    def model_call_row(
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
        groups: Iterable[str] = (),
        task_kind: str | None = None,
        provider: str | None = None,
        latency_ms: float | None = None,
    ) -> UsageRow:
        """A model call as a row for :func:`insert_usage`."""
        return _row(
            self._clock(),
            user_id,
            thread_id,
            "model",
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read_tokens,
            cache_write_tokens=cache_write_tokens,
            cost_usd=cost_usd,
            groups=_groups_text(groups),
            task_kind=task_kind,
            provider=provider,
            latency_ms=latency_ms,
        )

    def model_call_write(self, user_id: str, thread_id: str | None, **call: Any) -> Callable[[Connection], None]:
        """:meth:`record_model_call` as a write to run in the caller's transaction."""
        row = self.model_call_row(user_id, thread_id, **call)
        return lambda c: insert_usage(c, [row])

    def on(self, conn: Connection) -> UsageStore:
        """This store reading through ``conn``: a budget check inside the transaction that then
        counts the request (check and count are one step; nothing slips in between)."""
        return _OnConnection(self, conn)

    # -- reading ---------------------------------------------------------------------------

    def window(self, scope: str, key: str, period: str, *, at: datetime | None = None) -> WindowTotals:
        """Running totals of a user (``scope="user"``) or group in the ``period`` containing ``at`` (now)."""
        start = period_start(period, at or self._clock())
        q = select(usage_rollup.c.requests, usage_rollup.c.tokens, usage_rollup.c.cost_usd).where(
            usage_rollup.c.scope == scope,
            usage_rollup.c.key == key,
            usage_rollup.c.period == period,
            usage_rollup.c.start == start,
        )
        with self.engine.connect() as c:
            row = c.execute(q).first()
        return WindowTotals(int(row[0]), int(row[1]), float(row[2])) if row else WindowTotals()

    def windows(
        self, keys: Sequence[tuple[str, str]], *, at: datetime | None = None
    ) -> dict[tuple[str, str, str], WindowTotals]:
        """:meth:`window` for several (scope, key) pairs and every period: one prepared query per pair."""
        now = at or self._clock()
        starts = {f"start_{p}": period_start(p, now) for p in PERIODS}
        out = {(s, k, p): WindowTotals() for s, k in keys for p in PERIODS}
        with self._reading() as c:
            for scope, key in keys:
                for period, requests, tokens, cost in _WINDOWS.execute(c, {"scope": scope, "key": key, **starts}).rows:
                    out[(scope, key, period)] = WindowTotals(int(requests), int(tokens), float(cost))
        return out

    def _reading(self) -> AbstractContextManager[Connection]:
        return self.engine.connect()

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

    def report(
        self,
        by: Sequence[str],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        user_id: str | None = None,
        group: str | None = None,
    ) -> list[ReportRow]:
        """Model calls summed by ``by`` (any of day, user, group, model, task_kind, provider).

        A call of someone in several groups counts once under each group when grouping by group.
        """
        unknown = [d for d in by if d not in REPORT_DIMENSIONS]
        if unknown:
            raise ValueError(f"cannot group usage by {', '.join(unknown)}: use {', '.join(REPORT_DIMENSIONS)}")
        conds = [usage.c.kind == "model"]
        if since is not None:
            conds.append(usage.c.at >= since)
        if until is not None:
            conds.append(usage.c.at < until)
        if user_id is not None:
            conds.append(usage.c.user_id == user_id)
        if group is not None:
            conds.append(usage.c.groups.like(f"%,{group},%"))
        q = select(
            usage.c.at, usage.c.user_id, usage.c.groups, usage.c.model, usage.c.task_kind, usage.c.provider,
            usage.c.input_tokens, usage.c.cache_read_tokens, usage.c.cache_write_tokens, usage.c.output_tokens,
            usage.c.cost_usd, usage.c.latency_ms,
        ).where(and_(*conds)).order_by(usage.c.at)  # fmt: skip
        rows: dict[tuple[str, ...], ReportRow] = {}
        with self.engine.connect() as c:
            for at, user, groups, model, kind, provider, inp, cread, cwrite, out, cost, latency in c.execute(q):
                day = (at.astimezone(UTC) if at.tzinfo else at).strftime("%Y-%m-%d")
                group_names = [g for g in (groups or "").split(",") if g] or ["-"]
                if group is not None:
                    group_names = [group]
                for g in group_names if "group" in by else ["-"]:
                    values = {
                        "day": day,
                        "user": user,
                        "group": g,
                        "model": model or "-",
                        "task_kind": kind or "-",
                        "provider": provider or "-",
                    }
                    keys = {d: values[d] for d in by}
                    row = rows.setdefault(tuple(keys.values()), ReportRow(keys))
                    row.calls += 1
                    row.input_tokens += int(inp or 0)
                    row.cache_read_tokens += int(cread or 0)
                    row.cache_write_tokens += int(cwrite or 0)
                    row.output_tokens += int(out or 0)
                    row.cost_usd += float(cost or 0.0)
                    row.latency_ms_total += float(latency or 0.0)
                    row.latencies.append(float(latency or 0.0))
        return [rows[k] for k in sorted(rows)]


class _OnConnection(UsageStore):
    """A store whose reads go through one open connection (:meth:`UsageStore.on`)."""

    def __init__(self, store: UsageStore, conn: Connection) -> None:  # no super(): nothing to set up
        self.engine = store.engine
        self._clock = store._clock
        self._conn = conn

    def _reading(self) -> AbstractContextManager[Connection]:
        return nullcontext(self._conn)


__all__ = [
    "PERIODS",
    "REPORT_DIMENSIONS",
    "ReportRow",
    "UsageRow",
    "UsageStore",
    "UsageTotals",
    "WindowTotals",
    "insert_usage",
    "period_start",
]
