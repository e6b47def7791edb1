"""The delivery worker: takes due rows from the outbox and hands each to its channel, once.

Any number of workers (threads or processes) can run on one app database: each claims rows
under a lease (see :mod:`connectors.outbox`), delivers them, and marks them sent (with the
channel's reference) or, on a retryable error, puts them back with exponential backoff and
jitter — or after the far side's ``Retry-After`` — until ``max_attempts``; then, or on a
permanent error, the row is ``failed`` with the reason. When an approved message is sent or
fails, a receipt is queued in the same transaction for the requester's Slack thread, so they
hear what became of it exactly once, crash or not.

``chamberlain outbox run`` runs one in the foreground; ``chamberlain serve`` (HTTP and Slack)
starts one in a thread unless ``CHAMBERLAIN_OUTBOX_WORKER=false``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from agent.interfaces.slack.threads import parse_slack_thread_id
from agent.notify import card_update_for_delivery
from agent.service.records import NewMessage, SentMessage, SqlOutbox
from connectors.delivery import Channel
from connectors.errors import ConnectorAuthError, ConnectorError, ConnectorUnavailable, DeliveryRefused, RetryLater

log = logging.getLogger(__name__)

_MISSING_CHANNEL = {
    "slack": "Slack is not configured: set SLACK_BOT_TOKEN, then `chamberlain outbox retry ID`",
    "email": "email is not configured: set CHAMBERLAIN_SMTP_HOST, then `chamberlain outbox retry ID`",
    "notify": "approval notifications need the Slack bot (`chamberlain slack serve`)",
}


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_s: float = 5.0
    cap_s: float = 900.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt + 1``.

        Exponential (base · 2^(attempt-1), capped) with "equal jitter" — half fixed, half
        random — so N workers that failed together do not retry together. A ``Retry-After``
        from the far side is a floor, never shortened by jitter.
        """
        backoff = min(self.cap_s, self.base_s * 2 ** max(0, attempt - 1))
        jittered = backoff / 2 + rng.uniform(0, backoff / 2)
        if retry_after is not None:
            return max(retry_after, 0.0) + rng.uniform(0, min(1.0, backoff / 2))
        return jittered


@dataclass(frozen=True)
class Outcome:
    message: SentMessage
    status: str  # sent | retry | failed | lost (the lease went to another worker)
    detail: str


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


