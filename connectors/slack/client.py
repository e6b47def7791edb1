"""The Slack Web API, as the rest of Chamberlain sees it.

:func:`build_web_client` makes the ``slack_sdk.WebClient`` (Bolt needs the SDK object itself);
:class:`SlackWebApi` wraps it with the handful of calls the bot makes and translates
``SlackApiError`` and transport failures into :mod:`connectors.errors`. Rate-limit responses
(HTTP 429) are retried by the SDK's ``RateLimitErrorRetryHandler``, which sleeps for Slack's
``Retry-After``.
"""

from __future__ import annotations

import urllib.error
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from connectors.errors import (
    ConflictError,
    ConnectorAuthError,
    ConnectorError,
    ConnectorUnavailable,
    InvalidRequest,
    RecordNotFound,
)

SLACK_API_URL = "https://slack.com/api/"

_UNAVAILABLE = {
    "ratelimited",
    "rate_limited",
    "fatal_error",
    "internal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
}
_AUTH = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "no_permission",
    "missing_scope",
    "not_allowed_token_type",
    "ekm_access_denied",
}
_NOT_FOUND = {
    "channel_not_found",
    "user_not_found",
    "users_not_found",
    "message_not_found",
    "not_in_channel",
    "is_archived",
    "file_not_found",
    "not_found",
}
_CONFLICT = {"already_reacted", "cant_update_message", "edit_window_closed", "hash_conflict"}


def build_web_client(
    token: str,
    *,
    base_url: str | None = None,
    timeout: int = 15,
    rate_limit_retries: int = 3,
) -> WebClient:
    """A ``WebClient`` for ``token`` that retries 429s after ``Retry-After`` and connection resets.

    ``base_url`` points it somewhere other than slack.com (the local fake in tests); it must end
    with ``/api/``-style trailing slash, which is added if missing.
    """
    if not token:
        raise ConnectorAuthError("no Slack bot token: set SLACK_BOT_TOKEN (it starts with xoxb-)")
    url = base_url or SLACK_API_URL
    if not url.endswith("/"):
        url += "/"
    return WebClient(
        token=token,
        base_url=url,
        timeout=timeout,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
        ],
    )


def translate(exc: Exception) -> ConnectorError:
    """Our error for an SDK or transport exception (callers ``raise translate(e) from e``)."""
    if isinstance(exc, SlackApiError):
        error = str(exc.response.get("error", "")) if exc.response is not None else ""
        status = exc.response.status_code if exc.response is not None else 0
        what = f"Slack API error {error or status}"
        if status == 429 or status >= 500 or error in _UNAVAILABLE:
            return ConnectorUnavailable(f"{what}: Slack is rate limiting or unavailable; try again later")
        if error in _AUTH or status in (401, 403):
            return ConnectorAuthError(f"{what}: check the bot token and the app's scopes")
        if error in _NOT_FOUND:
            return RecordNotFound(what)
        if error in _CONFLICT:
            return ConflictError(what)
        return InvalidRequest(what)
    if isinstance(exc, (SlackClientError, urllib.error.URLError, TimeoutError, OSError)):
        return ConnectorUnavailable(f"could not reach the Slack API: {exc}")
    raise TypeError(f"not a Slack client error: {exc!r}") from exc


@contextmanager
def slack_errors() -> Iterator[None]:
    """Translate Slack SDK and transport exceptions raised inside the block."""
    try:
        yield
    except (SlackApiError, SlackClientError, urllib.error.URLError, TimeoutError, OSError) as exc:
        raise translate(exc) from exc


