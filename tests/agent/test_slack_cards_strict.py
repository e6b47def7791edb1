"""Every card the app can build passes the strict fake Slack, posted through ``slack_sdk``.

The inputs are the worst the app can meet: the longest texts, the most rows, fields and
requests, markup characters that grow when escaped, and every approval status.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from agent.events import Answer, ApprovalView, Citation, RouteStage, Table
from agent.interfaces.slack.blocks import (
    approval_card,
    decided_card,
    error_blocks,
    help_blocks,
    pending_list,
    reject_modal,
    render_answer,
)
from connectors.slack.fake_api import FakeSlack

TOKEN = "xoxb-strict-cards"
CHANNEL = "C0GENERAL"
NASTY = "<@U0ALICE> & <!channel> *bold* `code` > quote & more &&&"
STATUSES = (
    "pending",
    "waiting",
    "approved",
    "executing",
    "executed",
    "done",
    "rejected",
    "failed",
    "expired",
    "withdrawn",
    "stale",
    "cancelled_by_policy",
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as server:
        yield server


@pytest.fixture
def web(fake: FakeSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=fake.base_url)


def _view(**changes: Any) -> ApprovalView:
    base = ApprovalView(
        id="apr_" + "x" * 60,
        thread_id="slack:C0GENERAL:1.2",
        requester_id="u_alice",
        requester_label="Alice Chen (Sales) " + "&" * 200,
        kind="tool_call",
        title="crm_update_deal " + NASTY * 10,
        summary=NASTY * 200,
        reason=("CRM writes need the requester's manager. " + NASTY) * 60,
        current={f"field_{i}": NASTY * 20 for i in range(40)},
        proposed={f"field_{i}": (NASTY * 20)[::-1] for i in range(40)} | {"new": "&" * 5000},
        status="pending",
        stages=(
            RouteStage("manager", "any", ("u_raj",) * 30, "pending"),
            RouteStage("finance", "all", ("u_dana", "u_finn"), "waiting"),
        ),
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
        expires_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=72),
        decided_by="u_raj",
        decision_reason="&" * 1000,
        untrusted_sources=tuple(f"crm note {i} {NASTY}" for i in range(30)),
        tainted_arguments=tuple(f"arg_{i}" for i in range(30)),
        injection_score=0.97,
        flags=tuple(f"flag {i} {NASTY}" for i in range(30)),
    )
    return ApprovalView(**{**base.__dict__, **changes})


def _post(web: WebClient, text: str, blocks: list[dict[str, Any]]) -> None:
    try:
        web.chat_postMessage(channel=CHANNEL, text=text, blocks=blocks)
    except SlackApiError as exc:  # show Slack's JSON-pointer errors, not just "invalid_blocks"
        pytest.fail(f"Slack refused the card: {exc.response.data}")


def test_approval_cards_in_every_status_pass(web: WebClient) -> None:
    for view in (_view(), _view(current={}, proposed={}), _view(current={}), _view(untrusted_sources=())):
        _post(web, *approval_card(view, lambda who: f"{who} " + "&" * 100))
    for status in STATUSES:
        _post(web, *decided_card(_view(status=status)))


def test_decided_card_updates_pass(web: WebClient, fake: FakeSlack) -> None:
    posted = web.chat_postMessage(channel=CHANNEL, text="card", blocks=approval_card(_view())[1])
    text, blocks = decided_card(_view(status="rejected"))
    web.chat_update(channel=str(posted["channel"]), ts=str(posted["ts"]), text=text, blocks=blocks)
    assert fake.messages[(CHANNEL, str(posted["ts"]))].updates == 1


def test_answers_pass(web: WebClient) -> None:
    wide = Table(columns=[f"c{i}&" * 10 for i in range(6)], rows=[["&" * 60] * 6 for _ in range(10)], title=NASTY)
    big = Table(columns=["a", "b"], rows=[[i, i * 2] for i in range(500)], truncated=True, title="All rows")
    answers = [
        Answer("Short."),
        Answer(("word & <b> " * 3000 + "\n\n") * 4),
        Answer(
            NASTY * 500,
            tables=[wide, wide, big],
            citations=[Citation(i, NASTY * 3, NASTY, "https://kb.example/x") for i in range(1, 80)],
        ),
        Answer("", tables=[wide] * 30),
    ]
    for answer in answers:
        rendered = render_answer(answer)
        _post(web, rendered.text, rendered.blocks)


def test_pending_lists_help_and_errors_pass(web: WebClient) -> None:
    for views in ([], [_view(id=f"apr_{i}") for i in range(3)], [_view(id=f"apr_{i}") for i in range(40)]):
        _post(web, "waiting", pending_list(views, limit=40))
        _post(web, "waiting", pending_list(views))
    _post(web, "help", help_blocks())
    for retryable in (True, False):
        _post(web, *error_blocks(NASTY * 300, retryable=retryable))


def test_reject_modal_passes(web: WebClient, fake: FakeSlack) -> None:
    response = web.views_open(trigger_id="trigger-1", view=reject_modal(_view(), channel="DU0RAJ"))
    assert response["view"]["id"] in fake.views
