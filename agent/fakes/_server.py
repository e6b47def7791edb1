"""What the fake model APIs share: the script and request log, the prefix-cache ledger, the local server."""

from __future__ import annotations

import abc
import hashlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Generic, Self, TypeVar

import uvicorn
from fastapi import FastAPI

__all__ = ["LocalServer", "RecordedRequest", "ScriptState", "estimate_tokens", "prefix_keys", "retry_after_header"]

ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class RecordedRequest:
    """One request a fake received. Header names are lower-case."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Mapping[str, Any]


def estimate_tokens(value: Any) -> int:
    """Rough token estimate: ~4 characters of JSON per token."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return max(1, len(text) // 4)


def prefix_keys(segments: Sequence[Any]) -> list[tuple[str, int]]:
    """For each segment of a prompt: (a key for the prompt up to and including it, its tokens so far)."""
    digest = hashlib.sha256()
    total = 0
    prefixes: list[tuple[str, int]] = []
    for segment in segments:
        digest.update(json.dumps(segment, sort_keys=True).encode())
        total += estimate_tokens(segment)
        prefixes.append((digest.copy().hexdigest(), total))
    return prefixes


def retry_after_header(seconds: float) -> str:
    """A ``retry-after`` value: whole seconds without a decimal point, as the APIs send it."""
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


@dataclass
class ScriptState(Generic[ItemT]):
    """The script (items, or callables computing one from the request body), what was served,
    the request log and the prefix cache. Thread-safe.

    The bookkeeping fields are keyword-only so that a fake's own settings follow ``script``
    positionally, as they did before this base was shared.
    """

    script: list[ItemT | Callable[[Mapping[str, Any]], ItemT]] = field(default_factory=list)
    _: KW_ONLY
    requests: list[RecordedRequest] = field(default_factory=list)
    served: list[ItemT] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)  # raised by scripted responders
    _cache: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def push(self, *items: ItemT | Callable[[Mapping[str, Any]], ItemT]) -> None:
        with self._lock:
            self.script.extend(items)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def next_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}_fake_{next(self._ids):04d}"

    def take(self, body: Mapping[str, Any]) -> ItemT | None:
        """The first script item for the request's model (consumed unless ``repeat``)."""
        model = body.get("model")
        with self._lock:
            for index, item in enumerate(self.script):
                wanted = getattr(item, "model", None)
                if wanted is not None and wanted != model:
                    continue
                if not getattr(item, "repeat", False):
                    del self.script[index]
                break
            else:
                return None
        # Script items are frozen dataclasses, so only a responder is callable.
        resolved: ItemT = item(body) if callable(item) else item
        with self._lock:
            self.served.append(resolved)
        return resolved

    def cached_prefix(self, prefixes: Sequence[tuple[str, int]]) -> int:
        """Tokens of the longest of ``prefixes`` seen before; all of them are remembered from now on."""
        with self._lock:
            hit = next((tok for key, tok in reversed(prefixes) if key in self._cache), 0)
            self._cache.update(key for key, _ in prefixes)
        return hit


class LocalServer(abc.ABC):
    """Runs a fake's app with uvicorn on 127.0.0.1 (a free port) in a background thread.

    A fake sets ``state`` and names itself; :meth:`app` builds its FastAPI app.
    """

    name = "fake"  # the thread's name
    label = "fake"  # how errors name the fake
    url_path = ""  # appended to http://127.0.0.1:PORT in :attr:`url`
    log_level = "warning"
    state: ScriptState[Any]

    def __init__(self) -> None:
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._port = 0

    @abc.abstractmethod
    def app(self) -> FastAPI:
        """The fake's protocol: its FastAPI app (wire format, streaming, faults)."""

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running; use it as a context manager")
        return f"http://127.0.0.1:{self._port}{self.url_path}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Requests received so far, oldest first."""
        with self.state._lock:
            return list(self.state.requests)

    @property
    def remaining(self) -> int:
        """Script items not yet consumed (``repeat`` items always remain)."""
        with self.state._lock:
            return len(self.state.script)

    def start(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app(),
            log_level=self.log_level,
            access_log=False,
            lifespan="off",
            ws="none",
            http="h11",
            loop="asyncio",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError(f"{self.label} server failed to start")
            time.sleep(0.01)
        self._socket = sock
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._thread = None
        self._socket = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
