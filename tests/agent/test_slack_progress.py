"""The status message: throttled edits, latest text wins, final flush, failures stay quiet."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest

from agent.interfaces.slack.progress import ProgressMessage
from connectors.slack.client import SlackWebApi, build_web_client
from connectors.slack.fake_api import FakeSlack


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def api(server: FakeSlack) -> SlackWebApi:
    server.reset()
    return SlackWebApi(build_web_client("xoxb-progress", base_url=server.base_url))


def test_bursts_are_throttled_and_the_latest_text_wins(server: FakeSlack, api: SlackWebApi) -> None:
    progress = ProgressMessage(api, "C0GENERAL", "10.1", min_interval=0.3)
    progress.start("working…")
    for i in range(20):
        progress.update(f"step {i}")
    time.sleep(0.45)
    progress.update("almost there")
    time.sleep(0.4)  # its turn comes while we wait
    progress.close("done")

    (message,) = server.channel_messages("C0GENERAL")
    assert message.thread_ts == "10.1"
    assert message.history == ["working…", "step 19", "almost there", "done"]
    post = server.recorded("chat.postMessage")[0]
    edits = server.recorded("chat.update")
    times = [post.at] + [e.at for e in edits]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.25


def test_close_flushes_the_pending_text_and_ignores_later_updates(server: FakeSlack, api: SlackWebApi) -> None:
    progress = ProgressMessage(api, "C0SALES", "20.1", min_interval=0.2)
    progress.start("working…")
    progress.update("querying the warehouse…")
    progress.close()
    progress.update("too late")
    time.sleep(0.3)
    (message,) = server.channel_messages("C0SALES")
    assert message.history == ["working…", "querying the warehouse…"]


def test_slack_failures_do_not_break_the_turn(server: FakeSlack, api: SlackWebApi) -> None:
    progress = ProgressMessage(api, "C0ENG", "30.1", min_interval=0.0)
    server.fail("chat.postMessage", "channel_not_found")
    progress.start("working…")  # could not post: later updates are no-ops
    progress.update("x")
    progress.close("done")
    assert not server.calls_to("chat.update")

    progress = ProgressMessage(api, "C0ENG", "30.1", min_interval=0.0)
    progress.start("working…")
    server.fail("chat.update", "message_not_found")
    progress.close("done")  # logged, not raised
    assert server.channel_messages("C0ENG")[0].history == ["working…"]
