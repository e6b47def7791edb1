"""The Slack bot on the real runtime: LangGraph graph, SQLite approvals store and checkpoints,
a scripted chat model and the versioned key-value tools — "write → card → approve by the
right person → card updated, write executed once" proven on the real approvals store."""

from __future__ import annotations

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
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from agent.fakes.slack_runtime import (
    SlackRequest,
    action_request,
    event_request,
    mention_event,
    view_submission_request,
)
from agent.interfaces.slack.app import create_slack_bot
from agent.interfaces.slack.blocks import APPROVE_ACTION, REJECT_ACTION
from agent.interfaces.slack.fastapi_app import create_fastapi_app
from agent.interfaces.slack.notifier import SlackNotifier
from agent.interfaces.slack.users import SlackUsers
from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn
from agent.runtime.chamberlain import Chamberlain, build_runtime
from agent.settings import Settings
from connectors.appdb import DedupeStore as Dedupe
from connectors.appdb import make_engine
from connectors.appdb.slack_cards import CardStore
from connectors.slack.client import SlackWebApi, build_web_client
from connectors.slack.fake_api import FakeMessage, FakeSlack
from policies.directory import Directory
from tests.agent.kv_tools import KvStore, kv_tools
from tools.base import ToolRegistry

SECRET = "real-runtime-secret"
TOKEN = "xoxb-real-runtime"
CHANNEL = "C0ENG"
ACCESS = Path(__file__).with_name("access_kv.yaml")


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

    def mention(self, user: str, text: str, *, ts: str) -> httpx.Response:
        event = mention_event(user, text, channel=CHANNEL, ts=ts)
        return self.send(event_request(SECRET, event, event_id=f"Ev{uuid.uuid4().hex}"))

    def thread_text(self, ts: str) -> str:
        return "\n".join(m.text + json.dumps(m.blocks, ensure_ascii=False) for m in self.fake.thread(CHANNEL, ts))

    def card(self, slack_user: str) -> FakeMessage:
        (card,) = self.fake.channel_messages(f"D{slack_user}")
        return card

    def click(self, user: str, action: str, card: FakeMessage, approval_id: str) -> httpx.Response:
        return self.send(
            action_request(
                SECRET,
                user,
                action,
                approval_id,
                channel=card.channel,
                message_ts=card.ts,
                response_url=self.fake.response_url(),
            )
        )


