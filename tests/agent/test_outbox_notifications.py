"""Approval notifications through the outbox: queued in the same transaction as the state
change, posted by the delivery worker with the request as it is now. A process killed (SIGKILL)
right after committing a decision — before any in-process notifier could run — still gets
every approver's card updated, exactly once, after the worker runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.interfaces.outbox_worker import DeliveryWorker
from agent.interfaces.slack.notifier import SlackNotifier
from agent.interfaces.slack.users import SlackUsers
from agent.notify import NotificationChannel, notification_hook
from connectors.appdb import ApprovalStore, NewApproval, StageSpec, make_engine
from connectors.appdb.slack_cards import CardStore
from connectors.outbox import SqlOutbox
from connectors.slack.client import SlackWebApi, build_web_client
from connectors.slack.fake_api import FakeSlack
from policies.directory import Directory

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "xoxb-notify-test"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as server:
        yield server


class Stack:
    def __init__(self, fake: FakeSlack, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.store = ApprovalStore(self.engine)
        self.outbox = SqlOutbox(self.engine)
        self.store.on_change = notification_hook(self.outbox)
        api = SlackWebApi(build_web_client(TOKEN, base_url=fake.base_url, rate_limit_retries=0))
        directory = Directory.load()
        notifier = SlackNotifier(api, SlackUsers(api, directory), CardStore(self.engine), strict=True)
        self.worker = DeliveryWorker(
            self.outbox, {"notify": NotificationChannel(notifier, ApprovalStore(self.engine), directory)}
        )

    def request(self, key: str = "n1") -> str:
        rec, _ = self.store.create(
            NewApproval(
                dedupe_key=key,
                kind="tool_call",
                requester_id="u_priya",
                action="send_message",
                args={"recipient": "U0BOB", "text": "hi"},
                title="send_message",
                summary="Send a message to U0BOB",
                reason="writes need approval",
                stages=[StageSpec("finance", ("u_dana", "u_finn"), "any")],
            )
        )
        return rec.id


@pytest.fixture
def stack(fake: FakeSlack, tmp_path: Path) -> Iterator[Stack]:
    fake.reset()
    s = Stack(fake, f"sqlite:///{tmp_path / 'app.db'}")
    try:
        yield s
    finally:
        s.engine.dispose()


def test_cards_are_posted_by_the_worker_from_rows_queued_with_the_request(fake: FakeSlack, stack: Stack) -> None:
    approval_id = stack.request()
    (row,) = stack.outbox.list(kinds=["notification"])
    assert row.payload == {"event": "requested", "approval_id": approval_id, "version": 0}
    assert fake.calls_to("chat.postMessage") == []  # nothing posted inside the transaction
    stack.worker.drain()
    cards = {m.channel for m in fake.messages.values()}
    assert cards == {"DU0DANA", "DU0FINN"}
    assert stack.outbox.get(row.id).status == "sent"


def test_a_rolled_back_change_queues_nothing(stack: Stack) -> None:
    hook = stack.store.on_change
    assert hook is not None

    def queue_then_fail(c: Any, rec: Any, event: str) -> None:
        hook(c, rec, event)
        raise RuntimeError("the transaction fails after the hook")

    stack.store.on_change = queue_then_fail
    with pytest.raises(RuntimeError):
        stack.request("rolled-back")
    assert stack.outbox.list() == [] and stack.store.find_by_dedupe_key("rolled-back") is None


def test_sigkill_between_decision_and_notification_still_updates_every_card_once(fake: FakeSlack, stack: Stack) -> None:
    approval_id = stack.request()
    stack.worker.drain()
    cards = list(fake.messages.values())
    assert len(cards) == 2

    # Another process decides and dies at once: the moment an in-process notifier would run.
    script = textwrap.dedent(
        f"""
        import os, signal
        from connectors.appdb import ApprovalStore, make_engine
        from connectors.outbox import SqlOutbox
        from agent.notify import notification_hook
        engine = make_engine({stack.url!r})
        store = ApprovalStore(engine)
        store.on_change = notification_hook(SqlOutbox(engine))
        res = store.decide({approval_id!r}, approver_id="u_dana", approve=True)
        assert res.accepted, res.message
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    assert stack.store.get(approval_id).status == "approved"
    assert all(m.updates == 0 for m in fake.messages.values())  # nobody has been told yet

    stack.worker.drain()
    for card in fake.messages.values():
        assert card.updates == 1 and "Approved by Dana Whitfield" in card.text
    stack.worker.drain()  # a second pass finds nothing more to do
    assert all(m.updates == 1 for m in fake.messages.values())
    events = [m.payload["event"] for m in reversed(stack.outbox.list(kinds=["notification"]))]
    assert events == ["requested", "decided"]
    assert {m.status for m in stack.outbox.list()} == {"sent"}


def test_slack_unavailable_retries_the_notification_instead_of_dropping_it(fake: FakeSlack, stack: Stack) -> None:
    stack.request()
    fake.fail("users.lookupByEmail", "service_unavailable", times=1)
    stack.worker.drain()
    (row,) = stack.outbox.list(kinds=["notification"])
    assert row.status == "queued" and "unavailable" in (row.last_error or "")
    stack.outbox.clock = lambda: row.next_attempt_at
    stack.worker.drain()
    assert stack.outbox.get(row.id).status == "sent"
    assert {m.channel for m in fake.messages.values()} == {"DU0DANA", "DU0FINN"}  # each card once
