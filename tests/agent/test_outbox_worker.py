"""The delivery worker against real protocols: the fake Slack Web API through the real
``slack_sdk`` client, and email through ``smtplib`` to a real SMTP server (aiosmtpd) with
STARTTLS and login. The app database is a real SQLite file."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.interfaces.outbox_worker import DeliveryWorker, RetryPolicy
from agent.interfaces.slack.threads import slack_thread_id
from connectors.appdb import make_engine
from connectors.delivery import SlackChannel, SmtpChannel, SmtpConfig, slack_client_msg_id
from connectors.outbox import SqlOutbox
from connectors.slack.client import build_web_client
from connectors.slack.fake_api import FakeSlack
from tests.agent.outbox_support import Clock, SmtpSink, client_tls_context, start_smtp

TOKEN = "xoxb-outbox-test"
ASKED_IN = slack_thread_id("DU0ALICE", "1700000000.000100")  # where the requester asked


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as server:
        server.add_channel("C0SALES01", "sales-team")  # the strict fake refuses unknown channels
        yield server


@pytest.fixture
def slack(fake: FakeSlack) -> Iterator[FakeSlack]:
    fake.reset()
    yield fake
    fake.reset()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(tmp_path: Path, clock: Clock) -> Iterator[SqlOutbox]:
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    try:
        yield SqlOutbox(engine, clock=clock)
    finally:
        engine.dispose()


def slack_channel(fake: FakeSlack, token: str = TOKEN) -> SlackChannel:
    return SlackChannel(build_web_client(token, base_url=fake.base_url, rate_limit_retries=0))


def worker(outbox: SqlOutbox, channels: dict[str, Any], name: str = "w1", **kw: Any) -> DeliveryWorker:
    kw.setdefault("policy", RetryPolicy(max_attempts=4, base_s=10, cap_s=600))
    return DeliveryWorker(outbox, channels, worker_id=name, rng=random.Random(7), **kw)


def queue(outbox: SqlOutbox, recipient: str, text: str, key: str, **kw: Any) -> str:
    kw.setdefault("requester_id", "u_alice")
    kw.setdefault("thread_id", ASKED_IN)
    return outbox.send(recipient, text, idempotency_key=key, **kw).id


# ------------------------------------------------------------------------------- Slack


def test_dm_channel_and_thread_reply_arrive_once_without_unfurling(slack: FakeSlack, outbox: SqlOutbox) -> None:
    dm = queue(outbox, "U0BOB", "Your Q3 numbers are in.", "k-dm")
    post = queue(outbox, "C0SALES01", "Deal review at 3pm.", "k-ch")
    reply = queue(outbox, "C0SALES01", "Agenda attached.", "k-th", thread_ts="1700000000.000500", thread_id=None)
    w = worker(outbox, {"slack": slack_channel(slack)})
    w.drain()

    assert [m.text for m in slack.channel_messages("DU0BOB")] == ["Your Q3 numbers are in."]
    by_text = {m.text: m for m in slack.channel_messages("C0SALES01")}
    assert by_text["Agenda attached."].thread_ts == "1700000000.000500"
    assert by_text["Deal review at 3pm."].thread_ts is None
    posts = [
        c for c in slack.calls_to("chat.postMessage") if c["text"] in by_text or c["channel"] in ("U0BOB", "DU0BOB")
    ]
    assert posts and all(c["unfurl_links"] is False and c["unfurl_media"] is False for c in posts)
    assert {c["client_msg_id"] for c in posts} == {slack_client_msg_id(i) for i in (dm, post, reply)}

    sent = {m.id: m for m in outbox.list(status="sent")}
    assert (sent[dm].delivery_ref or "").startswith("DU0BOB/")
    assert sent[post].delivered_at is not None and sent[post].attempts == 1


def test_requester_is_told_in_their_thread_when_delivered(slack: FakeSlack, outbox: SqlOutbox) -> None:
    queue(outbox, "U0BOB", "Lunch at noon?", "k-told")
    worker(outbox, {"slack": slack_channel(slack)}).drain()
    thread = slack.thread("DU0ALICE", "1700000000.000100")
    assert [m.text for m in thread] == [":outbox_tray: Your approved message to U0BOB was delivered."]
    # The receipt is itself an outbox row, delivered once; receipts get no receipts.
    receipts = outbox.list(kinds=["receipt"])
    assert len(receipts) == 1 and receipts[0].status == "sent"


def test_ratelimited_429_waits_for_retry_after_then_delivers(slack: FakeSlack, outbox: SqlOutbox, clock: Clock) -> None:
    mid = queue(outbox, "U0BOB", "after the limit", "k-429", thread_id=None)
    slack.rate_limit("chat.postMessage", retry_after=30)
    w = worker(outbox, {"slack": slack_channel(slack)})
    w.drain()
    m = outbox.get(mid)
    assert m.status == "queued" and "ratelimited" in (m.last_error or "")
    assert m.next_attempt_at is not None
    wait = (m.next_attempt_at - clock()).total_seconds()
    assert 30 <= wait <= 31  # Retry-After is a floor, jitter at most a second
    clock.advance(29)
    w.drain()
    assert outbox.get(mid).status == "queued"  # not before Retry-After
    clock.advance(2)
    w.drain()
    assert outbox.get(mid).status == "sent"
    assert [m.text for m in slack.channel_messages("DU0BOB")] == ["after the limit"]


@pytest.mark.parametrize(
    ("error", "why"),
    [
        ("channel_not_found", "the channel does not exist"),
        ("not_in_channel", "invite it"),
        ("is_archived", "archived"),
    ],
)
def test_permanent_slack_errors_fail_at_once_with_the_reason_and_tell_the_requester(
    slack: FakeSlack, outbox: SqlOutbox, error: str, why: str
) -> None:
    mid = queue(outbox, "C0GONE001", "hello?", f"k-{error}")
    slack.fail("chat.postMessage", error)
    worker(outbox, {"slack": slack_channel(slack)}).drain()
    m = outbox.get(mid)
    assert m.status == "failed" and m.attempts == 1
    assert error in (m.last_error or "") and why in (m.last_error or "")
    assert [x.id for x in outbox.list(status="failed")] == [mid]  # the dead-letter view
    (told,) = slack.thread("DU0ALICE", "1700000000.000100")
    assert "could not be delivered" in told.text and error in told.text and "outbox retry" in told.text


def test_invalid_auth_is_permanent(slack: FakeSlack, outbox: SqlOutbox) -> None:
    mid = queue(outbox, "U0BOB", "hi", "k-auth", thread_id=None)
    worker(outbox, {"slack": slack_channel(slack, token="xoxb-wrong")}).drain()
    m = outbox.get(mid)
    assert m.status == "failed" and "invalid_auth" in (m.last_error or "") and "SLACK_BOT_TOKEN" in (m.last_error or "")


def test_retryable_errors_back_off_exponentially_then_fail_after_max_attempts(
    slack: FakeSlack, outbox: SqlOutbox, clock: Clock
) -> None:
    mid = queue(outbox, "U0BOB", "flaky", "k-flaky", thread_id=None)
    slack.fail("chat.postMessage", "internal_error", times=10)
    w = worker(outbox, {"slack": slack_channel(slack)})
    waits = []
    for _ in range(3):
        w.drain()
        m = outbox.get(mid)
        assert m.status == "queued" and m.next_attempt_at is not None
        waits.append((m.next_attempt_at - clock()).total_seconds())
        clock.advance(waits[-1] + 0.01)
    # base 10 s doubling, with equal jitter: [5,10], [10,20], [20,40]
    assert 5 <= waits[0] <= 10 and 10 <= waits[1] <= 20 and 20 <= waits[2] <= 40
    w.drain()
    m = outbox.get(mid)
    assert m.status == "failed" and m.attempts == 4 and "gave up after 4 attempts" in (m.last_error or "")


def test_retry_by_hand_requeues_a_dead_letter(slack: FakeSlack, outbox: SqlOutbox) -> None:
    mid = queue(outbox, "U0BOB", "second chance", "k-again", thread_id=None)
    slack.fail("chat.postMessage", "not_in_channel")
    w = worker(outbox, {"slack": slack_channel(slack)})
    w.drain()
    assert outbox.get(mid).status == "failed"
    assert outbox.retry(mid[:8]).status == "queued"
    w.drain()
    assert outbox.get(mid).status == "sent"
    assert [m.text for m in slack.channel_messages("DU0BOB")] == ["second chance"]


def test_a_worker_that_died_after_posting_does_not_cause_a_second_post(
    slack: FakeSlack, outbox: SqlOutbox, clock: Clock
) -> None:
    """The worst moment to die: Slack accepted the post, the row still says ``sending``."""
    mid = queue(outbox, "U0BOB", "exactly once", "k-crash", thread_id=None)
    channel = slack_channel(slack)
    (claimed,) = outbox.claim("dead-worker", lease=timedelta(seconds=60))
    channel.deliver(claimed)  # ... and the process is gone before mark_sent
    assert outbox.get(mid).status == "sending"
    survivor = worker(outbox, {"slack": channel}, name="survivor")
    survivor.drain()
    assert outbox.get(mid).status == "sending"  # the lease still holds
    clock.advance(61)
    survivor.drain()
    m = outbox.get(mid)
    assert m.status == "sent" and m.attempts == 2
    assert [x.text for x in slack.channel_messages("DU0BOB")] == ["exactly once"]
    # The dead worker's late mark cannot overwrite the survivor's.
    assert outbox.mark_failed(mid, "dead-worker", "late") is False


def test_leases_keep_two_workers_off_the_same_rows(outbox: SqlOutbox, clock: Clock) -> None:
    for i in range(6):
        queue(outbox, "U0BOB", f"m{i}", f"k-lease-{i}", thread_id=None)
    a = outbox.claim("a", limit=4)
    b = outbox.claim("b", limit=4)
    assert len(a) == 4 and len(b) == 2 and not {m.id for m in a} & {m.id for m in b}
    assert outbox.claim("c", limit=4) == []


def test_missing_channel_configuration_fails_with_what_to_set(outbox: SqlOutbox) -> None:
    mid = queue(outbox, "bob.nakamura@larkspur.example", "hi", "k-nosmtp", thread_id=None)
    worker(outbox, {}).drain()
    assert "CHAMBERLAIN_SMTP_HOST" in (outbox.get(mid).last_error or "")


# ------------------------------------------------------------------------------- email


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpSink, Any]]:
    sink = SmtpSink()
    controller = start_smtp(sink, starttls=True, auth=("chamberlain", "s3cret"))
    try:
        yield sink, controller
    finally:
        controller.stop()


def smtp_channel(controller: Any, **kw: Any) -> SmtpChannel:
    kw.setdefault("username", "chamberlain")
    kw.setdefault("password", "s3cret")
    return SmtpChannel(
        SmtpConfig(
            host="127.0.0.1",
            port=controller.port,
            starttls=True,
            sender="chamberlain@larkspur.example",
            timeout_s=10,
            ssl_context=client_tls_context(),
            **kw,
        )
    )


def test_email_goes_over_starttls_with_login_and_a_stable_message_id(
    smtp: tuple[SmtpSink, Any], outbox: SqlOutbox
) -> None:
    sink, controller = smtp
    mid = queue(outbox, "bob.nakamura@larkspur.example", "Q3 report\n\nRevenue is up 4%.", "k-mail", thread_id=None)
    worker(outbox, {"email": smtp_channel(controller)}).drain()
    (got,) = sink.received
    assert got.rcpt_tos == ["bob.nakamura@larkspur.example"]
    assert got.message["Subject"] == "Q3 report" and got.message["From"] == "chamberlain@larkspur.example"
    assert got.message_id == f"<{mid}@larkspur.example>"
    assert "Revenue is up 4%." in got.message.get_payload()
    assert sink.logins == ["chamberlain"]
    assert outbox.get(mid).delivery_ref == got.message_id


def test_smtp_4xx_is_retried_and_5xx_fails(smtp: tuple[SmtpSink, Any], outbox: SqlOutbox, clock: Clock) -> None:
    sink, controller = smtp
    busy = queue(outbox, "bob.nakamura@larkspur.example", "try again", "k-451", thread_id=None)
    w = worker(outbox, {"email": smtp_channel(controller)})
    sink.answers = ["451 4.3.0 Mailbox busy, try later"]
    w.drain()
    m = outbox.get(busy)
    assert m.status == "queued" and "451" in (m.last_error or "")
    clock.advance(3600)
    w.drain()
    assert outbox.get(busy).status == "sent"
    # The retry carries the same Message-ID as the attempt the server deferred.
    assert [r.message_id for r in sink.received] == [f"<{busy}@larkspur.example>"]

    bad = queue(outbox, "nobody@larkspur.example", "no such person", "k-550", thread_id=None)
    sink.answers = ["550 5.1.1 User unknown"]
    w.drain()
    m = outbox.get(bad)
    assert m.status == "failed" and "550 5.1.1 User unknown" in (m.last_error or "") and m.attempts == 1


def test_wrong_smtp_password_is_a_permanent_failure_that_says_what_to_check(
    smtp: tuple[SmtpSink, Any], outbox: SqlOutbox
) -> None:
    _, controller = smtp
    mid = queue(outbox, "bob.nakamura@larkspur.example", "hi", "k-badpw", thread_id=None)
    worker(outbox, {"email": smtp_channel(controller, password="wrong")}).drain()
    m = outbox.get(mid)
    assert m.status == "failed" and "CHAMBERLAIN_SMTP_USERNAME" in (m.last_error or "")


def test_a_server_without_starttls_is_refused_rather_than_sent_in_clear(outbox: SqlOutbox) -> None:
    sink = SmtpSink()
    controller = start_smtp(sink, starttls=False)
    try:
        mid = queue(outbox, "bob.nakamura@larkspur.example", "secret plans", "k-plain", thread_id=None)
        worker(outbox, {"email": smtp_channel(controller, username=None)}).drain()
    finally:
        controller.stop()
    assert sink.received == []
    assert "does not offer STARTTLS" in (outbox.get(mid).last_error or "")


def test_unreachable_smtp_server_is_retried(outbox: SqlOutbox) -> None:
    from tests.agent.outbox_support import free_port

    mid = queue(outbox, "bob.nakamura@larkspur.example", "anyone there?", "k-down", thread_id=None)
    channel = SmtpChannel(SmtpConfig(host="127.0.0.1", port=free_port(), timeout_s=2))
    worker(outbox, {"email": channel}).drain()
    m = outbox.get(mid)
    assert m.status == "queued" and "could not reach the SMTP server" in (m.last_error or "")


def test_a_message_whose_deliveries_never_finish_is_given_up(outbox: SqlOutbox, clock: Clock) -> None:
    """A poison message (every worker that takes it dies) must not be claimed forever."""
    mid = queue(outbox, "U0BOB", "poison", "k-poison", thread_id=None)
    for _ in range(4):  # four workers claimed it and died
        assert [m.id for m in outbox.claim("doomed", lease=timedelta(seconds=5))] == [mid]
        clock.advance(6)
    from connectors.delivery import RecordingChannel

    channel = RecordingChannel("slack")
    worker(outbox, {"slack": channel}).drain()  # max_attempts=4
    m = outbox.get(mid)
    assert m.status == "failed" and "never finished" in (m.last_error or "") and channel.delivered == []
