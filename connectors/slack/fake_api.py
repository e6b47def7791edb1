"""A local fake of the Slack Web API, for tests, the benchmark and offline demos.

It speaks the wire format ``slack_sdk.WebClient`` uses (JSON bodies, form bodies and query
strings; ``{"ok": ...}`` envelopes; HTTP 429 with ``Retry-After``), records every call, and keeps
the messages it was sent so tests can read a thread the way a person would see it.

It is strict where Slack is, so bugs show up here rather than in a workspace: a missing token is
``not_authed`` and a wrong one ``invalid_auth``; an unknown channel is ``channel_not_found`` and a
channel the bot is not in ``not_in_channel``; text over 40,000 characters is ``msg_too_long``;
blocks that break Block Kit's schema are ``invalid_blocks`` with Slack's JSON-pointer errors
(:mod:`connectors.slack.block_kit`); a modal that breaks it is ``invalid_arguments``; and, when
``rate_limits`` are set, calls over a method's per-minute budget get 429 ``ratelimited`` with
``Retry-After``.

    with FakeSlack() as fake:
        client = build_web_client("xoxb-test", base_url=fake.base_url)
        ...
        fake.calls_to("chat.update")

Nothing here talks to slack.com; the server binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from connectors.slack.block_kit import MAX_TEXT_CHARS, validate_blocks, validate_view


@dataclass(frozen=True)
class FakeSlackUser:
    id: str
    name: str
    real_name: str
    email: str | None
    is_bot: bool = False


def _person(slack_id: str, email: str) -> FakeSlackUser:
    local = email.split("@", 1)[0]
    real = " ".join(part.capitalize() for part in local.split("."))
    return FakeSlackUser(id=slack_id, name=local, real_name=real, email=email)


#: Slack accounts of the demo company (the emails match ``policies/directory.yaml``), plus one
#: person who is in Slack but not in the directory, and a bot.
DEMO_USERS: tuple[FakeSlackUser, ...] = (
    _person("U0OLIVIA", "olivia.hart@larkspur.example"),
    _person("U0MARCUS", "marcus.reid@larkspur.example"),
    _person("U0DANA", "dana.whitfield@larkspur.example"),
    _person("U0FINN", "finn.osei@larkspur.example"),
    _person("U0PRIYA", "priya.shah@larkspur.example"),
    _person("U0OMAR", "omar.farouk@larkspur.example"),
    _person("U0SOFIA", "sofia.marquez@larkspur.example"),
    _person("U0RAJ", "raj.patel@larkspur.example"),
    _person("U0CARMEN", "carmen.diaz@larkspur.example"),
    _person("U0ALICE", "alice.chen@larkspur.example"),
    _person("U0BOB", "bob.nakamura@larkspur.example"),
    _person("U0DEVON", "devon.brooks@larkspur.example"),
    _person("U0HANNAH", "hannah.lee@larkspur.example"),
    _person("U0IVAN", "ivan.petrov@larkspur.example"),
    _person("U0GRACE", "grace.kim@larkspur.example"),
    _person("U0TOM", "tom.becker@larkspur.example"),
    _person("U0ERIN", "erin.walsh@larkspur.example"),
    _person("U0MALLORY", "mallory.stone@larkspur.example"),
    _person("U0KEN", "ken.adams@larkspur.example"),
    _person("U0CASEY", "casey.jones@contractor.example"),
    _person("U0STRANGER", "sam.stranger@elsewhere.example"),
    FakeSlackUser(id="U0OTHERBOT", name="otherbot", real_name="Other Bot", email=None, is_bot=True),
)


@dataclass(frozen=True)
class FakeChannel:
    id: str
    name: str
    is_member: bool = True  # the bot has been added (needed to post, as chat:write alone allows)
    is_private: bool = False
    is_archived: bool = False


#: Channels of the demo workspace. ``C0OUTSIDE`` is one the bot was never invited to.
DEMO_CHANNELS: tuple[FakeChannel, ...] = (
    FakeChannel("C0GENERAL", "general"),
    FakeChannel("C0SALES", "sales"),
    FakeChannel("C0DEALDESK", "deal-desk"),
    FakeChannel("C0RENEWALS", "renewals"),
    FakeChannel("C0PIPELINE", "pipeline"),
    FakeChannel("C0APPROVALS", "approvals"),
    FakeChannel("C0ENG", "eng"),
    FakeChannel("C0ITHELP", "it-help"),
    FakeChannel("C0BENCH", "bench"),
    FakeChannel("C0FINANCE", "finance", is_private=True),
    FakeChannel("C0OUTSIDE", "outside", is_member=False),
    FakeChannel("C0OLDNEWS", "old-news", is_archived=True),
)

# Methods whose ``channel`` (or ``channel_id``) names where something is posted.
_POSTING = {"chat.postMessage", "chat.update", "chat.postEphemeral", "reactions.add", "files.completeUploadExternal"}


@dataclass(frozen=True)
class RecordedCall:
    method: str  # "chat.postMessage", "upload", "response_url", ...
    args: Mapping[str, Any]
    status: int
    at: float  # time.monotonic()


@dataclass
class FakeMessage:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    updates: int = 0
    history: list[str] = field(default_factory=list)  # every text it has shown, oldest first
    client_msg_id: str | None = None


@dataclass(frozen=True)
class FakeFile:
    id: str
    filename: str
    title: str
    content: bytes
    channel: str | None
    thread_ts: str | None


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

    def wait_for(self, predicate: Callable[[], Any], *, timeout: float = 10.0) -> Any:
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

    # -- methods (called with the lock held) -------------------------------------------------

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://larkspur.slack.com/",
            "team": "Larkspur Systems",
            "user": "chamberlain",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, error = self.resolve_channel(args.get("channel"))
        if channel is None:
            return {"ok": False, "error": error}
        text = str(args.get("text") or "")
        blocks = _as_list(args.get("blocks"))
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        client_msg_id = str(args.get("client_msg_id") or "")
        if client_msg_id:  # a retry of a post that got through: the same message, not a second
            for known in self.messages.values():
                if known.client_msg_id == client_msg_id and known.channel == channel:
                    return {"ok": True, "channel": channel, "ts": known.ts, "message": {"text": known.text}}
        ts = self._next_ts()
        thread_ts = args.get("thread_ts") or None
        msg = FakeMessage(
            channel,
            ts,
            text,
            blocks,
            str(thread_ts) if thread_ts else None,
            history=[text],
            client_msg_id=client_msg_id or None,
        )
        self.messages[(channel, ts)] = msg
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "message": {"text": text, "blocks": blocks, "ts": ts, "bot_id": self.bot_id, "type": "message"},
        }

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel")), str(args.get("ts")))
        msg = self.messages.get(key)
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        if "text" in args:
            msg.text = str(args["text"])
        if "blocks" in args:
            msg.blocks = _as_list(args["blocks"])
        msg.updates += 1
        msg.history.append(msg.text)
        return {"ok": True, "channel": key[0], "ts": key[1], "text": msg.text}

    def _post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if str(args.get("user") or "") not in self.users:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _user_json(self, user: FakeSlackUser) -> dict[str, Any]:
        profile: dict[str, Any] = {"real_name": user.real_name, "display_name": user.name}
        if user.email is not None:
            profile["email"] = user.email
        return {
            "id": user.id,
            "team_id": self.team_id,
            "name": user.name,
            "real_name": user.real_name,
            "is_bot": user.is_bot,
            "deleted": False,
            "profile": profile,
        }

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": self._user_json(user)}

    def _lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email") or "").lower()
        for user in self.users.values():
            if user.email is not None and user.email.lower() == email:
                return {"ok": True, "user": self._user_json(user)}
        return {"ok": False, "error": "users_not_found"}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users") or "").split(",")
        if len(users) != 1 or users[0] not in self.users:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "channel": {"id": self.dm_channel(users[0]), "is_im": True}}

    def _conversations_members(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        members = self.channel_members.get(channel, [])
        start = int(args.get("cursor") or 0)
        page = max(1, int(args.get("limit") or 100))
        chunk = members[start : start + page]
        nxt = str(start + page) if start + page < len(members) else ""
        return {"ok": True, "members": chunk, "response_metadata": {"next_cursor": nxt}}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = _as_dict(args.get("view"))
        view_id = f"V{next(self._seq):08d}"
        view = {**view, "id": view_id}
        self.views[view_id] = view
        return {"ok": True, "view": view}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = str(args.get("view_id") or "")
        if view_id not in self.views:
            return {"ok": False, "error": "not_found"}
        view = {**_as_dict(args.get("view")), "id": view_id}
        self.views[view_id] = view
        return {"ok": True, "view": view}

    def _get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = str(args.get("filename") or "")
        if not filename or not args.get("length"):
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._seq):08d}"
        self.files[file_id] = FakeFile(file_id, filename, filename, b"", None, None)
        return {"ok": True, "upload_url": f"{self.root_url}/_upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        files = _as_list(args.get("files"))
        out = []
        channel = args.get("channel_id") or None
        thread_ts = args.get("thread_ts") or None
        for f in files:
            known = self.files.get(str(f.get("id")))
            if known is None:
                return {"ok": False, "error": "file_not_found"}
            title = str(f.get("title") or known.filename)
            self.files[known.id] = FakeFile(known.id, known.filename, title, known.content, channel, thread_ts)
            out.append({"id": known.id, "name": known.filename, "title": title, "size": len(known.content)})
        if channel and args.get("initial_comment"):
            self._post_message({"channel": channel, "text": args["initial_comment"], "thread_ts": thread_ts})
        return {"ok": True, "files": out}

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.socket_mode_url is None:
            return {"ok": False, "error": "socket_mode_not_enabled"}  # no local Socket Mode server
        return {"ok": True, "url": self.socket_mode_url}

    def _reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        if (str(args.get("channel")), str(args.get("timestamp"))) not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True}


_HANDLERS: dict[str, Callable[[FakeSlack, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": FakeSlack._auth_test,
    "chat.postMessage": FakeSlack._post_message,
    "chat.update": FakeSlack._update,
    "chat.postEphemeral": FakeSlack._post_ephemeral,
    "users.info": FakeSlack._users_info,
    "users.lookupByEmail": FakeSlack._lookup_by_email,
    "conversations.open": FakeSlack._conversations_open,
    "conversations.members": FakeSlack._conversations_members,
    "views.open": FakeSlack._views_open,
    "views.update": FakeSlack._views_update,
    "files.getUploadURLExternal": FakeSlack._get_upload_url,
    "files.completeUploadExternal": FakeSlack._complete_upload,
    "reactions.add": FakeSlack._reactions_add,
    "apps.connections.open": FakeSlack._apps_connections_open,
}


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


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = json.loads(value)
    return list(value) if isinstance(value, Sequence) else []


def _json(value: Any) -> Any:
    """A JSON argument as sent (form bodies carry it as a string); ValueError if unparsable."""
    return json.loads(value) if isinstance(value, str) else value


def _invalid(error: str, errors: list[str]) -> dict[str, Any]:
    return {
        "ok": False,
        "error": error,
        "errors": errors,
        "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
    }


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return dict(value) if isinstance(value, Mapping) else {}


def _pop(queue: deque[Any] | None) -> Any:
    return queue.popleft() if queue else None


def _now() -> float:
    return time.monotonic()


__all__ = [
    "DEMO_CHANNELS",
    "DEMO_USERS",
    "FakeChannel",
    "FakeFile",
    "FakeMessage",
    "FakeSlack",
    "FakeSlackUser",
    "RecordedCall",
]
