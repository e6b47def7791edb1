"""Socket Mode, run for real: our adapter (Bolt's SocketModeHandler over slack_sdk) against a local
WebSocket server speaking Slack's envelope protocol, and the strict fake Web API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from agent.fakes.slack_runtime import ScriptedRuntime, action_request, mention_event
from agent.interfaces.slack.app import create_slack_bot
from agent.interfaces.slack.blocks import APPROVE_ACTION
from agent.interfaces.slack.notifier import SlackNotifier
from agent.interfaces.slack.socket_mode import socket_mode_handler
from agent.interfaces.slack.users import SlackUsers
from connectors.appdb import DedupeStore as Dedupe
from connectors.appdb import make_engine
from connectors.appdb.slack_cards import CardStore
from connectors.slack.client import SlackWebApi, build_web_client
from connectors.slack.fake_api import FakeMessage, FakeSlack
from connectors.slack.fake_socket_mode import FakeSocketMode
from policies.directory import Directory

BOT_TOKEN = "xoxb-socket-mode"
APP_TOKEN = "xapp-1-A0CHAMBERLAIN-1-socketmode"
CHANNEL = "C0GENERAL"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeSlack, FakeSocketMode, ScriptedRuntime]]:
    directory = Directory.load()
    with FakeSlack(token=BOT_TOKEN, app_token=APP_TOKEN) as fake, FakeSocketMode(fake) as server:
        engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
        web = build_web_client(BOT_TOKEN, base_url=fake.base_url)
        api = SlackWebApi(web)
        users = SlackUsers(api, directory)
        runtime = ScriptedRuntime(directory, SlackNotifier(api, users, CardStore(engine)))
        bolt, _bot = create_slack_bot(
            runtime, client=web, signing_secret="unused-in-socket-mode", dedupe=Dedupe(engine), users=users
        )
        handler = socket_mode_handler(bolt, APP_TOKEN)
        handler.connect()
        try:
            yield fake, server, runtime
        finally:
            handler.close()
            engine.dispose()


def _card(fake: FakeSlack, channel: str) -> FakeMessage | None:
    for m in fake.channel_messages(channel):
        for block in m.blocks:
            if block.get("type") == "actions" and block["elements"][0].get("action_id") == APPROVE_ACTION:
                return m
    return None


def test_an_event_and_an_interaction_round_trip(world: tuple[FakeSlack, FakeSocketMode, ScriptedRuntime]) -> None:
    fake, server, runtime = world
    server.wait_connected()
    assert fake.calls_to("apps.connections.open"), "the client must ask the Web API for the WebSocket URL"

    # An event: acknowledged by envelope id, then answered in the thread.
    envelope = server.send_event(mention_event("U0PRIYA", "what is the travel policy?", channel=CHANNEL, ts="100.1"))
    assert server.wait_ack(envelope).connection == 1
    answer = fake.wait_for(lambda: [m for m in fake.thread(CHANNEL, "100.1") if "[1]" in json.dumps(m.blocks)])
    assert answer

    # A write: the card goes to Alice's manager; the click arrives as an interactive envelope.
    envelope = server.send_event(mention_event("U0ALICE", "update the Acme deal", channel=CHANNEL, ts="200.1"))
    server.wait_ack(envelope)
    card = fake.wait_for(lambda: _card(fake, "DU0RAJ"))
    approval_id = card.blocks[-1]["elements"][0]["value"]
    click = action_request(
        "unused", "U0RAJ", APPROVE_ACTION, approval_id, channel=card.channel, message_ts=card.ts,
        response_url=fake.response_url(),
    )  # fmt: skip
    payload = json.loads(parse_qs(click.body)["payload"][0])
    interaction = server.send_interactive(payload)
    server.wait_ack(interaction)
    fake.wait_for(lambda: runtime.writes)
    assert [w.approval_id for w in runtime.writes] == [approval_id]
    fake.wait_for(lambda: fake.messages[(card.channel, card.ts)].updates >= 1)  # the card shows the decision


def test_disconnect_refresh_reconnects_and_keeps_working(
    world: tuple[FakeSlack, FakeSocketMode, ScriptedRuntime],
) -> None:
    fake, server, _ = world
    server.wait_connected()
    server.request_refresh()
    server.wait_connected(2)
    assert len(fake.calls_to("apps.connections.open")) >= 2  # a fresh URL for the new connection
    envelope = server.send_event(mention_event("U0PRIYA", "hello again", channel=CHANNEL, ts="300.1"))
    assert server.wait_ack(envelope).connection == 2
    fake.wait_for(lambda: fake.thread(CHANNEL, "300.1"))


def test_a_wrong_app_token_cannot_open_a_connection(tmp_path: Path) -> None:
    from slack_bolt import App
    from slack_sdk.errors import SlackApiError

    with FakeSlack(token=BOT_TOKEN, app_token=APP_TOKEN) as fake, FakeSocketMode(fake) as server:
        bolt = App(client=build_web_client(BOT_TOKEN, base_url=fake.base_url), signing_secret="s")
        handler = socket_mode_handler(bolt, "xapp-1-A0OTHER-1-wrong")
        with pytest.raises(SlackApiError, match="invalid_auth"):
            handler.connect()
        handler.close()
        assert server.connections == 0
