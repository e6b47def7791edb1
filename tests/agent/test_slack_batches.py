"""Batch cards in Slack on the real runtime: one turn proposes three writes → each approver gets
ONE card (their items' diffs, per-item buttons, "Approve all"); a concurrent "approve all" and a
per-item click execute each item exactly once; an item routed to someone else is refused for
that item only; every copy of the card converges on the real end state.

Through the strict fake Slack Web API (it validates Block Kit like Slack), the real slack_sdk
client and signed Bolt requests (process_before_response=True)."""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from langchain_core.messages import AIMessage

from agent.fakes.slack_runtime import SlackRequest, action_request, event_request, mention_event
from agent.interfaces.slack.app import create_slack_bot
from agent.interfaces.slack.blocks import APPROVE_ACTION, APPROVE_ALL_ACTION, RETRY_ACTION
from agent.interfaces.slack.cards import CardStore
from agent.interfaces.slack.fastapi_app import create_fastapi_app
from agent.interfaces.slack.notifier import SlackNotifier
from agent.interfaces.slack.users import SlackUsers
from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn
from agent.runtime.chamberlain import Chamberlain, build_runtime
from agent.settings import Settings
from connectors.appdb import DedupeStore as Dedupe
from connectors.appdb import make_engine
from connectors.slack.client import SlackWebApi, build_web_client
from connectors.slack.fake_api import FakeMessage, FakeSlack
from policies.directory import Directory
from tests.agent.kv_tools import KvStore, kv_tools
from tools.base import ToolRegistry
from tools.errors import ToolFailure

