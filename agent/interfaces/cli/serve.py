"""``chamberlain serve``: listen at once, build the runtime behind the socket.

Building the runtime imports the model stack, opens the knowledge index and the app database:
seconds of work. A process manager or load balancer probing ``/healthz`` meanwhile would see a
refused connection and may restart the server in a loop, and a person sees nothing happen. So
the socket opens first with :class:`WarmingApp` in front:

- ``GET /healthz`` (liveness) answers at once: ``{"status": "starting"}`` while the runtime is
  built, then the real app's ``{"status": "ok"}``;
- ``GET /readyz`` (readiness) is ``503 {"status": "starting"}`` until the runtime is up;
- every other request waits for the runtime (``wait_s`` at most, then ``503`` with
  ``Retry-After``) and is then served by the real app; nothing is refused just for being early.

If building fails (a bad policy file, a writable warehouse login…), the server stops and the
command fails with the same one-line error as any other command.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class WarmingApp:
    """An ASGI app that answers probes while ``build`` runs in a thread, then hands over to its result."""

    def __init__(self, build: Callable[[], ASGIApp], *, wait_s: float = 120.0) -> None:
        self._build = build
        self.wait_s = wait_s
        self._app: ASGIApp | None = None
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_failure: Callable[[], None] = lambda: None  # e.g. tell uvicorn to stop

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="chamberlain-warmup", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._app = self._build()
        except BaseException as exc:  # reported by the command once the server has stopped
            self.error = exc
            self.on_failure()
        finally:
            self._done.set()

    def join(self, timeout: float | None = None) -> None:
        self._done.wait(timeout)

    @property
    def ready(self) -> bool:
        return self._app is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)  # the real app is built by its own thread, not by a lifespan
            return
        app = self._app
        if app is None and scope["type"] == "http":
            path = scope.get("path", "")
            if path == "/healthz":
                await _json(send, 200, {"status": "starting"})
                return
            if path == "/readyz":
                await _json(send, 503, {"status": "starting"}, retry_after=True)
                return
        if app is None:
            app = await self._wait()
        if app is None:
            if scope["type"] == "http":
                message = "the server is still starting" if self.error is None else "the server failed to start"
                await _json(send, 503, {"detail": message}, retry_after=True)
            return
        await app(scope, receive, send)

    async def _wait(self) -> ASGIApp | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while self._app is None and not self._done.is_set() and loop.time() < deadline:
            await asyncio.sleep(0.02)
        return self._app


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _json(send: Send, status: int, body: dict[str, str], *, retry_after: bool = False) -> None:
    headers = [(b"content-type", b"application/json")]
    if retry_after:
        headers.append((b"retry-after", b"2"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def run_server(settings: Any, *, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Listen on host:port at once; build the runtime, the outbox worker and the API behind it."""
    import uvicorn

    assert settings.http_token is not None
    stack = contextlib.ExitStack()

    def build() -> ASGIApp:
        from agent.interfaces.http.api import create_http_app
        from agent.interfaces.outbox_worker import background_worker
        from agent.runtime.services import open_runtime
        from agent.service.stores import Service

        rt = stack.enter_context(open_runtime(settings, sweep_every_s=settings.sweep_interval_s))
        # off: CHAMBERLAIN_OUTBOX_WORKER=false
        stack.enter_context(background_worker(settings, Service.for_runtime(rt).outbox))
        api = create_http_app(
            rt, token=settings.http_token.get_secret_value(), max_text_chars=settings.max_message_chars
        )
        # An in-process server started by the runtime (the local demo CRM) applies uvicorn's
        # logging config with its own quieter levels; this server's access log comes back.
        server.config.configure_logging()
        announce(f"ready: http://{host}:{port} (the web page is at /web)")
        return api

    warming = WarmingApp(build)
    server = uvicorn.Server(uvicorn.Config(warming, host=host, port=port))

    def stop() -> None:
        server.should_exit = True

    warming.on_failure = stop
    warming.start()
    try:
        server.run()
    finally:
        warming.join(timeout=None if warming.error is None else 0)
        stack.close()
    if warming.error is not None:
        raise warming.error


__all__ = ["WarmingApp", "run_server"]
