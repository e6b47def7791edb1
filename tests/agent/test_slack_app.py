"""The Slack bot end to end: signed HTTP requests through the FastAPI adapter into Bolt, a
scripted runtime behind it, and every Slack Web API call landing on the local fake."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from agent.fakes.slack_runtime import (
    ScriptedRuntime,
    SlackRequest,
    action_request,
    command_request,
    dm_event,
    event_request,
    mention_event,
    view_submission_request,
)
from agent.interfaces.slack.app import SlackBot, create_slack_bot
from agent.interfaces.slack.blocks import APPROVE_ACTION, REJECT_ACTION
from agent.interfaces.slack.fastapi_app import create_fastapi_app
from agent.interfaces.slack.notifier import SlackNotifier
from agent.interfaces.slack.threads import slack_thread_id
from agent.interfaces.slack.users import SlackUsers
from connectors.appdb import DedupeStore as Dedupe
from connectors.appdb import make_engine
from connectors.appdb.slack_cards import CardStore
from connectors.slack.client import SlackWebApi, build_web_client
from connectors.slack.fake_api import FakeMessage, FakeSlack
from policies.directory import Directory

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"
CHANNEL = "C0GENERAL"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory.load()


@dataclass
class Bot:
    fake: FakeSlack
    runtime: ScriptedRuntime
    bot: SlackBot
    http: TestClient

    def send(self, req: SlackRequest) -> httpx.Response:
        return self.http.post("/slack/events", content=req.body, headers=req.headers)

    def mention(self, user: str, text: str, *, ts: str, thread_ts: str | None = None) -> httpx.Response:
        event = mention_event(user, text, channel=CHANNEL, ts=ts, thread_ts=thread_ts)
        return self.send(event_request(SECRET, event, event_id=f"Ev{uuid.uuid4().hex}"))

    def thread(self, thread_ts: str, channel: str = CHANNEL) -> list[FakeMessage]:
        return self.fake.thread(channel, thread_ts)

    def thread_text(self, thread_ts: str, channel: str = CHANNEL) -> str:
        return "\n".join(_all_text(m) for m in self.thread(thread_ts, channel))

    def card(self, slack_user: str) -> FakeMessage:
        cards = [m for m in self.fake.channel_messages(f"D{slack_user}") if _approval_id(m)]
        assert cards, f"no approval card was sent to {slack_user}"
        return cards[-1]

    def click(self, user: str, action: str, card: FakeMessage, approval_id: str | None = None) -> httpx.Response:
        approval_id = approval_id or _approval_id(card) or ""
        req = action_request(
            SECRET,
            user,
            action,
            approval_id,
            channel=card.channel,
            message_ts=card.ts,
            response_url=self.fake.response_url(),
        )
        return self.send(req)


def _all_text(m: FakeMessage) -> str:
    return m.text + "\n" + json.dumps(m.blocks, ensure_ascii=False)


def _approval_id(m: FakeMessage) -> str | None:
    for block in m.blocks:
        if block.get("type") == "actions":
            for el in block["elements"]:
                if el.get("action_id") == APPROVE_ACTION:
                    return str(el["value"])
    return None


@contextmanager
def _make_bot(fake: FakeSlack, directory: Directory, tmp_path: Path, **options: Any) -> Iterator[Bot]:
    fake.reset()
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    web = build_web_client(TOKEN, base_url=fake.base_url)
    api = SlackWebApi(web)
    users = SlackUsers(api, directory)
    notifier = SlackNotifier(api, users, CardStore(engine), approvals_channel=options.pop("approvals_channel", None))
    runtime = ScriptedRuntime(directory, notifier)
    app, bot = create_slack_bot(
        runtime,
        client=web,
        signing_secret=SECRET,
        dedupe=Dedupe(engine),
        users=users,
        process_before_response=options.pop("process_before_response", True),
        progress_interval=options.pop("progress_interval", 0.05),
        **options,
    )
    with TestClient(create_fastapi_app(app)) as http:
        yield Bot(fake, runtime, bot, http)
    engine.dispose()


@pytest.fixture
def bot(fake: FakeSlack, directory: Directory, tmp_path: Path) -> Iterator[Bot]:
    with _make_bot(fake, directory, tmp_path) as b:
        yield b


# -- conversations ---------------------------------------------------------------------------------


def test_mention_streams_progress_into_one_status_message_then_answers(bot: Bot) -> None:
    bot.runtime.think_time = 0.2  # so "thinking…" is visible before the next step replaces it
    resp = bot.mention("U0PRIYA", "what was Q3 revenue?", ts="1000.1")
    assert resp.status_code == 200

    thread = bot.thread("1000.1")
    status = thread[0]
    assert status.history[0].endswith("Working on it…")
    assert any("thinking…" in h for h in status.history)
    assert status.history[-1].endswith("Done.")
    assert status.updates >= 2  # one message, edited in place
    answer = thread[-1]
    assert "Q3 revenue was *$1.2M* [1]" in _all_text(answer)
    assert "<https://docs.larkspur.example/q3|[1] Q3 sales report — Summary>" not in _all_text(answer)
    assert "[1] <https://docs.larkspur.example/q3|Q3 sales report — Summary>" in _all_text(answer)
    # Slack's user was mapped to the directory person by email.
    assert bot.runtime.turns[slack_thread_id(CHANNEL, "1000.1")] == [("u_priya", "what was Q3 revenue?")]


def test_thread_replies_continue_the_same_conversation(bot: Bot) -> None:
    bot.mention("U0PRIYA", "what was Q3 revenue?", ts="1100.1")
    bot.mention("U0PRIYA", "and what did <@U0DANA> approve?", ts="1100.2", thread_ts="1100.1")
    turns = bot.runtime.turns[slack_thread_id(CHANNEL, "1100.1")]
    assert [t[1] for t in turns] == ["what was Q3 revenue?", "and what did Dana Whitfield (Finance) approve?"]
    assert "turn 2 of this conversation" in bot.thread_text("1100.1")

    # DMs: a new message starts a conversation, a reply in its thread continues it.
    for ev in (dm_event("U0DANA", "hello", ts="1200.1"), dm_event("U0DANA", "more", ts="1200.2", thread_ts="1200.1")):
        assert bot.send(event_request(SECRET, ev, event_id=f"Ev{uuid.uuid4().hex}")).status_code == 200
    assert len(bot.runtime.turns[slack_thread_id("DU0DANA", "1200.1")]) == 2


def test_unknown_slack_user_is_refused_politely(bot: Bot) -> None:
    bot.mention("U0STRANGER", "show me the payroll", ts="1300.1")
    text = bot.thread_text("1300.1")
    assert "could not match your Slack account" in text
    assert not bot.runtime.turns


def test_bad_signature_and_stale_timestamp_are_rejected(bot: Bot) -> None:
    event = mention_event("U0PRIYA", "hi", channel=CHANNEL, ts="1400.1")
    good = event_request(SECRET, event, event_id="EvBadSig")
    forged = SlackRequest(good.body, {**good.headers, "X-Slack-Signature": "v0=" + "0" * 64})
    assert bot.send(forged).status_code == 401
    wrong_secret = event_request("not-the-secret", event, event_id="EvBadSig")
    assert bot.send(wrong_secret).status_code == 401
    stale = event_request(SECRET, event, event_id="EvStale", timestamp=int(time.time()) - 10 * 60)
    assert bot.send(stale).status_code == 401
    tampered = SlackRequest(good.body.replace("hi", "delete everything"), good.headers)
    assert bot.send(tampered).status_code == 401
    assert not bot.runtime.turns
    assert not bot.fake.calls_to("chat.postMessage")


def test_slack_retry_of_the_same_event_runs_once(bot: Bot) -> None:
    event = mention_event("U0PRIYA", "what was Q3 revenue?", channel=CHANNEL, ts="1500.1")
    first = bot.send(event_request(SECRET, event, event_id="EvRetry1"))
    retry = bot.send(event_request(SECRET, event, event_id="EvRetry1", retry_num=1))
    assert first.status_code == retry.status_code == 200
    assert len(bot.runtime.turns[slack_thread_id(CHANNEL, "1500.1")]) == 1
    answers = [m for m in bot.thread("1500.1") if "Q3 revenue" in m.text]
    assert len(answers) == 1


def test_errors_show_in_the_thread_and_the_conversation_continues(bot: Bot) -> None:
    bot.mention("U0PRIYA", "model down please", ts="1600.1")
    assert "language model is not reachable" in bot.thread_text("1600.1")
    bot.mention("U0PRIYA", "tool failure now", ts="1600.2", thread_ts="1600.1")
    assert "warehouse query failed" in bot.thread_text("1600.1")
    bot.mention("U0PRIYA", "delete the Acme deal", ts="1600.3", thread_ts="1600.1")
    assert "Policy denied" in bot.thread_text("1600.1")
    bot.mention("U0PRIYA", "crash", ts="1600.4", thread_ts="1600.1")
    assert "Something went wrong on my side" in bot.thread_text("1600.1")
    bot.mention("U0PRIYA", "what was Q3 revenue?", ts="1600.5", thread_ts="1600.1")
    text = bot.thread_text("1600.1")
    assert "turn 5 of this conversation" in text
    assert ":warning:" in text


def test_small_tables_inline_big_tables_uploaded_as_csv(bot: Bot) -> None:
    bot.mention("U0PRIYA", "revenue by region as a table", ts="1700.1")
    assert "```" in bot.thread_text("1700.1") and "Central" in bot.thread_text("1700.1")
    assert not bot.fake.files
    bot.mention("U0PRIYA", "give me the big table", ts="1700.2", thread_ts="1700.1")
    (csv_file,) = bot.fake.files.values()
    assert csv_file.filename.endswith(".csv")
    assert csv_file.thread_ts == "1700.1" and csv_file.channel == CHANNEL
    assert csv_file.content.decode().count("\n") == 26  # header + 25 rows
    assert "attached as CSV" in bot.thread_text("1700.1")


# -- approvals -------------------------------------------------------------------------------------


def test_write_card_approve_by_the_right_person_runs_once(bot: Bot) -> None:
    bot.mention("U0ALICE", "update the Acme deal to closed won", ts="2000.1")
    assert "Waiting for approval from Raj Patel (Sales)" in bot.thread_text("2000.1")
    card = bot.card("U0RAJ")  # Alice's manager, by DM
    card_text = _all_text(card)
    assert "Alice Chen (Sales)" in card_text
    assert "~Negotiation~ → Closed Won" in card_text
    assert "Why approval is needed" in card_text
    assert not bot.runtime.writes

    approval_id = _approval_id(card)
    assert bot.click("U0RAJ", APPROVE_ACTION, card).status_code == 200

    assert len(bot.runtime.writes) == 1
    assert card.updates == 1
    assert "Approved by Raj Patel (Sales)" in _all_text(card)
    assert _approval_id(card) is None  # buttons are gone
    thread = bot.thread_text("2000.1")
    assert "Raj Patel (Sales) approved" in thread
    assert "now *Closed Won*" in thread

    # A second click (double click, or a click on a stale copy) changes nothing.
    bot.click("U0RAJ", APPROVE_ACTION, card, approval_id)
    assert len(bot.runtime.writes) == 1
    ephemerals = bot.fake.calls_to("chat.postEphemeral")
    assert ephemerals and ephemerals[-1]["user"] == "U0RAJ"


def test_concurrent_double_click_decides_and_executes_once(bot: Bot) -> None:
    bot.mention("U0ALICE", "update the Acme deal", ts="2100.1")
    card = bot.card("U0RAJ")
    barrier = threading.Barrier(3)
    codes: list[int] = []

    def click() -> None:
        barrier.wait()
        codes.append(bot.click("U0RAJ", APPROVE_ACTION, card).status_code)

    threads = [threading.Thread(target=click) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert codes == [200, 200, 200]
    assert len(bot.runtime.writes) == 1
    assert len([m for m in bot.thread("2100.1") if "now *Closed Won*" in m.text]) == 1
    assert len(bot.fake.calls_to("chat.postEphemeral")) == 2  # the two extra clicks were told


def test_self_approval_and_unauthorized_clicks_get_an_ephemeral_refusal(bot: Bot) -> None:
    bot.mention("U0ALICE", "update the Acme deal", ts="2200.1")
    card = bot.card("U0RAJ")
    bot.click("U0ALICE", APPROVE_ACTION, card)  # the requester, clicking a forwarded card
    bot.click("U0BOB", APPROVE_ACTION, card)  # a colleague who is not on the route
    bot.click("U0STRANGER", APPROVE_ACTION, card)  # not in the directory at all
    bot.click("U0BOB", REJECT_ACTION, card)  # no modal for him either
    refusals = {(c["user"], c["text"]) for c in bot.fake.calls_to("chat.postEphemeral")}
    assert any(u == "U0ALICE" and "your own request" in t for u, t in refusals)
    assert any(u == "U0BOB" and "not an approver" in t for u, t in refusals)
    assert any(u == "U0STRANGER" for u, _ in refusals)
    assert not bot.fake.calls_to("views.open")
    assert not bot.runtime.writes
    assert card.updates == 0
    # The right person can still decide afterwards.
    bot.click("U0RAJ", APPROVE_ACTION, card)
    assert len(bot.runtime.writes) == 1


def test_reject_with_a_reason_tells_the_model_and_updates_the_card(bot: Bot) -> None:
    bot.mention("U0ALICE", "update the Acme deal", ts="2300.1")
    card = bot.card("U0RAJ")
    assert bot.click("U0RAJ", REJECT_ACTION, card).status_code == 200
    (opened,) = bot.fake.calls_to("views.open")
    view = {**opened["view"], "id": "V1"} if isinstance(opened["view"], dict) else json.loads(opened["view"])

    empty = bot.send(view_submission_request(SECRET, "U0RAJ", view=view, reason="  "))
    assert empty.json()["response_action"] == "errors"
    assert not bot.runtime.told

    ok = bot.send(view_submission_request(SECRET, "U0RAJ", view=view, reason="The contract is not signed yet"))
    assert ok.status_code == 200
    thread_id = slack_thread_id(CHANNEL, "2300.1")
    assert bot.runtime.told[thread_id] == ["rejected by Raj Patel (Sales): The contract is not signed yet"]
    assert not bot.runtime.writes
    assert "Rejected by Raj Patel (Sales)" in _all_text(card) and "not signed yet" in _all_text(card)
    assert _approval_id(card) is None
    assert "so I did not make it" in bot.thread_text("2300.1")


def test_cards_in_a_configured_channel_are_updated_on_decision(
    fake: FakeSlack, directory: Directory, tmp_path: Path
) -> None:
    with _make_bot(fake, directory, tmp_path, approvals_channel="C0APPROVALS") as bot:
        bot.mention("U0DEVON", "change the Acme deal amount", ts="2400.1")
        (card,) = fake.channel_messages("C0APPROVALS")
        assert "<@U0CARMEN>" in card.text  # Devon's manager is mentioned
        assert not fake.channel_messages("DU0CARMEN")
        bot.click("U0CARMEN", APPROVE_ACTION, card)
        assert "Approved by Carmen Diaz (Sales)" in _all_text(card)
        assert len(bot.runtime.writes) == 1


# -- slash command ---------------------------------------------------------------------------------


def test_slash_command_help_approvals_and_ask(bot: Bot) -> None:
    help_resp = bot.send(command_request(SECRET, "U0PRIYA", "help", response_url=bot.fake.response_url()))
    assert "/chamberlain approvals" in help_resp.text

    bot.mention("U0ALICE", "update the Acme deal", ts="2500.1")
    bot.send(command_request(SECRET, "U0RAJ", "approvals", response_url=bot.fake.response_url("raj")))
    (listing,) = bot.fake.calls_to("response_url")
    assert listing["name"] == "raj" and listing["response_type"] == "ephemeral"
    assert "crm_update_deal" in json.dumps(listing["blocks"]) and APPROVE_ACTION in json.dumps(listing["blocks"])

    ack = bot.send(command_request(SECRET, "U0PRIYA", "ask what was Q3 revenue?", response_url=bot.fake.response_url()))
    assert "On it" in ack.text
    root = next(m for m in bot.fake.channel_messages(CHANNEL) if m.text.startswith("<@U0PRIYA> asked"))
    assert "Q3 revenue was" in bot.thread_text(root.ts)


# -- Slack pushing back ----------------------------------------------------------------------------


def test_rate_limited_update_is_retried_after_retry_after(bot: Bot) -> None:
    bot.fake.rate_limit("chat.update", times=1, retry_after=1)
    bot.mention("U0PRIYA", "what was Q3 revenue?", ts="2600.1")
    updates = bot.fake.recorded("chat.update")
    assert [u.status for u in updates[:2]] == [429, 200]
    assert updates[1].at - updates[0].at >= 1.0
    assert bot.thread("2600.1")[0].history[-1].endswith("Done.")


# -- HTTP mode in production: ack first, work after ------------------------------------------------


def test_http_mode_acks_before_the_work_runs(fake: FakeSlack, directory: Directory, tmp_path: Path) -> None:
    with _make_bot(fake, directory, tmp_path, process_before_response=False) as bot:
        # A model slower than Slack's 3 s deadline: the ack must not wait for it. (Behaviour, not
        # speed: the answer is still missing when the ack returns; latency lives in the benchmark.)
        bot.runtime.think_time = 3.5
        started = time.monotonic()
        resp = bot.mention("U0PRIYA", "what was Q3 revenue?", ts="3000.1")
        acked_in = time.monotonic() - started
        assert resp.status_code == 200 and acked_in < 3.0
        assert not [m for m in bot.thread("3000.1") if "Q3 revenue was" in m.text]

        bot.mention("U0ALICE", "update the Acme deal", ts="3000.2")
        card = fake.wait_for(lambda: [m for m in fake.channel_messages("DU0RAJ") if _approval_id(m)])[0]
        started = time.monotonic()
        assert bot.click("U0RAJ", APPROVE_ACTION, card).status_code == 200
        assert time.monotonic() - started < 3.0

        assert bot.bot.drain(timeout=20)
        assert [m for m in bot.thread("3000.1") if "Q3 revenue was" in m.text]
        assert len(bot.runtime.writes) == 1


def test_http_ack_path_drops_retries_and_refuses_bad_signatures(
    fake: FakeSlack, directory: Directory, tmp_path: Path
) -> None:
    with _make_bot(fake, directory, tmp_path, process_before_response=False) as bot:
        assert bot.bot.acker is not None  # production HTTP mode takes the short ack path
        ev = mention_event("U0PRIYA", "what was Q3 revenue?", channel=CHANNEL, ts="3100.1")
        first = bot.send(event_request(SECRET, ev, event_id="EvAck1"))
        retry = bot.send(event_request(SECRET, ev, event_id="EvAck1", retry_num=1))
        forged = bot.send(event_request("not-the-secret", ev, event_id="EvAck2"))
        assert (first.status_code, retry.status_code) == (200, 200)
        assert forged.status_code == 401  # not ours to ack: Bolt rejects it
        assert bot.bot.drain(timeout=20)
        answers = [m for m in bot.thread("3100.1") if "Q3 revenue was" in m.text]
        assert len(answers) == 1  # one run for the event and its retry; none for the forgery
        # Another worker (no shared memory) receiving the retry: the durable dedupe drops it.
        with _make_bot(fake, directory, tmp_path, process_before_response=False) as other:
            assert other.send(event_request(SECRET, ev, event_id="EvAck1", retry_num=2)).status_code == 200
            assert other.bot.drain(timeout=20)
            assert not other.runtime.turns  # acked there, dropped there
