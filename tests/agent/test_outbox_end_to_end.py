"""Done-when of the follow-through issue, as a user would see it: Alice asks (in Slack threads)
for a channel post and an email, a manager approves both, and the delivery worker — a real
``chamberlain outbox run`` process — is SIGKILLed while the SMTP server holds the email, then
started again. The post reaches the fake Slack once, the email reaches the SMTP server under
one Message-ID, and Alice is told in each of her threads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.interfaces.slack.threads import slack_thread_id
from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn
from agent.runtime.chamberlain import build_runtime
from agent.settings import Settings
from connectors.outbox import SqlOutbox
from connectors.slack.fake_api import FakeSlack
from policies.directory import Directory
from tests.agent.outbox_support import SmtpSink, start_smtp
from tools.base import ToolRegistry
from tools.messaging import messaging_tools

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "xoxb-e2e-outbox"
BOB = "bob.nakamura@larkspur.example"
POST_THREAD = slack_thread_id("DU0ALICE", "1700000000.000100")
MAIL_THREAD = slack_thread_id("DU0ALICE", "1700000000.000200")


class HoldingSink(SmtpSink):
    """An SMTP server that, once armed, takes the message and then holds its reply."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = True
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if self.armed:
            self.armed = False
            self.holding.set()
            self.release.wait(30)  # the worker is killed while it waits for our "250"
        return answer


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as server:
        server.add_channel("C0SALES01", "sales-team")  # the strict fake refuses unknown channels
        yield server


def worker(tmp: Path, fake: FakeSlack, smtp_port: int, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CHAMBERLAIN_DATA_DIR": str(tmp),
        "SLACK_BOT_TOKEN": TOKEN,
        "CHAMBERLAIN_SLACK_API_URL": fake.base_url,
        "CHAMBERLAIN_SMTP_HOST": "127.0.0.1",
        "CHAMBERLAIN_SMTP_PORT": str(smtp_port),
        "CHAMBERLAIN_SMTP_STARTTLS": "false",  # loopback test relay; STARTTLS has its own tests
        "CHAMBERLAIN_SMTP_FROM": "chamberlain@larkspur.example",
        "CHAMBERLAIN_OUTBOX_LEASE_S": "2",
        "CHAMBERLAIN_OUTBOX_POLL_S": "0.1",
        "CHAMBERLAIN_OUTBOX_NOTIFICATIONS": "false",
    }
    with (tmp / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "agent", "outbox", "run", "--worker-id", name],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_for(predicate: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_approved_post_and_email_arrive_once_across_a_killed_worker_and_the_requester_is_told(
    fake: FakeSlack, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path)
    from connectors.appdb import make_engine

    engine = make_engine(settings.resolved_database_url)
    box = SqlOutbox(engine)
    turns = [
        tool_turn("send_message", {"recipient": "C0SALES01", "text": "Acme signed the renewal!"}),
        text_turn("Queued for delivery."),
        tool_turn("send_message", {"recipient": BOB, "text": "Acme signed\n\nThe renewal is in."}),
        text_turn("Queued for delivery."),
    ]
    rt = build_runtime(
        settings,
        registry=ToolRegistry(messaging_tools(box, directory=Directory.load())),
        chat_model=ScriptedChatModel.from_turns(turns),
        engine=engine,
    )
    with rt:
        for thread, ask in ((POST_THREAD, "Post in C0SALES01 that Acme signed."), (MAIL_THREAD, f"Email {BOB}.")):
            out = rt.ask("u_alice", ask, thread_id=thread)
            assert out.status == "waiting_for_approval"
            assert rt.decide(out.pending[0].id, approver_id="u_raj", approve=True).final
            rt.resume(thread)
    queued = {m.channel: m for m in box.list(kinds=["message"])}
    assert set(queued) == {"slack", "email"} and all(m.status == "queued" for m in queued.values())
    assert queued["email"].requester_id == "u_alice" and queued["email"].thread_id == MAIL_THREAD

    sink = HoldingSink()
    smtp = start_smtp(sink, starttls=False)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(worker(tmp_path, fake, smtp.port, "first"))
        assert sink.holding.wait(60), (tmp_path / "first.log").read_text()
        procs[0].send_signal(signal.SIGKILL)  # mid-delivery: the server has the message, we have no reply
        procs[0].wait(10)
        sink.release.set()
        assert box.get(queued["email"].id).status == "sending"

        procs.append(worker(tmp_path, fake, smtp.port, "second"))
        # The approvals' card updates (kind "notification") are delivered too, in any order.
        wait_for(
            lambda: len(box.list(status="sent", kinds=["message", "receipt"])) == 4, "both messages and both receipts"
        )
    finally:
        sink.release.set()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(15)
        smtp.stop()

    try:
        posts = [m for m in fake.channel_messages("C0SALES01")]
        assert [m.text for m in posts] == ["Acme signed the renewal!"]
        assert all(c["unfurl_links"] is False for c in fake.calls_to("chat.postMessage"))

        email = box.get(queued["email"].id)
        assert email.status == "sent" and email.attempts == 2
        # Two SMTP transactions (one answered to a dead worker), one Message-ID: a mailbox keeps one.
        ids = {r.message_id for r in sink.received}
        assert ids == {f"<{email.id}@larkspur.example>"} and len(sink.received) == 2
        assert sink.received[0].message["Subject"] == "Acme signed"

        told_post = [m.text for m in fake.thread("DU0ALICE", "1700000000.000100")]
        told_mail = [m.text for m in fake.thread("DU0ALICE", "1700000000.000200")]
        assert told_post == [":outbox_tray: Your approved message to C0SALES01 was delivered."]
        assert told_mail == [f":outbox_tray: Your approved message to {BOB} was delivered."]
    finally:
        engine.dispose()
