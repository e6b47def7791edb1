""":class:`FakeSlack`: the local HTTP server, its scripting (failures, rate limits) and what tests read back."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from connectors.slack.block_kit import MAX_TEXT_CHARS, validate_blocks, validate_view
from connectors.slack.fake_api.helpers import _invalid, _json, _now, _pop
from connectors.slack.fake_api.methods import _HANDLERS
from connectors.slack.fake_api.workspace import (
    _POSTING,
    DEMO_CHANNELS,
    DEMO_USERS,
    FakeChannel,
    FakeFile,
    FakeMessage,
    FakeSlackUser,
    RecordedCall,
)


class FakeSlack:
    """The fake server: start it, point ``WebClient(base_url=fake.base_url)`` at it."""

    def __init__(
        self,
        users: Iterable[FakeSlackUser] = DEMO_USERS,
        *,
        channels: Iterable[FakeChannel] = DEMO_CHANNELS,
        token: str | None = None,
        app_token: str | None = None,
        rate_limits: Mapping[str, int] | None = None,
        bot_user_id: str = "U0CHAMBERLAIN",
        bot_id: str = "B0CHAMBERLAIN",
        team_id: str = "T0LARKSPUR",
    ) -> None:
        self.users = {u.id: u for u in users}
        self.channels = {c.id: c for c in channels}
        # When set, only this bot token is valid; otherwise any xoxb-/xoxp- token is.
        self.token = token
        self.app_token = app_token  # the xapp- token apps.connections.open accepts (Socket Mode)
        self.socket_mode_url: str | None = None  # what apps.connections.open hands out
        self.rate_limits = dict(rate_limits or {})  # method -> calls per minute
        self._windows: dict[str, deque[float]] = {}
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.team_id = team_id
        self.calls: list[RecordedCall] = []
        self.messages: dict[tuple[str, str], FakeMessage] = {}
        self.files: dict[str, FakeFile] = {}
        self.views: dict[str, dict[str, Any]] = {}
        # conversations.members: channel → user ids; a channel not listed has no other members.
        self.channel_members: dict[str, list[str]] = {}
        self._rate_limits: dict[str, deque[int]] = {}
        self._failures: dict[str, deque[str]] = {}
        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        self.app = self._build_app()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-slack", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake Slack API did not start within 10 s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True  # do not wait for idle keep-alive connections
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the fake Slack API is not running; call start() first")
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What to pass as ``WebClient(base_url=...)`` (ends with a slash, like slack.com/api/)."""
        return f"{self.root_url}/api/"

    def response_url(self, name: str = "r") -> str:
        """A ``response_url`` for slash commands and actions that posts back to this fake."""
        return f"{self.root_url}/_response/{name}"

    # -- scripting ---------------------------------------------------------------------------

    def add_channel(self, id: str, name: str, *, is_member: bool = True, is_private: bool = False) -> FakeChannel:
        channel = FakeChannel(id, name, is_member=is_member, is_private=is_private)
        with self._lock:
            self.channels[id] = channel
        return channel

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 and ``Retry-After``."""
        with self._lock:
            self._rate_limits.setdefault(method, deque()).extend([retry_after] * times)

    def fail(self, method: str, error: str, *, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with ``{"ok": false, "error": error}``."""
        with self._lock:
            self._failures.setdefault(method, deque()).extend([error] * times)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.messages.clear()
            self.files.clear()
            self.views.clear()
            self.channel_members.clear()
            self._rate_limits.clear()
            self._failures.clear()
            self._windows.clear()

    # -- reading what happened ---------------------------------------------------------------

    def calls_to(self, method: str, *, ok_only: bool = True) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c.args) for c in self.calls if c.method == method and (not ok_only or c.status == 200)]

    def recorded(self, method: str) -> list[RecordedCall]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def thread(self, channel: str, thread_ts: str) -> list[FakeMessage]:
        """Messages of a thread in the order they were posted (the root first, if ours)."""
        with self._lock:
            out = [
                m
                for (ch, _), m in self.messages.items()
                if ch == channel and (m.ts == thread_ts or m.thread_ts == thread_ts)
            ]
        return sorted(out, key=lambda m: float(m.ts))

    def channel_messages(self, channel: str) -> list[FakeMessage]:
        with self._lock:
            out = [m for (ch, _), m in self.messages.items() if ch == channel]
        return sorted(out, key=lambda m: float(m.ts))

    def wait_for(self, predicate: Callable[[], Any], *, timeout: float = 30.0) -> Any:
        """Poll ``predicate`` until it returns something truthy; fail loudly on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            time.sleep(0.02)

    def dm_channel(self, user_id: str) -> str:
        return f"D{user_id}"

    # -- the server --------------------------------------------------------------------------

    def _next_ts(self) -> str:
        n = next(self._seq)
        return f"{1_700_000_000 + n}.{n:06d}"

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="fake Slack Web API", docs_url=None, redoc_url=None, openapi_url=None)

        @app.api_route("/api/{method}", methods=["GET", "POST"])
        async def api(method: str, request: Request) -> Response:
            args = await _read_args(request)
            auth = request.headers.get("authorization", "")
            return self._handle(method, args, auth)

        @app.post("/_upload/{file_id}")
        async def upload(file_id: str, request: Request) -> Response:
            body = await request.body()
            with self._lock:
                self.calls.append(RecordedCall("upload", {"file_id": file_id, "size": len(body)}, 200, _now()))
                pending = self.files.get(file_id)
                if pending is None:
                    return PlainTextResponse("no such upload", status_code=404)
                self.files[file_id] = FakeFile(
                    pending.id, pending.filename, pending.title, body, pending.channel, pending.thread_ts
                )
            return PlainTextResponse(f"OK - {len(body)}")

        @app.post("/_response/{name}")
        async def response_url(name: str, request: Request) -> Response:
            args = await _read_args(request)
            with self._lock:
                self.calls.append(RecordedCall("response_url", {"name": name, **args}, 200, _now()))
            return PlainTextResponse("ok")

        return app

    def _handle(self, method: str, args: dict[str, Any], auth: str) -> Response:
        with self._lock:
            retry_after = _pop(self._rate_limits.get(method))
            if retry_after is None:
                retry_after = self._over_budget(method)
            if retry_after is not None:
                self.calls.append(RecordedCall(method, args, 429, _now()))
                return JSONResponse(
                    {"ok": False, "error": "ratelimited"},
                    status_code=429,
                    headers={"Retry-After": str(retry_after)},
                )
            self.calls.append(RecordedCall(method, args, 200, _now()))
            auth_error = self._auth_error(method, auth, args)
            if auth_error is not None:
                return JSONResponse({"ok": False, "error": auth_error})
            error = _pop(self._failures.get(method))
            if error is not None:
                return JSONResponse({"ok": False, "error": error})
            handler = _HANDLERS.get(method)
            if handler is None:
                return JSONResponse({"ok": False, "error": "unknown_method"})
            try:
                refused = self._refusal(method, args)
            except ValueError:
                return JSONResponse({"ok": False, "error": "invalid_blocks_format"})
            if refused is not None:
                return JSONResponse(refused)
            return JSONResponse(handler(self, args))

    # -- strictness (called with the lock held) ---------------------------------------------

    def _over_budget(self, method: str) -> int | None:
        """Seconds to wait if ``method`` has used its per-minute budget (Slack's tiers)."""
        budget = self.rate_limits.get(method)
        if budget is None:
            return None
        now = time.monotonic()
        window = self._windows.setdefault(method, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= budget:
            return max(1, int(window[0] + 60 - now + 0.999))
        window.append(now)
        return None

    def _auth_error(self, method: str, auth: str, args: dict[str, Any]) -> str | None:
        token = auth[7:] if auth.startswith("Bearer ") else str(args.get("token") or "")
        if not token:
            return "not_authed"
        if method == "apps.connections.open":  # app-level tokens only
            ok = token == self.app_token if self.app_token is not None else token.startswith("xapp-")
            return None if ok else "invalid_auth"
        if self.token is not None:
            return None if token == self.token else "invalid_auth"
        return None if token.startswith(("xoxb-", "xoxp-")) else "invalid_auth"

    def resolve_channel(self, raw: Any) -> tuple[str | None, str | None]:
        """(channel id, None) where a post to ``raw`` lands, or (None, Slack's error)."""
        name = str(raw or "").strip()
        if not name:
            return None, "channel_not_found"
        if name.startswith("U") and name in self.users:  # a user id: the DM with them
            return self.dm_channel(name), None
        if name.startswith("D") and name[1:] in self.users:
            return name, None
        channel = self.channels.get(name)
        if channel is None:
            wanted = name.lstrip("#")
            channel = next((c for c in self.channels.values() if c.name == wanted), None)
        if channel is None:
            return None, "channel_not_found"
        if channel.is_archived:
            return None, "is_archived"
        if not channel.is_member:
            return None, "not_in_channel"
        return channel.id, None

    def _refusal(self, method: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """Slack's error for a call it would refuse, or None."""
        if method in _POSTING:
            raw = args.get("channel_id") if method == "files.completeUploadExternal" else args.get("channel")
            if method != "files.completeUploadExternal" or raw:
                channel, error = self.resolve_channel(raw)
                if error is not None:
                    return {"ok": False, "error": error}
                args["channel" if "channel" in args else "channel_id"] = channel
        if method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            if len(str(args.get("text") or "")) > MAX_TEXT_CHARS:
                return {"ok": False, "error": "msg_too_long"}
            if "blocks" in args and args["blocks"] not in (None, ""):
                errors = validate_blocks(_json(args["blocks"]))
                if errors:
                    return _invalid("invalid_blocks", errors)
        if method in ("views.open", "views.update"):
            errors = validate_view(_json(args.get("view")))
            if errors:
                return _invalid("invalid_arguments", errors)
        return None


async def _read_args(request: Request) -> dict[str, Any]:
    """Merge query string, form and JSON bodies — WebClient uses all three."""
    args: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if not body:
        return args
    ctype = request.headers.get("content-type", "")
    if "json" in ctype:
        data = json.loads(body)
        if isinstance(data, dict):
            args.update(data)
    else:
        args.update(dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)))
    return args
