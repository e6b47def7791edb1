"""The Slack client against the local fake Web API: calls, recordings, and error translation."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from connectors.errors import ConnectorAuthError, ConnectorUnavailable, InvalidRequest, RecordNotFound
from connectors.slack.client import SlackWebApi, build_web_client
from connectors.slack.fake_api import FakeSlack

TOKEN = "xoxb-fake-api"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def api(server: FakeSlack) -> SlackWebApi:
    server.reset()
    return SlackWebApi(build_web_client(TOKEN, base_url=server.base_url, rate_limit_retries=1))


def test_messages_threads_updates_and_ephemerals(server: FakeSlack, api: SlackWebApi) -> None:
    assert api.web.auth_test()["user_id"] == server.bot_user_id
    channel, root = api.post_message("C0GENERAL", text="root")
    _, reply = api.post_message("C0GENERAL", text="reply", blocks=[{"type": "divider"}], thread_ts=root)
    api.update_message("C0GENERAL", reply, text="edited")
    api.post_ephemeral("C0GENERAL", "U0DANA", text="only for Dana")
    assert channel == "C0GENERAL"
    assert [m.text for m in server.thread("C0GENERAL", root)] == ["root", "edited"]
    assert server.thread("C0GENERAL", root)[1].history == ["reply", "edited"]
    assert server.calls_to("chat.postEphemeral")[0]["user"] == "U0DANA"
    # posting to a user id lands in the DM, like Slack
    assert api.post_message(api.open_dm("U0RAJ"), text="hi")[0] == "DU0RAJ"
    api.add_reaction("C0GENERAL", root, "eyes")


def test_users_views_and_file_uploads(server: FakeSlack, api: SlackWebApi) -> None:
    assert api.user_email("U0DANA") == "dana.whitfield@larkspur.example"
    assert api.user_email("U0OTHERBOT") is None
    assert api.user_email("U0NOPE") is None
    assert api.user_id_for_email("Raj.Patel@larkspur.example") == "U0RAJ"
    assert api.user_id_for_email("nobody@larkspur.example") is None
    view_id = api.open_view("trigger-1", {"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": []})
    assert server.views[view_id]["type"] == "modal"

    file_id = api.upload_file("C0GENERAL", filename="t.csv", content=b"a,b\n1,2\n", title="T", thread_ts="1.1")
    stored = server.files[file_id]
    assert (stored.content, stored.channel, stored.thread_ts, stored.title) == (b"a,b\n1,2\n", "C0GENERAL", "1.1", "T")
    assert [c.method for c in server.calls][-3:] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]


def test_rate_limits_are_retried_after_retry_after_then_reported(server: FakeSlack, api: SlackWebApi) -> None:
    _, ts = api.post_message("C0GENERAL", text="x")
    server.rate_limit("chat.update", times=1, retry_after=1)
    started = time.monotonic()
    api.update_message("C0GENERAL", ts, text="y")
    assert time.monotonic() - started >= 1.0
    assert [c.status for c in server.recorded("chat.update")] == [429, 200]

    server.rate_limit("chat.update", times=2, retry_after=0)
    with pytest.raises(ConnectorUnavailable):
        api.update_message("C0GENERAL", ts, text="z")


def test_errors_are_translated(server: FakeSlack, api: SlackWebApi) -> None:
    with pytest.raises(RecordNotFound):
        api.update_message("C0GENERAL", "999.999", text="nope")
    server.fail("chat.postMessage", "internal_error")
    with pytest.raises(ConnectorUnavailable):
        api.post_message("C0GENERAL", text="x")
    server.fail("chat.postMessage", "invalid_blocks")
    with pytest.raises(InvalidRequest):
        api.post_message("C0GENERAL", text="x")
    bad = SlackWebApi(build_web_client("xoxb-wrong", base_url=server.base_url))
    with pytest.raises(ConnectorAuthError):
        bad.post_message("C0GENERAL", text="x")
    with pytest.raises(ConnectorAuthError, match="SLACK_BOT_TOKEN"):
        build_web_client("", base_url=server.base_url)


def test_unreachable_slack_is_unavailable() -> None:
    with FakeSlack() as fake:
        url = fake.base_url
    api = SlackWebApi(build_web_client(TOKEN, base_url=url, timeout=2))
    with pytest.raises(ConnectorUnavailable):
        api.post_message("C0GENERAL", text="x")
