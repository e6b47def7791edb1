"""Every copy of an approval card shows the real end state, from the same outbox events that
drive delivery: executed with the result id (after a SIGKILL between execution and card
update), failed with why and who can retry (and a Retry button), stale with nothing
overwritten, and an approved message's delivery state once the worker has delivered it.

Cards are posted and updated by the delivery worker through the strict fake Slack Web API and
the real slack_sdk client."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.approvals import Check, EffectFailed, Lifecycle
from agent.interfaces.outbox_worker import DeliveryWorker
from agent.interfaces.slack.blocks import RETRY_ACTION
from agent.interfaces.slack.cards import CardStore
from agent.interfaces.slack.notifier import SlackNotifier
from agent.interfaces.slack.users import SlackUsers
from agent.notify import NotificationChannel, notification_hook
from connectors.appdb import ApprovalRecord, ApprovalStore, AuditLog, NewApproval, StageSpec, make_engine
from connectors.delivery import SlackChannel
from connectors.outbox import SqlOutbox
from connectors.slack.client import SlackWebApi, build_web_client
from connectors.slack.fake_api import FakeMessage, FakeSlack
from policies.directory import Directory

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "xoxb-truthful"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as server:
        yield server


class Effect:
    """A write whose behaviour the test sets: fail, go stale, or succeed with a result."""

    def __init__(self) -> None:
        self.error: EffectFailed | None = None
        self.stale: str | None = None
        self.result: Any = {"ref": "crm://notes/777"}
        self.runs = 0

    def check(self, rec: ApprovalRecord) -> Check | None:
        return Check("stale", self.stale) if self.stale else None

    def run(self, rec: ApprovalRecord, idempotency_key: str) -> Any:
        self.runs += 1
        if self.error is not None:
            raise self.error
        return self.result(rec) if callable(self.result) else self.result


class Stack:
    def __init__(self, fake: FakeSlack, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.store = ApprovalStore(self.engine)
        self.outbox = SqlOutbox(self.engine)
        self.store.on_change = notification_hook(self.outbox)
        self.directory = Directory.load()
        self.effect = Effect()
        self.lifecycle = Lifecycle(self.store, AuditLog(self.engine), self.directory)
        self.lifecycle.register("crm_add_note", self.effect)
        web = build_web_client(TOKEN, base_url=fake.base_url, rate_limit_retries=0)
        api = SlackWebApi(web)
        notifier = SlackNotifier(api, SlackUsers(api, self.directory), CardStore(self.engine), strict=True)
        self.worker = DeliveryWorker(
            self.outbox,
            {
                "notify": NotificationChannel(notifier, ApprovalStore(self.engine), self.directory),
                "slack": SlackChannel(web),
            },
        )

    def request(self) -> str:
        rec, _ = self.store.create(
            NewApproval(
                dedupe_key="t1:call_1",
                kind="tool_call",
                requester_id="u_priya",
                action="crm_add_note",
                args={"object_type": "deals", "record_id": "30001", "body": "Signed."},
                title="crm_add_note",
                summary="Add a note to deal 30001",
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


def _cards(fake: FakeSlack) -> list[FakeMessage]:
    return [m for m in fake.messages.values() if m.blocks]


def _text(card: FakeMessage) -> str:
    return card.text + json.dumps(card.blocks, ensure_ascii=False)


def test_sigkill_between_execution_and_card_update_the_cards_converge_on_executed(
    fake: FakeSlack, stack: Stack
) -> None:
    approval_id = stack.request()
    stack.worker.drain()
    assert len(_cards(fake)) == 2
    # Another process decides, executes the write and dies before any card is touched.
    script = textwrap.dedent(
        f"""
        import os, signal
        from agent.approvals import Lifecycle
        from agent.notify import notification_hook
        from connectors.appdb import ApprovalStore, AuditLog, make_engine
        from connectors.outbox import SqlOutbox
        from policies.directory import Directory

        class Note:
            def check(self, rec):
                return None
            def run(self, rec, key):
                return {{"ref": "crm://notes/777", "id": "777", "object_type": "notes"}}

        engine = make_engine({stack.url!r})
        store = ApprovalStore(engine)
        store.on_change = notification_hook(SqlOutbox(engine))
        life = Lifecycle(store, AuditLog(engine), Directory.load())
        life.register("crm_add_note", Note())
        assert life.decide({approval_id!r}, approver_id="u_dana", approve=True).accepted
        assert life.execute({approval_id!r}).outcome == "executed"
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    assert stack.store.get(approval_id).status == "executed"
    assert all(m.updates == 0 for m in _cards(fake))  # nobody has been told yet

    stack.worker.drain()  # the restarted worker
    for card in _cards(fake):
        assert "done; result: crm://notes/777" in _text(card)
        assert "Approved by Dana Whitfield" in card.text
        assert not any(b["type"] == "actions" for b in card.blocks)
    updates = [m.updates for m in _cards(fake)]
    stack.worker.drain()  # nothing more to do: the cards stay as they are
    assert [m.updates for m in _cards(fake)] == updates