SECRET = "batch-secret"
TOKEN = "xoxb-batch"
CHANNEL = "C0ENG"
ACCESS = """\
version: test
roles:
  employee:
    tools: [kv_get, kv_set, kv_set_it]
approvals:
  default:
    - {stage: manager, approvers: [manager]}
  kv_set_it:
    - {stage: it, approvers: ["role:it_admin"]}
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as server:
        yield server


@dataclass
class Stack:
    fake: FakeSlack
    runtime: Chamberlain
    store: KvStore
    http: TestClient

    def send(self, req: SlackRequest) -> httpx.Response:
        return self.http.post("/slack/events", content=req.body, headers=req.headers)

    def cards(self, slack_user: str) -> list[FakeMessage]:
        return [m for m in self.fake.channel_messages(f"D{slack_user}") if m.blocks]

    def click(self, user: str, action: str, card: FakeMessage, value: str) -> httpx.Response:
        return self.send(
            action_request(
                SECRET,
                user,
                action,
                value,
                channel=card.channel,
                message_ts=card.ts,
                response_url=self.fake.response_url(),
            )
        )


def three_writes() -> AIMessage:
    calls = [
        ("kv_set", {"key": "color", "value": "green"}),
        ("kv_set", {"key": "size", "value": "L"}),
        ("kv_set_it", {"key": "mode", "value": "fast"}),
    ]
    return AIMessage(
        content="",
        tool_calls=[
            {"name": n, "args": a, "id": f"call_{uuid.uuid4().hex[:8]}", "type": "tool_call"} for n, a in calls
        ],
    )


@contextmanager
def _build(fake: FakeSlack, tmp_path: Path, turns: list[Any] | None = None) -> Iterator[Stack]:
    fake.reset()
    access = tmp_path / "access.yaml"
    access.write_text(ACCESS)
    settings = Settings(data_dir=tmp_path / "data", access_policy_path=access)
    engine = make_engine(settings.resolved_database_url)
    web = build_web_client(TOKEN, base_url=fake.base_url)
    api = SlackWebApi(web)
    users = SlackUsers(api, Directory.load(settings.directory_path))
    store = KvStore()
    store.values["mode"], store.versions["mode"] = "safe", 1
    tools = kv_tools(store)
    kv_set = next(t for t in tools if t.name == "kv_set")
    tools.append(dataclasses.replace(kv_set, name="kv_set_it"))  # the same write, routed to IT
    runtime = build_runtime(
        settings,
        registry=ToolRegistry(tools),
        chat_model=ScriptedChatModel.from_turns(turns or [three_writes(), *[text_turn("All three are done.")] * 6]),
        notifier=SlackNotifier(api, users, CardStore(engine)),
    )
    app, _ = create_slack_bot(
        runtime,
        client=web,
        signing_secret=SECRET,
        dedupe=Dedupe(engine),
        users=users,
        process_before_response=True,
        progress_interval=0.05,
    )
    try:
        with TestClient(create_fastapi_app(app)) as http:
            yield Stack(fake, runtime, store, http)
    finally:
        runtime.close()
        engine.dispose()


def _buttons(card: FakeMessage) -> list[tuple[str, str]]:
    return [(e["action_id"], e["value"]) for b in card.blocks if b.get("type") == "actions" for e in b["elements"]]


def test_one_card_per_approver_approve_all_races_a_click_and_each_item_runs_once(
    fake: FakeSlack, tmp_path: Path
) -> None:
    with _build(fake, tmp_path) as stack:
        event = mention_event("U0ERIN", "set color green, size L and mode fast", channel=CHANNEL, ts="7000.1")
        assert stack.send(event_request(SECRET, event, event_id=f"Ev{uuid.uuid4().hex}")).status_code == 200
        (tom_card,) = stack.cards("U0TOM")  # one card for his two items, not two cards
        (ken_card,) = stack.cards("U0KEN")
        tom_json = json.dumps(tom_card.blocks, ensure_ascii=False)
        assert "~blue~ → green" in tom_json and "~M~ → L" in tom_json
        assert "~safe~ → fast" not in tom_json  # Ken's item: its details are for its approvers
        assert "~safe~ → fast" in json.dumps(ken_card.blocks, ensure_ascii=False)
        buttons = _buttons(tom_card)
        (batch_id,) = [v for a, v in buttons if a == APPROVE_ALL_ACTION]
        tom_items = [v for a, v in buttons if a == APPROVE_ACTION]
        assert len(tom_items) == 2
        assert not any(a == APPROVE_ALL_ACTION for a, _ in _buttons(ken_card))  # one item: no "all"
        (ken_item,) = [v for a, v in _buttons(ken_card) if a == APPROVE_ACTION]

        # Tom: "approve all" twice and a per-item click, all at once.
        barrier = threading.Barrier(3)
        clicks = [(APPROVE_ALL_ACTION, batch_id), (APPROVE_ALL_ACTION, batch_id), (APPROVE_ACTION, tom_items[0])]

        def click(action: str, value: str) -> None:
            barrier.wait()
            stack.click("U0TOM", action, tom_card, value)

        threads = [threading.Thread(target=click, args=c) for c in clicks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)

        assert sorted((k, v) for k, v, _ in stack.store.applied) == [("color", "green"), ("size", "L")]
        assert stack.runtime.get_approval(ken_item).status == "pending"  # not Tom's to decide
        for item in tom_items:
            events = [e.event for e in stack.runtime.audit.entries(approval_id=item)]
            assert events.count("write_executed") == 1
        # (a FakeMessage is updated in place by chat.update)
        assert not any(a == APPROVE_ACTION for a, _ in _buttons(tom_card))  # his items are decided
        assert "and done" in json.dumps(tom_card.blocks, ensure_ascii=False)
        # Ken approves his item from his card: every copy converges, nothing left to click.
        stack.click("U0KEN", APPROVE_ACTION, ken_card, ken_item)
        assert [k for k, _, _ in stack.store.applied].count("mode") == 1
        for card in (tom_card, ken_card):
            assert _buttons(card) == []
            assert "all decided" in card.text
        assert "All three are done." in "\n".join(m.text for m in stack.fake.thread(CHANNEL, "7000.1"))


def test_approve_all_by_someone_not_on_an_item_is_refused_for_that_item_only(fake: FakeSlack, tmp_path: Path) -> None:
    with _build(fake, tmp_path) as stack:
        event = mention_event("U0ERIN", "three changes", channel=CHANNEL, ts="7100.1")
        stack.send(event_request(SECRET, event, event_id=f"Ev{uuid.uuid4().hex}"))
        (tom_card,) = stack.cards("U0TOM")
        (batch_id,) = [v for a, v in _buttons(tom_card) if a == APPROVE_ALL_ACTION]
        # Mallory is on no route: "approve all" (a forged click) decides nothing at all.
        stack.click("U0MALLORY", APPROVE_ALL_ACTION, tom_card, batch_id)
        assert stack.store.applied == []
        refusal = [c for c in fake.calls_to("chat.postEphemeral") if c["user"] == "U0MALLORY"]
        assert refusal and "not an approver" in refusal[-1]["text"]
        # Tom: his two items approved, Ken's refused for that item only, with why.
        stack.click("U0TOM", APPROVE_ALL_ACTION, tom_card, batch_id)
        assert sorted(k for k, _, _ in stack.store.applied) == ["color", "size"]
        tom_note = [c for c in fake.calls_to("chat.postEphemeral") if c["user"] == "U0TOM"][-1]["text"]
        assert "Approved 2 item(s)" in tom_note and "kv_set_it" in tom_note


def test_a_failed_write_card_says_why_and_its_retry_button_reruns_it_once(fake: FakeSlack, tmp_path: Path) -> None:
    turns = [tool_turn("kv_set", {"key": "color", "value": "green"}), *[text_turn("Done.")] * 4]
    with _build(fake, tmp_path, turns) as stack:
        failures = [ToolFailure("the store is read-only during the backup", retryable=True)]

        def flaky() -> None:
            if failures:
                raise failures.pop()

        stack.store.before_apply = flaky
        event = mention_event("U0ERIN", "make it green", channel=CHANNEL, ts="7200.1")
        stack.send(event_request(SECRET, event, event_id=f"Ev{uuid.uuid4().hex}"))
        (card,) = stack.cards("U0TOM")
        (approval_id,) = [v for a, v in _buttons(card) if a == APPROVE_ACTION]
        stack.click("U0TOM", APPROVE_ACTION, card, approval_id)
        assert stack.runtime.get_approval(approval_id).status == "failed"
        text = card.text + json.dumps(card.blocks, ensure_ascii=False)
        assert "but it failed: the store is read-only during the backup." in text
        assert "Who can retry" in text and "Erin Walsh" in text
        assert _buttons(card) == [(RETRY_ACTION, approval_id)]
        stack.click("U0MALLORY", RETRY_ACTION, card, approval_id)  # not involved: refused
        assert stack.runtime.get_approval(approval_id).status == "failed"
        stack.click("U0ERIN", RETRY_ACTION, card, approval_id)  # the requester may retry
        stack.click("U0ERIN", RETRY_ACTION, card, approval_id)  # a double click: nothing more
        assert stack.runtime.get_approval(approval_id).status == "executed"
        assert [(k, v) for k, v, _ in stack.store.applied] == [("color", "green")]
        assert _buttons(card) == [] and "and done" in json.dumps(card.blocks, ensure_ascii=False)
        refusals = [c["text"] for c in fake.calls_to("chat.postEphemeral") if c["user"] == "U0MALLORY"]
        assert refusals and "only the requester" in refusals[-1]