class SlackApi(Protocol):
    """The calls the bot makes. :class:`SlackWebApi` is the implementation; tests run it against
    :class:`connectors.slack.fake_api.FakeSlack`."""

    def post_message(
        self,
        channel: str,
        *,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> tuple[str, str]: ...

    def update_message(
        self, channel: str, ts: str, *, text: str, blocks: Sequence[Mapping[str, Any]] | None = None
    ) -> None: ...

    def post_ephemeral(
        self, channel: str, user: str, *, text: str, blocks: Sequence[Mapping[str, Any]] | None = None
    ) -> None: ...

    def user_email(self, user_id: str) -> str | None: ...

    def user_id_for_email(self, email: str) -> str | None: ...

    def open_dm(self, user_id: str) -> str: ...

    def channel_members(self, channel: str, *, limit: int = 1000) -> list[str]: ...

    def open_view(self, trigger_id: str, view: Mapping[str, Any]) -> str: ...

    def upload_file(
        self,
        channel: str,
        *,
        filename: str,
        content: bytes,
        title: str,
        thread_ts: str | None = None,
        initial_comment: str | None = None,
    ) -> str: ...

    def add_reaction(self, channel: str, ts: str, name: str) -> None: ...


class SlackWebApi:
    """:class:`SlackApi` over a ``slack_sdk.WebClient``."""

    def __init__(self, client: WebClient) -> None:
        self.web = client

    def post_message(
        self,
        channel: str,
        *,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> tuple[str, str]:
        """Post; returns ``(channel, ts)`` — the channel id Slack resolved (D… for a user id)."""
        with slack_errors():
            resp = self.web.chat_postMessage(
                channel=channel,
                text=text,
                blocks=[dict(b) for b in blocks] if blocks is not None else None,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,  # a model-built image link must not be fetched
            )
        return str(resp["channel"]), str(resp["ts"])

    def update_message(
        self, channel: str, ts: str, *, text: str, blocks: Sequence[Mapping[str, Any]] | None = None
    ) -> None:
        with slack_errors():
            # blocks=[] clears old blocks (e.g. the buttons of a decided card); None keeps them.
            self.web.chat_update(channel=channel, ts=ts, text=text, blocks=[dict(b) for b in blocks or []])

    def post_ephemeral(
        self, channel: str, user: str, *, text: str, blocks: Sequence[Mapping[str, Any]] | None = None
    ) -> None:
        with slack_errors():
            self.web.chat_postEphemeral(
                channel=channel, user=user, text=text, blocks=[dict(b) for b in blocks] if blocks is not None else None
            )

    def user_email(self, user_id: str) -> str | None:
        """The profile email of a Slack user, or None (bots, guests without email, unknown ids)."""
        try:
            with slack_errors():
                resp = self.web.users_info(user=user_id)
        except RecordNotFound:
            return None
        user = resp.get("user") or {}
        if user.get("is_bot") or user.get("deleted"):
            return None
        email = (user.get("profile") or {}).get("email")
        return str(email) if email else None

    def user_id_for_email(self, email: str) -> str | None:
        try:
            with slack_errors():
                resp = self.web.users_lookupByEmail(email=email)
        except RecordNotFound:
            return None
        return str(resp["user"]["id"])

    def open_dm(self, user_id: str) -> str:
        with slack_errors():
            resp = self.web.conversations_open(users=user_id)
        return str(resp["channel"]["id"])

    def channel_members(self, channel: str, *, limit: int = 1000) -> list[str]:
        """User ids of a channel's members (``conversations.members``, paginated), at most
        ``limit`` + one page; callers treat a longer list as "too many to check"."""
        members: list[str] = []
        cursor: str | None = None
        with slack_errors():
            while True:
                resp = self.web.conversations_members(channel=channel, cursor=cursor, limit=200)
                members.extend(str(m) for m in resp.get("members") or [])
                cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
                if not cursor or len(members) > limit:
                    return members

    def open_view(self, trigger_id: str, view: Mapping[str, Any]) -> str:
        with slack_errors():
            resp = self.web.views_open(trigger_id=trigger_id, view=dict(view))
        return str(resp["view"]["id"])

    def upload_file(
        self,
        channel: str,
        *,
        filename: str,
        content: bytes,
        title: str,
        thread_ts: str | None = None,
        initial_comment: str | None = None,
    ) -> str:
        """Upload ``content`` into a channel (thread); returns the file id."""
        with slack_errors():
            resp = self.web.files_upload_v2(
                channel=channel,
                filename=filename,
                content=content,
                title=title,
                thread_ts=thread_ts,
                initial_comment=initial_comment,
            )
        files = resp.get("files") or []
        return str(files[0]["id"]) if files else ""

    def add_reaction(self, channel: str, ts: str, name: str) -> None:
        try:
            with slack_errors():
                self.web.reactions_add(channel=channel, timestamp=ts, name=name)
        except ConflictError:  # already_reacted: the retry of an earlier call got there first
            return


__all__ = [
    "SLACK_API_URL",
    "SlackApi",
    "SlackWebApi",
    "build_web_client",
    "slack_errors",
    "translate",
]
