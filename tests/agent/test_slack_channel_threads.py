"""Channel threads end to end: signed Events API requests into Bolt over HTTP, the real
``slack_sdk`` client calling the local fake Slack (``conversations.members`` included). A
conversation started by a mention continues in its thread without further mentions; the answer
is posted in the channel only when every member may see it, else in the asker's DM."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agent.fakes.slack_runtime import ScriptedRuntime, event_request, mention_event
from agent.interfaces.slack.app import create_slack_bot
from agent.interfaces.slack.audience import covers
from agent.interfaces.slack.fastapi_app import create_fastapi_app
from agent.interfaces.slack.notifier import SlackNotifier
from agent.interfaces.slack.threads import slack_thread_id
from agent.interfaces.slack.users import SlackUsers
from connectors.appdb import DedupeStore, make_engine
from connectors.appdb.slack_cards import CardStore
from connectors.slack.client import SlackWebApi, build_web_client
from connectors.slack.fake_api import FakeSlack
from policies.directory import Directory

SECRET = "channel-signing-secret"
TOKEN = "xoxb-channel-threads"
DEALS = "C0DEALS01"  # sales people only
MIXED = "C0MIXED01"  # sales plus an engineer (no CRM access) and a contractor


@dataclass
class Bot:
    fake: FakeSlack
    runtime: ScriptedRuntime
    http: TestClient

    def send(self, event: dict[str, object]) -> Any:
        req = event_request(SECRET, event, event_id=f"Ev{uuid.uuid4().hex}")
        resp = self.http.post("/slack/events", content=req.body, headers=req.headers)
        assert resp.status_code == 200
        return resp

    def mention(self, user: str, text: str, *, channel: str, ts: str, thread_ts: str | None = None) -> None:
        self.send(mention_event(user, text, channel=channel, ts=ts, thread_ts=thread_ts))

    def reply(self, user: str, text: str, *, channel: str, ts: str, thread_ts: str) -> None:
        """A thread reply without a mention (message.channels)."""
        self.send(
            {
                "type": "message",
                "channel_type": "channel",
                "user": user,
                "text": text,
                "ts": ts,
                "thread_ts": thread_ts,
                "channel": channel,
                "event_ts": ts,
            }
        )

    def texts(self, channel: str, thread_ts: str) -> list[str]:
        return [m.text for m in self.fake.thread(channel, thread_ts)]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as server:
        for cid, name in ((DEALS, "deals"), (MIXED, "mixed"), ("C0GUESTS1", "guests"), ("C0NOSCOPE", "noscope")):
            server.add_channel(cid, name)
        yield server


@pytest.fixture
def bot(fake: FakeSlack, tmp_path: Path) -> Iterator[Bot]:
    fake.reset()
    fake.channel_members[DEALS] = ["U0ALICE", "U0BOB", "U0RAJ", "U0CHAMBERLAIN"]
    fake.channel_members[MIXED] = ["U0ALICE", "U0BOB", "U0ERIN", "U0CHAMBERLAIN"]
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    web = build_web_client(TOKEN, base_url=fake.base_url)
    api = SlackWebApi(web)
    directory = Directory.load()
    users = SlackUsers(api, directory)
    runtime = ScriptedRuntime(directory, SlackNotifier(api, users, CardStore(engine)))
    app, _ = create_slack_bot(
        runtime,
        client=web,
        signing_secret=SECRET,
        dedupe=DedupeStore(engine),
        users=users,
        process_before_response=True,
        progress_interval=0.05,
    )
    with TestClient(create_fastapi_app(app)) as http:
        yield Bot(fake, runtime, http)
    engine.dispose()


def test_mention_then_unmentioned_follow_ups_continue_the_thread(bot: Bot) -> None:
    bot.mention("U0ALICE", "what was Q3 revenue?", channel=DEALS, ts="2000.1")
    bot.reply("U0ALICE", "and in the West?", channel=DEALS, ts="2000.2", thread_ts="2000.1")
    bot.reply("U0BOB", "and for my accounts?", channel=DEALS, ts="2000.3", thread_ts="2000.1")
    turns = bot.runtime.turns[slack_thread_id(DEALS, "2000.1")]
    # Same identity rules as DMs: each turn runs as the person who wrote it.
    assert turns == [
        ("u_alice", "what was Q3 revenue?"),
        ("u_alice", "and in the West?"),
        ("u_bob", "and for my accounts?"),
    ]
    assert any("turn 3 of this conversation" in t for t in bot.texts(DEALS, "2000.1"))
    assert bot.fake.calls_to("conversations.members")  # the audience was checked


def test_a_thread_the_bot_was_never_mentioned_in_is_ignored(bot: Bot) -> None:
    bot.reply("U0ALICE", "team lunch friday?", channel=DEALS, ts="2100.2", thread_ts="2100.1")
    assert not bot.runtime.turns
    assert bot.fake.calls_to("chat.postMessage") == []


def test_the_same_reply_as_mention_and_message_event_runs_once(bot: Bot) -> None:
    bot.mention("U0ALICE", "what was Q3 revenue?", channel=DEALS, ts="2200.1")
    bot.mention("U0ALICE", "and Q4?", channel=DEALS, ts="2200.2", thread_ts="2200.1")
    bot.reply("U0ALICE", "<@U0CHAMBERLAIN> and Q4?", channel=DEALS, ts="2200.2", thread_ts="2200.1")
    assert len(bot.runtime.turns[slack_thread_id(DEALS, "2200.1")]) == 2


def test_a_member_without_crm_access_sends_the_answer_to_a_dm(bot: Bot, fake: FakeSlack) -> None:
    bot.mention("U0ALICE", "what was Q3 revenue?", channel=MIXED, ts="2300.1")
    channel_texts = bot.texts(MIXED, "2300.1")
    assert channel_texts == [
        ":lock: some members of this channel may not see everything you can, so I'll answer you in a DM."
    ]
    assert "Q3 revenue" not in " ".join(m.text for m in fake.channel_messages(MIXED))
    assert not bot.runtime.turns.get(slack_thread_id(MIXED, "2300.1"))

    (root,) = [m for m in fake.channel_messages("DU0ALICE") if m.thread_ts is None]
    assert root.text == f"You asked in <#{MIXED}>: what was Q3 revenue?"
    dm_thread = slack_thread_id("DU0ALICE", root.ts)
    assert bot.runtime.turns[dm_thread] == [("u_alice", "what was Q3 revenue?")]
    assert any("Q3 revenue was" in m.text for m in fake.thread("DU0ALICE", root.ts))

    # A follow-up in the channel thread continues the same DM conversation.
    bot.reply("U0ALICE", "and in the West?", channel=MIXED, ts="2300.2", thread_ts="2300.1")
    assert [t[1] for t in bot.runtime.turns[dm_thread]] == ["what was Q3 revenue?", "and in the West?"]
    assert bot.texts(MIXED, "2300.1")[-1] == ":lock: Answered in our DM."
    assert "Q3 revenue" not in " ".join(m.text for m in fake.channel_messages(MIXED))


def test_someone_outside_the_directory_or_an_unreadable_member_list_also_means_dm(bot: Bot, fake: FakeSlack) -> None:
    fake.channel_members["C0GUESTS1"] = ["U0ALICE", "U0STRANGER"]
    bot.mention("U0ALICE", "what was Q3 revenue?", channel="C0GUESTS1", ts="2400.1")
    assert "not in the company directory" in bot.texts("C0GUESTS1", "2400.1")[0]

    fake.fail("conversations.members", "missing_scope")
    bot.mention("U0ALICE", "what was Q3 revenue?", channel="C0NOSCOPE", ts="2500.1")
    assert "could not check who is in this channel" in bot.texts("C0NOSCOPE", "2500.1")[0]
    assert not bot.runtime.turns.get(slack_thread_id("C0NOSCOPE", "2500.1"))


def test_the_rule_is_roles_groups_and_clearance() -> None:
    d = Directory.load()
    alice, raj, erin, casey, olivia = (d.get(i) for i in ("u_alice", "u_raj", "u_erin", "u_casey", "u_olivia"))
    assert covers(raj, alice)  # a sales manager sees what an account executive sees
    assert not covers(alice, raj)  # ... but not the other way round
    assert not covers(erin, alice)  # engineering has no CRM access
    assert not covers(casey, erin)  # a contractor: fewer roles, public clearance
    assert not covers(olivia, alice)  # rank is not access: the CEO does not hold the sales role