class DeliveryWorker:
    def __init__(
        self,
        outbox: SqlOutbox,
        channels: Mapping[str, Channel],
        *,
        worker_id: str | None = None,
        batch: int = 5,
        lease: timedelta = timedelta(seconds=60),
        policy: RetryPolicy | None = None,
        poll_s: float = 1.0,
        rng: random.Random | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.outbox = outbox
        self.channels = dict(channels)
        self.worker_id = worker_id or default_worker_id()
        self.batch = batch
        self.lease = lease
        self.policy = policy or RetryPolicy()
        self.poll_s = poll_s
        self.rng = rng or random.Random()
        self.on_outcome = on_outcome
        self.counts = {"sent": 0, "retry": 0, "failed": 0, "lost": 0}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one pass ----------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim one batch and deliver it; returns how many rows were claimed."""
        claimed = self.outbox.claim(self.worker_id, limit=self.batch, lease=self.lease)
        for msg in claimed:
            if self._stop.is_set():
                break  # the rest go back to others when our lease runs out
            self._report(self.deliver(msg))
        return len(claimed)

    def drain(self, *, max_passes: int = 10_000) -> None:
        """Deliver until nothing is due (tests, ``outbox run --once``)."""
        for _ in range(max_passes):
            if self.run_once() == 0:
                return

    def deliver(self, msg: SentMessage) -> Outcome:
        if msg.attempts > self.policy.max_attempts:
            # Claimed again and again after leases ran out: something kills workers on this
            # message. Stop before it takes the next one down too.
            return self._fail(msg, f"gave up after {msg.attempts - 1} attempts that never finished")
        channel = self.channels.get(msg.channel)
        if channel is None:
            return self._fail(msg, _MISSING_CHANNEL.get(msg.channel, f"no channel {msg.channel!r} is configured"))
        try:
            ref = channel.deliver(msg)
        except RetryLater as exc:
            return self._retry(msg, str(exc), exc.retry_after)
        except DeliveryRefused as exc:
            return self._fail(msg, str(exc))
        except ConnectorAuthError as exc:
            return self._fail(msg, str(exc))
        except ConnectorUnavailable as exc:
            return self._retry(msg, str(exc), None)
        except ConnectorError as exc:
            return self._fail(msg, str(exc))
        except Exception as exc:  # a bug must not lose the message: retry, bounded by max_attempts
            log.exception("delivering outbox message %s failed unexpectedly", msg.id)
            return self._retry(msg, f"internal error ({type(exc).__name__}); see the worker's log", None)
        if not self.outbox.mark_sent(msg.id, self.worker_id, ref, follow_up=self._follow_ups(msg, ok=True, detail=ref)):
            return Outcome(msg, "lost", f"delivered as {ref}, but the lease had passed to another worker")
        return Outcome(msg, "sent", ref)

    def _retry(self, msg: SentMessage, reason: str, retry_after: float | None) -> Outcome:
        if msg.attempts >= self.policy.max_attempts:
            return self._fail(msg, f"gave up after {msg.attempts} attempts: {reason}")
        wait = self.policy.delay(msg.attempts, retry_after, self.rng)
        at = self.outbox.clock() + timedelta(seconds=wait)
        if not self.outbox.mark_retry(msg.id, self.worker_id, reason, at=at):
            return Outcome(msg, "lost", reason)
        return Outcome(msg, "retry", f"{reason} (next attempt in {wait:.0f} s)")

    def _fail(self, msg: SentMessage, reason: str) -> Outcome:
        if not self.outbox.mark_failed(
            msg.id, self.worker_id, reason, follow_up=self._follow_ups(msg, ok=False, detail=reason)
        ):
            return Outcome(msg, "lost", reason)
        return Outcome(msg, "failed", reason)

    def _follow_ups(self, msg: SentMessage, *, ok: bool, detail: str) -> list[NewMessage]:
        """What the mark queues with it: the requester's receipt and, when approval cards go
        through this outbox, an update of the approval's cards (they show the delivery state)."""
        out = [r for r in (_receipt(msg, ok=ok, detail=detail),) if r is not None]
        if "notify" in self.channels:
            update = card_update_for_delivery(msg, "sent" if ok else "failed")
            if update is not None:
                out.append(update)
        return out

    def _report(self, outcome: Outcome) -> None:
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        level = logging.WARNING if outcome.status == "failed" else logging.INFO
        log.log(level, "outbox %s %s: %s", outcome.message.id[:8], outcome.status, outcome.detail)
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    # -- long-running ------------------------------------------------------------------------

    def run(self, *, stop: threading.Event | None = None) -> None:
        """Deliver until ``stop`` (or :meth:`stop`) is set; sleeps ``poll_s`` when idle."""
        stop = stop or self._stop
        while not stop.is_set() and not self._stop.is_set():
            try:
                claimed = self.run_once()
            except ConnectorUnavailable as exc:  # the app DB blinked: wait, then go on
                log.warning("outbox worker: %s", exc)
                claimed = 0
            if claimed == 0:
                stop.wait(self.poll_s)

    def start(self) -> DeliveryWorker:
        self._thread = threading.Thread(target=self.run, name="chamberlain-outbox", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=timeout)


def _receipt(msg: SentMessage, *, ok: bool, detail: str) -> NewMessage | None:
    """What the requester reads in their thread; only for approved messages asked in Slack."""
    if msg.kind != "message" or not msg.thread_id:
        return None
    where = parse_slack_thread_id(msg.thread_id)
    if where is None:
        return None  # CLI / HTTP requesters read `chamberlain outbox show`
    channel, thread_ts = where
    if ok:
        text = f":outbox_tray: Your approved message to {msg.recipient} was delivered."
    else:
        text = (
            f":warning: Your approved message to {msg.recipient} could not be delivered: {detail}\n"
            f"An operator can send it again with `chamberlain outbox retry {msg.id[:8]}`."
        )
    return NewMessage(
        recipient=channel,
        text=text,
        idempotency_key=f"receipt:{msg.id}",
        thread_ts=thread_ts,
        requester_id=msg.requester_id,
        thread_id=msg.thread_id,
        parent_id=msg.id,
    )


def build_channels(settings: Any, *, engine: Any = None, notify: Channel | None = None) -> dict[str, Channel]:
    """The channels settings configure: Slack with a bot token (messages, and approval cards
    when ``engine`` is given), email with an SMTP host."""
    channels: dict[str, Channel] = {}
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    if token:
        from connectors.delivery import SlackChannel
        from connectors.slack.client import build_web_client

        # No SDK-side 429 sleeping: the worker reschedules the row after Retry-After instead
        # of holding its thread (and its other claimed rows) hostage.
        channels["slack"] = SlackChannel(build_web_client(token, base_url=settings.slack_api_url, rate_limit_retries=0))
        if engine is not None and notify is None:
            from agent.interfaces.slack.notifier import slack_notification_channel

            channels["notify"] = slack_notification_channel(settings, engine)
    if settings.smtp_host:
        from connectors.delivery import SmtpChannel, SmtpConfig

        channels["email"] = SmtpChannel(
            SmtpConfig(
                host=settings.smtp_host,
                port=settings.smtp_port,
                starttls=settings.smtp_starttls,
                implicit_tls=settings.smtp_ssl,
                username=settings.smtp_username,
                password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
                sender=settings.smtp_from,
                timeout_s=settings.smtp_timeout_s,
            )
        )
    if notify is not None:
        channels["notify"] = notify
    return channels


def worker_from_settings(
    settings: Any, outbox: SqlOutbox, *, notify: Channel | None = None, worker_id: str | None = None
) -> DeliveryWorker:
    return DeliveryWorker(
        outbox,
        build_channels(settings, engine=outbox.engine, notify=notify),
        worker_id=worker_id,
        batch=settings.outbox_batch,
        lease=timedelta(seconds=settings.outbox_lease_s),
        policy=RetryPolicy(settings.outbox_max_attempts, settings.outbox_backoff_s, settings.outbox_backoff_max_s),
        poll_s=settings.outbox_poll_s,
    )


@contextlib.contextmanager
def background_worker(settings: Any, outbox: SqlOutbox, *, notify: Channel | None = None) -> Iterator[Any]:
    """A worker thread for a server's lifetime, unless ``outbox_worker`` is off."""
    if not settings.outbox_worker:
        yield None
        return
    worker = worker_from_settings(settings, outbox, notify=notify).start()
    try:
        yield worker
    finally:
        worker.stop()


__all__ = [
    "DeliveryWorker",
    "Outcome",
    "RetryPolicy",
    "background_worker",
    "build_channels",
    "default_worker_id",
    "worker_from_settings",
]
