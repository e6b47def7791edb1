"""Run the local HubSpot-compatible service: in a background thread (tests, demo) or blocking
(``chamberlain crm serve``)."""

from __future__ import annotations

import contextlib
import logging
import socket
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn

from connectors.crm_service._app import FAULT_STATUSES, create_app
from connectors.crm_service._ratelimit import RateLimits
from connectors.crm_service._seed import seed_crm
from connectors.crm_service._store import SqliteCrmStore
from connectors.demo.crm_seed import DEFAULT_SEED

log = logging.getLogger(__name__)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class CrmServer:
    """The local CRM on ``127.0.0.1`` in a background thread; a context manager.

    >>> with CrmServer(token="t") as server:
    ...     client = HubSpotClient(server.url, "t")

    ``db_path=None`` uses a fresh temporary file. ``seed=True`` loads the demo CRM when the
    database is empty. ``rate_limits`` turns on HubSpot's rate limiting.
    :meth:`set_fault` makes the service fail ("429", "5xx") or go away
    entirely ("down": the port stops accepting connections) until cleared with ``None``.
    """

    def __init__(
        self,
        db_path: str | Path | None = None,
        token: str = "local-dev-token",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: bool = True,
        seed_value: int = DEFAULT_SEED,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if db_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="chamberlain-crm-")
            db_path = Path(self._tmp.name) / "crm.sqlite3"
        self.db_path = Path(db_path)
        self.token = token
        self.host = host
        self.port = port or _free_port(host)
        self.seed_value = seed_value
        self.store = SqliteCrmStore(self.db_path)
        if seed and self.store.is_empty():
            seed_crm(self.store, seed_value)
        self.app = create_app(self.db_path, token, store=self.store, rate_limits=rate_limits)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._down = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def request_log(self) -> list[str]:
        """``"METHOD /path"`` of every request that reached the app (for tests)."""
        return self.app.state.request_log

    # ------------------------------------------------------------ lifecycle

    def start(self) -> CrmServer:
        if self._server is not None:
            return self
        config = uvicorn.Config(
            self.app, host=self.host, port=self.port, log_level="warning", lifespan="off", access_log=False
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"crm-service:{self.port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError(f"the local CRM service did not start on {self.url}")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        return self

    def _halt(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=10)

    def stop(self) -> None:
        self._halt()
        self.store.close()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> CrmServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------ test switches

    def set_fault(self, fault: str | None, *, times: int | None = None) -> None:
        """Fail requests: ``"429"``, ``"500"``, ``"502"``, ``"503"``, ``"504"`` (HTTP errors, for
        ``times`` requests or until cleared), ``"down"`` (connections refused), ``None`` (healthy).
        """
        if fault is not None and fault != "down" and fault not in FAULT_STATUSES:
            known = ", ".join(FAULT_STATUSES)
            raise ValueError(f"unknown fault {fault!r}; use one of: down, {known} or None")
        self.app.state.fault = None if fault in (None, "down") else (fault, times)
        if fault == "down" and not self._down:
            self._down = True
            self._halt()
        elif fault != "down" and self._down:
            self._down = False
            self.start()

    def reset(self) -> None:
        """Reload the demo seed and clear faults and the request log."""
        self.set_fault(None)
        seed_crm(self.store, self.seed_value)
        self.request_log.clear()


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    db_path: str | Path = "crm.sqlite3",
    token: str = "local-dev-token",
    *,
    seed: bool = True,
    rate_limits: RateLimits | None = RateLimits(),  # noqa: B008 - frozen, shared safely
) -> None:
    """Run the local CRM in the foreground until interrupted (``chamberlain crm serve``).

    Seeds the demo data when the database is new or empty. Rate limits are HubSpot's by
    default, so a client that ignores them finds out here rather than against HubSpot.
    """
    store = SqliteCrmStore(db_path)
    try:
        if seed and store.is_empty():
            seed_crm(store)
            log.info("seeded the demo CRM into %s", db_path)
        uvicorn.run(
            create_app(db_path, token, store=store, rate_limits=rate_limits), host=host, port=port, log_level="info"
        )
    finally:
        store.close()


__all__ = ["CrmServer", "serve"]
