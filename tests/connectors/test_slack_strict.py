"""The fake Slack refuses what Slack refuses, with Slack's error codes, through ``slack_sdk``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from connectors.slack.block_kit import validate_blocks
from connectors.slack.fake_api import FakeSlack

TOKEN = "xoxb-strict"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN, rate_limits={"reactions.add": 2}) as server:
        yield server


@pytest.fixture
def web(fake: FakeSlack) -> WebClient:
    fake.reset()
    return WebClient(token=TOKEN, base_url=fake.base_url)


def slack_error(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        call()
    data = info.value.response.data
    assert isinstance(data, dict) and data["ok"] is False
    return data


def test_tokens(fake: FakeSlack) -> None:
    anonymous = WebClient(base_url=fake.base_url)
    assert slack_error(lambda: anonymous.chat_postMessage(channel="C0GENERAL", text="hi"))["error"] == "not_authed"
    wrong = WebClient(token="xoxb-wrong", base_url=fake.base_url)
    assert slack_error(lambda: wrong.auth_test())["error"] == "invalid_auth"
    assert not fake.channel_messages("C0GENERAL")


def test_channels(web: WebClient, fake: FakeSlack) -> None:
    assert slack_error(lambda: web.chat_postMessage(channel="C0NOPE", text="x"))["error"] == "channel_not_found"
    assert slack_error(lambda: web.chat_postMessage(channel="C0OUTSIDE", text="x"))["error"] == "not_in_channel"
    assert slack_error(lambda: web.chat_postMessage(channel="C0OLDNEWS", text="x"))["error"] == "is_archived"
    assert slack_error(lambda: web.chat_update(channel="C0NOPE", ts="1.1", text="x"))["error"] == "channel_not_found"
    # Slack resolves a channel name, and a user id to the DM with them.
    assert web.chat_postMessage(channel="#deal-desk", text="x")["channel"] == "C0DEALDESK"
    assert web.chat_postMessage(channel="U0DANA", text="x")["channel"] == "DU0DANA"
    fake.add_channel("C0NEW", "new")
    assert web.chat_postMessage(channel="C0NEW", text="x")["ok"]


def test_text_length(web: WebClient) -> None:
    assert web.chat_postMessage(channel="C0GENERAL", text="a" * 40_000)["ok"]
    assert slack_error(lambda: web.chat_postMessage(channel="C0GENERAL", text="a" * 40_001))["error"] == "msg_too_long"


@pytest.mark.parametrize(
    "blocks, pointer",
    [
        ([{"type": "paragraph", "text": "x"}], "/blocks/0/type"),
        ([{"type": "section"}], "/blocks/0"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}], "/blocks/0/text/text"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "a" * 3001}}], "/blocks/0/text/text"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}], "/blocks/0/text/type"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "a" * 151}}], "/blocks/0/text/text"),
        ([{"type": "divider"}] * 51, "/blocks"),
        ([{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}], "/blocks/1/block_id"),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {"type": "button", "text": {"type": "plain_text", "text": "A"}, "action_id": "go"},
                        {"type": "button", "text": {"type": "plain_text", "text": "B"}, "action_id": "go"},
                    ],
                }
            ],
            "/blocks/0/elements/1/action_id",
        ),
        (
            [{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "a" * 76}}]}],
            "/blocks/0/elements/0/text/text",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {"type": "button", "text": {"type": "plain_text", "text": "a"}, "action_id": "x" * 256}
                    ],
                }
            ],
            "/blocks/0/elements/0/action_id",
        ),
        ([{"type": "context", "elements": []}], "/blocks/0/elements"),
        (
            [{"type": "input", "label": {"type": "plain_text", "text": "x"}, "element": {"type": "plain_text_input"}}],
            "/blocks/0/type",
        ),
    ],
)
def test_invalid_blocks_name_the_path(web: WebClient, blocks: list[dict[str, Any]], pointer: str) -> None:
    data = slack_error(lambda: web.chat_postMessage(channel="C0GENERAL", text="x", blocks=blocks))
    assert data["error"] == "invalid_blocks"
    assert any(e.endswith(f"[json-pointer:{pointer}]") for e in data["errors"]), data["errors"]


def test_valid_blocks_pass_and_the_validator_is_quiet_on_them(web: WebClient) -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Hi", "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*x*"}, "fields": [{"type": "mrkdwn", "text": "y"}]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "z"}]},
        {"type": "divider", "block_id": "d1"},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Go"},
                    "action_id": "go",
                    "style": "primary",
                    "value": "1",
                }
            ],
        },
    ]
    assert validate_blocks(blocks) == []
    assert web.chat_postMessage(channel="C0GENERAL", text="x", blocks=blocks)["ok"]


def test_modals_are_validated(web: WebClient) -> None:
    long_title = {"type": "modal", "title": {"type": "plain_text", "text": "a" * 25}, "blocks": []}
    data = slack_error(lambda: web.views_open(trigger_id="t", view=long_title))
    assert data["error"] == "invalid_arguments" and "/view/title/text" in data["errors"][0]
    no_submit = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Why"},
        "blocks": [
            {
                "type": "input",
                "label": {"type": "plain_text", "text": "x"},
                "element": {"type": "plain_text_input", "action_id": "r"},
            }
        ],
    }
    assert slack_error(lambda: web.views_open(trigger_id="t", view=no_submit))["error"] == "invalid_arguments"


def test_method_budgets_answer_ratelimited_with_retry_after(web: WebClient, fake: FakeSlack) -> None:
    ts = str(web.chat_postMessage(channel="C0GENERAL", text="x")["ts"])
    web.reactions_add(channel="C0GENERAL", timestamp=ts, name="eyes")
    web.reactions_add(channel="C0GENERAL", timestamp=ts, name="eyes")
    started = time.monotonic()
    with pytest.raises(SlackApiError) as info:
        web.reactions_add(channel="C0GENERAL", timestamp=ts, name="eyes")
    assert time.monotonic() - started < 5  # refused at once, not after a wait
    assert info.value.response.status_code == 429
    assert info.value.response.data["error"] == "ratelimited"
    assert 1 <= int(info.value.response.headers["Retry-After"]) <= 60
