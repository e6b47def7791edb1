"""LangGraph checkpointers: SQLite by default, PostgreSQL for scale-out, memory for tests."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    copy_checkpoint,
)
from langgraph.checkpoint.memory import InMemorySaver
from sqlalchemy.engine import make_url


class Checkpointer(AbstractContextManager["Checkpointer"]):
    """Owns a saver and whatever connection (pool) it needs; ``close()`` releases it."""

    def __init__(self, saver: BaseCheckpointSaver[Any], closer: Callable[[], None] | None = None) -> None:
        self.saver = saver
        self._closer = closer

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None

    def __exit__(self, *exc: object) -> None:
        self.close()


_READS: ContextVar[dict[tuple[str, str], CheckpointTuple | None] | None] = ContextVar(
    "chamberlain_checkpoint_reads", default=None
)


def _latest(config: RunnableConfig) -> tuple[str, str] | None:
    """(thread, namespace) when ``config`` asks for a thread's latest checkpoint, else None."""
    conf = config.get("configurable") or {}
    if conf.get("checkpoint_id") or "thread_id" not in conf:
        return None
    return str(conf["thread_id"]), str(conf.get("checkpoint_ns", ""))


class ReadOnce(BaseCheckpointSaver[Any]):
    """A saver whose latest checkpoint of a thread is read (and deserialised) once per turn.

    ``ask`` reads the thread's state under its lock (owner, a crashed or waiting run), then the
    run reads the same checkpoint again: the whole message history deserialised twice per turn,
    where a bare agent does it once, and the cost grows with the conversation. Inside
    :meth:`turn`, the second read of a thread's latest checkpoint gets a copy of what the first
    got, until anything is written to that thread (a put, its writes, a delete), so the run
    starts from exactly the state the checks saw. Everything else goes to the wrapped saver."""

    def __init__(self, inner: BaseCheckpointSaver[Any]) -> None:
        super().__init__(serde=inner.serde)
        self.inner = inner

    @staticmethod
    @contextmanager
    def turn() -> Iterator[None]:
        token = _READS.set({})
        try:
            yield
        finally:
            _READS.reset(token)

    @property
    def config_specs(self) -> list[Any]:
        return self.inner.config_specs

    def __getattr__(self, name: str) -> Any:  # setup(), conn, ... of the wrapped saver
        return getattr(self.inner, name)

    def _forget(self, config: RunnableConfig | str) -> None:
        reads = _READS.get()
        if reads:
            thread = config if isinstance(config, str) else str((config.get("configurable") or {}).get("thread_id"))
            for key in [k for k in reads if k[0] == thread]:
                del reads[key]

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        reads, key = _READS.get(), _latest(config)
        if reads is None or key is None:
            return self.inner.get_tuple(config)
        if key not in reads:
            got = self.inner.get_tuple(config)
            reads[key] = None if got is None else got._replace(checkpoint=copy_checkpoint(got.checkpoint))
            return got
        held = reads[key]
        # A copy: the run updates its checkpoint's version maps in place.
        return None if held is None else held._replace(checkpoint=copy_checkpoint(held.checkpoint))

    def list(self, config: RunnableConfig | None, **kwargs: Any) -> Iterator[CheckpointTuple]:
        return self.inner.list(config, **kwargs)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        self._forget(config)
        return self.inner.put(config, checkpoint, metadata, new_versions)

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self._forget(config)
        self.inner.put_writes(config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        self._forget(thread_id)
        self.inner.delete_thread(thread_id)

    # The async API, for callers that stream asynchronously (no reuse there: nothing pins a turn).
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self.inner.aget_tuple(config)

    async def alist(self, config: RunnableConfig | None, **kwargs: Any) -> AsyncIterator[CheckpointTuple]:
        async for item in self.inner.alist(config, **kwargs):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        self._forget(config)
        return await self.inner.aput(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self._forget(config)
        await self.inner.aput_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self._forget(thread_id)
        await self.inner.adelete_thread(thread_id)

    def get_next_version(self, current: Any, channel: None) -> Any:
        return self.inner.get_next_version(current, channel)

    def get_delta_channel_history(self, *, config: RunnableConfig, channels: Sequence[str]) -> Any:
        return self.inner.get_delta_channel_history(config=config, channels=channels)

    def with_allowlist(self, extra_allowlist: Collection[tuple[str, ...]]) -> BaseCheckpointSaver[Any]:
        inner = self.inner.with_allowlist(extra_allowlist)
        return self if inner is self.inner else ReadOnce(inner)


# Any constant: the advisory lock held while the PostgreSQL checkpointer creates its tables.
_SETUP_LOCK = 0x63686B70


def _try_lock(conn: Any) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (_SETUP_LOCK,)).fetchone()
    return bool(row and row["ok"])


def open_checkpointer(url: str) -> Checkpointer:
    """``memory://``, ``sqlite:///path`` or ``postgresql://...``."""
    if url.startswith("memory:"):
        return Checkpointer(InMemorySaver())
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver

        path = u.database or ":memory:"
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        # A graph step commits several times; with WAL, NORMAL syncs at checkpoints instead of
        # every commit, and a commit still survives kill -9 (see connectors/appdb/_engine.py).
        conn.execute("PRAGMA synchronous=NORMAL")
        saver = SqliteSaver(conn)
        saver.setup()
        return Checkpointer(saver, conn.close)
    if backend == "postgresql":
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        conninfo = u.set(drivername="postgresql").render_as_string(hide_password=False)
        pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=8,
            kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": 0},
            open=True,
        )
        pg_saver = PostgresSaver(pool)  # type: ignore[arg-type]
        # N processes starting at once on a fresh database would race in the saver's migrations
        # (a unique violation on checkpoint_migrations): run them one process at a time.
        # Poll with try-lock: a session blocked in pg_advisory_lock would hold a snapshot, and the
        # migrations' CREATE INDEX CONCURRENTLY waits for every snapshot (a deadlock).
        with pool.connection() as lock_conn:
            while not _try_lock(lock_conn):
                time.sleep(0.05)
            try:
                pg_saver.setup()
            finally:
                lock_conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
        return Checkpointer(pg_saver, pool.close)
    raise ValueError(f"unsupported checkpoint URL {url!r}: use sqlite:///PATH, postgresql://... or memory://")


__all__ = ["Checkpointer", "ReadOnce", "open_checkpointer"]