@contextmanager
def _build(fake: FakeSlack, tmp_path: Path, turns: list[Any]) -> Iterator[Stack]:
    fake.reset()
    settings = Settings(data_dir=tmp_path, access_policy_path=ACCESS)
    engine = make_engine(settings.resolved_database_url)
    web = build_web_client(TOKEN, base_url=fake.base_url)
    api = SlackWebApi(web)
    directory = Directory.load(settings.directory_path)
    users = SlackUsers(api, directory)
    notifier = SlackNotifier(api, users, CardStore(engine))
    store = KvStore()
    runtime = build_runtime(
        settings,
        registry=ToolRegistry(kv_tools(store)),
        chat_model=ScriptedChatModel.from_turns(turns),
        notifier=notifier,
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


def _last_tool_text(messages: list[BaseMessage]) -> str:
    tm = [m for m in messages if isinstance(m, ToolMessage)]
    return str(tm[-1].content) if tm else ""


def _approval_id(card: FakeMessage) -> str:
    for block in card.blocks:
        if block.get("type") == "actions":
            return str(block["elements"][0]["value"])
    raise AssertionError("the card has no buttons")


def test_mention_read_answers_in_thread(fake: FakeSlack, tmp_path: Path) -> None:
    turns = [tool_turn("kv_get", {"key": "color"}), text_turn("The color is **blue**.")]
    with _build(fake, tmp_path, turns) as stack:
        assert stack.mention("U0ERIN", "what color is it?", ts="5000.1").status_code == 200
        thread = fake.thread(CHANNEL, "5000.1")
        assert thread[0].history[-1].endswith("Done.")
        assert "The color is *blue*." in stack.thread_text("5000.1")


def test_write_card_approve_once_on_the_real_approvals_store(fake: FakeSlack, tmp_path: Path) -> None:
    turns = [
        tool_turn("kv_set", {"key": "color", "value": "green"}),
        *[text_turn("Changed the color to green.")] * 3,
    ]
    with _build(fake, tmp_path, turns) as stack:
        stack.mention("U0ERIN", "make it green", ts="5100.1")
        assert "Waiting for approval from Tom Becker (Engineering)" in stack.thread_text("5100.1")
        card = stack.card("U0TOM")  # Erin's manager
        approval_id = _approval_id(card)
        assert "~blue~ → green" in json.dumps(card.blocks, ensure_ascii=False)
        assert stack.store.applied == []

        # Erin cannot approve her own request; Mallory is not on the route.
        stack.click("U0ERIN", APPROVE_ACTION, card, approval_id)
        stack.click("U0MALLORY", APPROVE_ACTION, card, approval_id)
        refused = {c["user"] for c in fake.calls_to("chat.postEphemeral")}
        assert refused == {"U0ERIN", "U0MALLORY"}
        assert stack.store.applied == []

        # Tom double-clicks (three concurrent deliveries).
        barrier = threading.Barrier(3)

        def click() -> None:
            barrier.wait()
            stack.click("U0TOM", APPROVE_ACTION, card, approval_id)

        threads = [threading.Thread(target=click) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)

        assert len(stack.store.applied) == 1
        assert stack.store.values["color"] == "green"
        assert stack.runtime.get_approval(approval_id).status == "executed"
        assert "Approved by Tom Becker (Engineering)" in card.text
        assert all(b.get("type") != "actions" for b in card.blocks)
        text = stack.thread_text("5100.1")
        assert "Tom Becker (Engineering) approved" in text
        assert "Changed the color to green." in text
        events = [e.event for e in stack.runtime.audit.entries(approval_id=approval_id)]
        assert events.count("write_executed") == 1


def test_buttons_go_through_the_service_api_pre_checks(fake: FakeSlack, tmp_path: Path) -> None:
    """A click by someone off the route is refused by ApprovalService.decide's approver check
    (the HTTP API's message) before anything is recorded; the same click through the service
    API directly gives the same refusal."""
    from agent.errors import PermissionDenied
    from agent.service.stores import Service

    turns = [tool_turn("kv_set", {"key": "color", "value": "teal"}), text_turn("Changed it to teal.")]
    with _build(fake, tmp_path, turns) as stack:
        stack.mention("U0ERIN", "make it teal", ts="5150.1")
        card = stack.card("U0TOM")
        approval_id = _approval_id(card)
        before = list(stack.runtime.audit.entries(approval_id=approval_id))
        stack.click("U0MALLORY", APPROVE_ACTION, card, approval_id)
        (told,) = [c["text"] for c in fake.calls_to("chat.postEphemeral") if c["user"] == "U0MALLORY"]
        with pytest.raises(PermissionDenied) as direct:
            Service.for_runtime(stack.runtime).approvals.decide(
                approval_id, approver_id="u_mallory", approve=True, approvers_only=True
            )
        assert str(direct.value) in told
        assert list(stack.runtime.audit.entries(approval_id=approval_id)) == before  # nothing recorded
        assert stack.runtime.get_approval(approval_id).status == "pending"
        # Her refused click did not burn the dedupe key of a real decision: Tom's goes through.
        stack.click("U0TOM", APPROVE_ACTION, card, approval_id)
        assert len(stack.store.applied) == 1 and stack.store.values["color"] == "teal"
        assert stack.runtime.get_approval(approval_id).status == "executed"


def test_reject_with_reason_reaches_the_model(fake: FakeSlack, tmp_path: Path) -> None:
    seen: list[str] = []

    def after_reject(messages: list[BaseMessage]) -> AIMessage:
        seen.append(_last_tool_text(messages))
        return text_turn("Understood: Tom rejected it, so the color stays blue.")

    turns = [tool_turn("kv_set", {"key": "color", "value": "red"}), after_reject]
    with _build(fake, tmp_path, turns) as stack:
        stack.mention("U0ERIN", "make it red", ts="5200.1")
        card = stack.card("U0TOM")
        approval_id = _approval_id(card)
        stack.click("U0TOM", REJECT_ACTION, card, approval_id)
        (opened,) = fake.calls_to("views.open")
        view = opened["view"] if isinstance(opened["view"], dict) else json.loads(opened["view"])
        stack.send(view_submission_request(SECRET, "U0TOM", view={**view, "id": "V9"}, reason="red clashes"))

        assert seen and "REJECTED by Tom Becker" in seen[0] and "red clashes" in seen[0]
        assert stack.store.applied == []
        assert "Rejected by Tom Becker (Engineering)" in card.text
        assert "the color stays blue" in stack.thread_text("5200.1")
