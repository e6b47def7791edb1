"""A pool of SQLite query worker processes with a deadline that cannot be outlived.

A query runs in a child process (:mod:`connectors._sqlite_worker`); the parent waits for its
answer until ``timeout + grace`` and then kills the child with SIGKILL and starts a fresh one.
A killed query leaves nothing behind: the file is opened read-only, temp storage lives in the
child's heap, and the child can write no file. Workers are kept warm between queries (a query
on a warm worker costs a pipe round trip, about a millisecond).

Thread-safe: concurrent queries take different workers, up to ``max_workers``; more wait.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_HEADER = struct.Struct(">I")
_WORKER = Path(__file__).with_name("_sqlite_worker.py")


@dataclass(frozen=True)
class WorkerLimits:
    """What one query may use inside its worker."""

    address_space_bytes: int = 1 << 30  # RLIMIT_AS of the whole worker process
    heap_bytes: int = 256 << 20  # PRAGMA hard_heap_limit (SQLite's own allocations)
    value_bytes: int = 1_000_000  # SQLITE_LIMIT_LENGTH: the longest string or blob
    like_pattern: int = 1000  # SQLITE_LIMIT_LIKE_PATTERN_LENGTH
    expr_depth: int = 500  # SQLITE_LIMIT_EXPR_DEPTH
    sql_length: int = 100_000  # SQLITE_LIMIT_SQL_LENGTH
    result_bytes: int = 16 << 20  # the result, counted while fetching

    def config(self) -> str:
        return json.dumps(
            {
                "address_space_bytes": self.address_space_bytes,
                "heap_bytes": self.heap_bytes,
                "value_bytes": self.value_bytes,
                "like_pattern": self.like_pattern,
                "expr_depth": self.expr_depth,
                "sql_length": self.sql_length,
            }
        )


class WorkerKilled(Exception):
    """The worker was killed (deadline passed) or died (e.g. out of memory)."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class _Worker:
    def __init__(self, limits: WorkerLimits) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(_WORKER), limits.config()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        self.ready = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(_HEADER.pack(len(data)) + data)
        self.proc.stdin.flush()

    def receive(self, deadline: float) -> dict[str, Any] | None:
        """The next message, or None if the deadline passed first. Raises EOFError if it died."""
        head = self._read(_HEADER.size, deadline)
        if head is None:
            return None
        body = self._read(_HEADER.unpack(head)[0], None)
        assert body is not None
        out: dict[str, Any] = json.loads(body)
        return out

    def _read(self, n: int, deadline: float | None) -> bytes | None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        chunks: list[bytes] = []
        got = 0
        while got < n:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                if deadline is not None and got == 0:
                    return None
                continue
            chunk = os.read(fd, n - got)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class SqliteWorkerPool:
    """Runs queries in worker processes; see the module docstring."""

    def __init__(self, limits: WorkerLimits | None = None, *, max_workers: int = 4, warm: int = 1) -> None:
        self.limits = limits or WorkerLimits()
        self.max_workers = max(1, max_workers)
        self._warm = min(warm, self.max_workers)
        self._idle: list[_Worker] = []
        self._count = 0
        self._closed = False
        self._cond = threading.Condition()
        self._all: set[_Worker] = set()
        self._finalizer = weakref.finalize(self, _kill_all, self._all)
        self.kills = 0  # workers killed at a deadline (for tests and benchmarks)

    # -- lifecycle --------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Start the warm workers now instead of on the first query."""
        workers = [self._acquire() for _ in range(self._warm)]
        for w in workers:
            self._release(w)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._idle.clear()
            self._cond.notify_all()
        self._finalizer()

    def worker_pids(self) -> list[int]:
        with self._cond:
            return [w.pid for w in self._all]

    # -- queries ----------------------------------------------------------------------------

    def run(self, job: dict[str, Any], *, timeout_s: float, grace_s: float) -> dict[str, Any]:
        """Send ``job`` to a worker; its reply, or :class:`WorkerKilled` past the deadline."""
        worker = self._acquire()
        ok = False
        try:
            worker.send({**job, "timeout_s": timeout_s, "max_bytes": self.limits.result_bytes})
            reply = worker.receive(time.monotonic() + timeout_s + grace_s)
            if reply is None:
                self.kills += 1
                raise WorkerKilled(f"the query was stopped after {timeout_s:g} s", timed_out=True)
            ok = True
            return reply
        except (EOFError, BrokenPipeError, OSError) as exc:
            raise WorkerKilled(
                "the query worker died while running the query (it ran out of memory or was killed)",
                timed_out=False,
            ) from exc
        finally:
            if ok:
                self._release(worker)
            else:
                self._discard(worker)

    def _acquire(self) -> _Worker:
        with self._cond:
            while True:
                if self._closed:
                    raise WorkerKilled("the warehouse is closed", timed_out=False)
                while self._idle:
                    idle = self._idle.pop()
                    if idle.proc.poll() is None:
                        return idle
                    # It died while idle (OOM killer, an operator): forget it, never fail a query for it.
                    self._all.discard(idle)
                    self._count -= 1
                    idle.kill()
                if self._count < self.max_workers:
                    self._count += 1
                    break
                self._cond.wait()
        try:
            worker = self._start()
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise
        return worker

    def _start(self) -> _Worker:
        worker = _Worker(self.limits)
        with self._cond:
            self._all.add(worker)
        try:
            hello = worker.receive(time.monotonic() + 30)
        except EOFError:
            hello = None
        if hello is None:
            worker.kill()
            with self._cond:
                self._all.discard(worker)
            raise WorkerKilled("the query worker did not start", timed_out=False)
        return worker

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            if self._closed:
                self._all.discard(worker)
                self._count -= 1
                worker.kill()
                return
            self._idle.append(worker)
            self._cond.notify()

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        with self._cond:
            if worker in self._all:
                self._all.discard(worker)
                self._count -= 1
            self._cond.notify()


def _kill_all(workers: set[_Worker]) -> None:
    for w in list(workers):
        w.kill()
    workers.clear()


_DEFAULT: SqliteWorkerPool | None = None
_DEFAULT_LOCK = threading.Lock()


def default_pool() -> SqliteWorkerPool:
    """The process-wide pool, started on first use (shared by every SQLite warehouse)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None or _DEFAULT._closed:
            _DEFAULT = SqliteWorkerPool()
        return _DEFAULT


__all__ = ["SqliteWorkerPool", "WorkerKilled", "WorkerLimits", "default_pool"]
