"""Approval cards: one per current-stage approver, every copy updated, reminders, channel mode."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.events import ApprovalView, RouteStage
from agent.interfaces.slack.notifier import SlackNotifier
from agent.interfaces.slack.users import SlackUsers
from connectors.appdb import make_engine
from connectors.appdb.slack_cards import CardStore
from connectors.slack.client import SlackWebApi, build_web_client
from connectors.slack.fake_api import DEMO_USERS, FakeSlack
from policies.directory import Directory


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSlack]:
    # Finn has no Slack account in this workspace.
    with FakeSlack(users=[u for u in DEMO_USERS if u.id != "U0FINN"]) as fake:
        yield fake


@pytest.fixture
def notifier(server: FakeSlack, tmp_path: Path) -> Iterator[SlackNotifier]:
    server.reset()
    engine = make_engine(f"sqlite:///{tmp_path / 'cards.db'}")
    api = SlackWebApi(build_web_client("xoxb-n", base_url=server.base_url))
    yield SlackNotifier(api, SlackUsers(api, Directory.load()), CardStore(engine))
    engine.dispose()


def _view() -> ApprovalView:
    return ApprovalView(
        id="apr_77",
        thread_id="slack:C1:1.1",
        requester_id="u_priya",
        requester_label="Priya Shah (Finance)",
        kind="expense",
        title="Expense: client dinner",
        summary="€640 client dinner with Acme",
        reason="Expenses over €500 need Finance.",
        current={},
        proposed={"amount": 640, "currency": "EUR"},
        status="pending",
        stages=(
            RouteStage("finance", "any", ("u_dana", "u_finn", "u_priya"), "pending"),
            RouteStage("cfo", "any", ("u_marcus",), "waiting"),
        ),
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
    )


def test_cards_go_to_each_approver_once_and_every_copy_is_updated(server: FakeSlack, notifier: SlackNotifier) -> None:
    view = _view()
    notifier.approval_requested(view)
    notifier.approval_requested(view)  # repeated notification: no second card
    # Dana gets a DM; Finn has no Slack account; Priya is the requester herself.
    assert len(server.channel_messages("DU0DANA")) == 1
    assert not server.channel_messages("DU0FINN") and not server.channel_messages("DU0PRIYA")
    (card,) = server.channel_messages("DU0DANA")
    assert "What will be created" in json.dumps(card.blocks)

    # Stage 1 approved by Dana: her card shows progress; the CFO now gets his card.
    stage2 = replace(
        view,
        decided_by="u_dana",
        stages=(replace(view.stages[0], status="approved"), replace(view.stages[1], status="pending")),
    )
    notifier.approval_decided(stage2)
    assert "now waiting for Marcus Reid (Finance)" in card.text
    (cfo_card,) = server.channel_messages("DU0MARCUS")

    final = replace(stage2, status="approved", decided_by="u_marcus")
    notifier.approval_decided(final)
    for copy in (card, cfo_card):
        assert "Approved by Marcus Reid (Finance)" in copy.text
        assert all(b["type"] != "actions" for b in copy.blocks)


def test_a_decision_landing_while_its_card_is_posted_still_reaches_that_card(
    server: FakeSlack, notifier: SlackNotifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The approver clicks after Slack answered the card's post but before its ref is stored: the
    decision finds no card to update, so the post must notice the decision (it happened once in a
    CI run of the Socket Mode round trip: the card kept its buttons)."""
    view = _view()
    decided = replace(
        view,
        status="approved",
        decided_by="u_dana",
        stages=(replace(view.stages[0], status="approved"), view.stages[1]),
    )
    store_ref = notifier.cards.add

    def add_after_the_click(ref: object) -> None:
        notifier.approval_decided(decided)  # reads the refs: this card's is not there yet
        store_ref(ref)  # type: ignore[arg-type]

    monkeypatch.setattr(notifier.cards, "add", add_after_the_click)
    notifier.approval_requested(view)
    (card,) = server.channel_messages("DU0DANA")
    assert card.updates == 1
    assert "Approved by Dana" in card.text
    assert all(b["type"] != "actions" for b in card.blocks)  # no buttons left on a decided request

    # Without a decision in between, a post touches nothing after it.
    server.reset()
    monkeypatch.setattr(notifier.cards, "add", store_ref)
    notifier.approval_requested(replace(view, id="apr_78"))
    (fresh,) = server.channel_messages("DU0DANA")
    assert fresh.updates == 0 and any(b["type"] == "actions" for b in fresh.blocks)


def test_reminders_reply_under_the_card_and_escalation_reaches_new_approvers(
    server: FakeSlack, notifier: SlackNotifier
) -> None:
    view = _view()
    notifier.approval_requested(view)
    (card,) = server.channel_messages("DU0DANA")
    notifier.approval_reminder(view, escalated=False)
    replies = [m for m in server.channel_messages("DU0DANA") if m.thread_ts == card.ts]
    assert len(replies) == 1 and "Reminder" in replies[0].text

    escalated = replace(view, stages=(RouteStage("finance", "any", ("u_dana", "u_marcus"), "pending"),))
    notifier.approval_reminder(escalated, escalated=True)
    assert len(server.channel_messages("DU0MARCUS")) == 1  # a fresh card, not a "reminder"
    assert "Escalated" in server.channel_messages("DU0DANA")[-1].text

    notifier.approval_reminder(replace(view, status="approved"), escalated=False)  # decided: silent
    assert len(server.channel_messages("DU0DANA")) == 3