def test_a_failed_execution_says_why_who_can_retry_and_offers_retry(fake: FakeSlack, stack: Stack) -> None:
    approval_id = stack.request()
    stack.effect.error = EffectFailed("the CRM answered 503 (busy)", retryable=True)
    stack.lifecycle.decide(approval_id, approver_id="u_finn", approve=True)
    assert stack.lifecycle.execute(approval_id).outcome == "failed"
    stack.worker.drain()
    for card in _cards(fake):
        text = _text(card)
        assert "Approved by Finn Osei" in text and "but it failed: the CRM answered 503 (busy)." in text
        assert "Who can retry" in text and "Priya Shah" in text and "an IT admin" in text
        assert f"chamberlain approvals retry {approval_id}" in text
        (retry,) = [e for b in card.blocks if b["type"] == "actions" for e in b["elements"]]
        assert retry["action_id"] == RETRY_ACTION and retry["value"] == approval_id
    # The retry runs the same write again; the cards follow.
    stack.effect.error = None
    with pytest.raises(PermissionError):
        stack.lifecycle.retry(approval_id, operator_id="u_mallory")
    assert stack.lifecycle.retry(approval_id, operator_id="u_priya").outcome == "executed"
    stack.worker.drain()
    for card in _cards(fake):
        assert "done; result: crm://notes/777" in _text(card)
        assert not any(b["type"] == "actions" for b in card.blocks)


def test_a_stale_request_says_nothing_was_overwritten(fake: FakeSlack, stack: Stack) -> None:
    approval_id = stack.request()
    stack.effect.stale = "deal 30001 changed after it was approved"
    stack.lifecycle.decide(approval_id, approver_id="u_dana", approve=True)
    assert stack.lifecycle.execute(approval_id).outcome == "stale"
    stack.worker.drain()
    assert stack.effect.runs == 0
    for card in _cards(fake):
        text = _text(card)
        assert "Not run: deal 30001 changed after it was approved. Nothing was overwritten." in text
        assert not any(b["type"] == "actions" for b in card.blocks)


def test_an_approved_message_card_shows_its_delivery_state(fake: FakeSlack, stack: Stack) -> None:
    approval_id = stack.request()

    def queue(rec: ApprovalRecord) -> Any:  # what send_message does: queue with the approval's key
        sent = stack.outbox.send("U0BOB", "Acme signed.", idempotency_key=rec.idempotency_key)
        return {"message_id": sent.id, "recipient": "U0BOB", "summary": "queued"}

    stack.effect.result = queue
    stack.lifecycle.decide(approval_id, approver_id="u_dana", approve=True)
    assert stack.lifecycle.execute(approval_id).outcome == "executed"
    (msg,) = stack.outbox.list(kinds=["message"])
    stack.worker.drain()
    assert stack.outbox.get(msg.id).status == "sent"
    delivered = stack.outbox.get(msg.id).delivery_ref or ""
    for card in _cards(fake):
        text = _text(card)
        assert f"the message {msg.id} was delivered ({delivered})" in text, text
    assert [m for m in fake.messages.values() if m.text == "Acme signed."]  # delivered once
    assert len([m for m in fake.messages.values() if m.text == "Acme signed."]) == 1
