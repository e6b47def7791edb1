"""The Web API methods the fake implements, one function each (called with the fake's lock held)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from connectors.slack.fake_api.helpers import _as_dict, _as_list
from connectors.slack.fake_api.workspace import FakeFile, FakeMessage, FakeSlackUser

if TYPE_CHECKING:  # server.py imports this module
    from connectors.slack.fake_api.server import FakeSlack

# -- methods (called with the lock held) -------------------------------------------------


def _auth_test(slack: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "ok": True,
        "url": "https://larkspur.slack.com/",
        "team": "Larkspur Systems",
        "user": "chamberlain",
        "team_id": slack.team_id,
        "user_id": slack.bot_user_id,
        "bot_id": slack.bot_id,
        "is_enterprise_install": False,
    }


def _post_message(slack: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    channel, error = slack.resolve_channel(args.get("channel"))
    if channel is None:
        return {"ok": False, "error": error}
    text = str(args.get("text") or "")
    blocks = _as_list(args.get("blocks"))
    if not text and not blocks:
        return {"ok": False, "error": "no_text"}
    client_msg_id = str(args.get("client_msg_id") or "")
    if client_msg_id:  # a retry of a post that got through: the same message, not a second
        for known in slack.messages.values():
            if known.client_msg_id == client_msg_id and known.channel == channel:
                return {"ok": True, "channel": channel, "ts": known.ts, "message": {"text": known.text}}
    ts = slack._next_ts()
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
    slack.messages[(channel, ts)] = msg
    return {
        "ok": True,
        "channel": channel,
        "ts": ts,
        "message": {"text": text, "blocks": blocks, "ts": ts, "bot_id": slack.bot_id, "type": "message"},
    }


def _update(slack: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    key = (str(args.get("channel")), str(args.get("ts")))
    msg = slack.messages.get(key)
    if msg is None:
        return {"ok": False, "error": "message_not_found"}
    if "text" in args:
        msg.text = str(args["text"])
    if "blocks" in args:
        msg.blocks = _as_list(args["blocks"])
    msg.updates += 1
    msg.history.append(msg.text)
    return {"ok": True, "channel": key[0], "ts": key[1], "text": msg.text}


def _post_ephemeral(slack: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    if str(args.get("user") or "") not in slack.users:
        return {"ok": False, "error": "user_not_found"}
    return {"ok": True, "message_ts": slack._next_ts()}


def _user_json(slack: FakeSlack, user: FakeSlackUser) -> dict[str, Any]:
    profile: dict[str, Any] = {"real_name": user.real_name, "display_name": user.name}
    if user.email is not None:
        profile["email"] = user.email
    return {
        "id": user.id,
        "team_id": slack.team_id,
        "name": user.name,
        "real_name": user.real_name,
        "is_bot": user.is_bot,
        "deleted": False,
        "profile": profile,
    }


def _users_info(slack: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    user = slack.users.get(str(args.get("user")))
    if user is None:
        return {"ok": False, "error": "user_not_found"}
    return {"ok": True, "user": _user_json(slack, user)}


def _lookup_by_email(slack: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    email = str(args.get("email") or "").lower()
    for user in slack.users.values():
        if user.email is not None and user.email.lower() == email:
            return {"ok": True, "user": _user_json(slack, user)}
    return {"ok": False, "error": "users_not_found"}


def _conversations_open(slack: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    users = str(args.get("users") or "").split(",")
    if len(users) != 1 or users[0] not in slack.users:
        return {"ok": False, "error": "user_not_found"}
    return {"ok": True, "channel": {"id": slack.dm_channel(users[0]), "is_im": True}}


def _conversations_members(slack: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    channel = str(args.get("channel") or "")
    if not channel:
        return {"ok": False, "error": "channel_not_found"}
    members = slack.channel_members.get(channel, [])
    start = int(args.get("cursor") or 0)
    page = max(1, int(args.get("limit") or 100))
    chunk = members[start : start + page]
    nxt = str(start + page) if start + page < len(members) else ""
    return {"ok": True, "members": chunk, "response_metadata": {"next_cursor": nxt}}


def _views_open(slack: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    if not args.get("trigger_id"):
        return {"ok": False, "error": "invalid_trigger_id"}
    view = _as_dict(args.get("view"))
    view_id = f"V{next(slack._seq):08d}"
    view = {**view, "id": view_id}
    slack.views[view_id] = view
    return {"ok": True, "view": view}


def _views_update(slack: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    view_id = str(args.get("view_id") or "")
    if view_id not in slack.views:
        return {"ok": False, "error": "not_found"}
    view = {**_as_dict(args.get("view")), "id": view_id}
    slack.views[view_id] = view
    return {"ok": True, "view": view}


def _get_upload_url(slack: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    filename = str(args.get("filename") or "")
    if not filename or not args.get("length"):
        return {"ok": False, "error": "invalid_arguments"}
    file_id = f"F{next(slack._seq):08d}"
    slack.files[file_id] = FakeFile(file_id, filename, filename, b"", None, None)
    return {"ok": True, "upload_url": f"{slack.root_url}/_upload/{file_id}", "file_id": file_id}


def _complete_upload(slack: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    files = _as_list(args.get("files"))
    out = []
    channel = args.get("channel_id") or None
    thread_ts = args.get("thread_ts") or None
    for f in files:
        known = slack.files.get(str(f.get("id")))
        if known is None:
            return {"ok": False, "error": "file_not_found"}
        title = str(f.get("title") or known.filename)
        slack.files[known.id] = FakeFile(known.id, known.filename, title, known.content, channel, thread_ts)
        out.append({"id": known.id, "name": known.filename, "title": title, "size": len(known.content)})
    if channel and args.get("initial_comment"):
        _post_message(slack, {"channel": channel, "text": args["initial_comment"], "thread_ts": thread_ts})
    return {"ok": True, "files": out}


def _apps_connections_open(slack: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    if slack.socket_mode_url is None:
        return {"ok": False, "error": "socket_mode_not_enabled"}  # no local Socket Mode server
    return {"ok": True, "url": slack.socket_mode_url}


def _reactions_add(slack: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    if (str(args.get("channel")), str(args.get("timestamp"))) not in slack.messages:
        return {"ok": False, "error": "message_not_found"}
    return {"ok": True}


_HANDLERS: dict[str, Callable[[FakeSlack, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": _auth_test,
    "chat.postMessage": _post_message,
    "chat.update": _update,
    "chat.postEphemeral": _post_ephemeral,
    "users.info": _users_info,
    "users.lookupByEmail": _lookup_by_email,
    "conversations.open": _conversations_open,
    "conversations.members": _conversations_members,
    "views.open": _views_open,
    "views.update": _views_update,
    "files.getUploadURLExternal": _get_upload_url,
    "files.completeUploadExternal": _complete_upload,
    "reactions.add": _reactions_add,
    "apps.connections.open": _apps_connections_open,
}
