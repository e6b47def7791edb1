"""N delivery worker PROCESSES on one PostgreSQL: 1,000 queued messages, one worker killed with
SIGKILL mid-run, and every message arrives in the fake Slack exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from connectors.appdb import make_engine
from connectors.outbox import SqlOutbox
from connectors.slack.fake_api import FakeSlack

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("outbox-processes")]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "xoxb-outbox-procs"
RECIPIENTS = ["U0BOB", "U0DANA", "U0PRIYA", "U0RAJ"]


@pytest.fixture
def pg_db(postgres_url: str) -> Iterator[str]:
    db = "outbox_procs"
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        con.execute(f"CREATE DATABASE {db}")
    yield postgres_url.rsplit("/", 1)[0] + f"/{db}"


def start_worker(name: str, db_url: str, fake: FakeSlack, tmp: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CHAMBERLAIN_DATA_DIR": str(tmp / name),
        "CHAMBERLAIN_DATABASE_URL": db_url,
        "SLACK_BOT_TOKEN": TOKEN,
        "CHAMBERLAIN_SLACK_API_URL": fake.base_url,
        "CHAMBERLAIN_OUTBOX_LEASE_S": "3",
        "CHAMBERLAIN_OUTBOX_POLL_S": "0.1",
        "CHAMBERLAIN_OUTBOX_BATCH": "5",
    }
    with (tmp / f"{name}.log").open("wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "agent", "outbox", "run", "--worker-id", name],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_two_worker_processes_deliver_1000_messages_once_with_one_killed(pg_db: str, tmp_path: Path) -> None:
    engine = make_engine(pg_db)
    outbox = SqlOutbox(engine)
    total = 1000
    for i in range(total):
        outbox.send(RECIPIENTS[i % len(RECIPIENTS)], f"message {i:04d}", idempotency_key=f"bulk-{i}")

    with FakeSlack(token=TOKEN) as fake:
        victim = start_worker("victim", pg_db, fake, tmp_path)
        survivor = start_worker("survivor", pg_db, fake, tmp_path)
        try:
            wait_until(lambda: outbox.counts()["sent"] >= 250, 120, "the first 250 deliveries")
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
            wait_until(lambda: outbox.counts()["sent"] == total, 180, "every message to be sent")
        finally:
            for proc in (victim, survivor):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in (victim, survivor):
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        posted = Counter(m.text for m in fake.messages.values())
        calls = len(fake.calls_to("chat.postMessage"))

    try:
        assert outbox.counts() == {"queued": 0, "sending": 0, "sent": total, "failed": 0}
        assert len(posted) == total, f"lost: {total - len(posted)}"
        dupes = {t: n for t, n in posted.items() if n > 1}
        assert dupes == {}, f"duplicated: {dupes}"
        rows = outbox.list()
        owners = Counter((m.delivery_ref or "").split("/")[0][:1] for m in rows)
        assert set(owners) == {"D"}  # every ref is a DM channel id / ts
        # Both processes delivered; the killed one's claimed rows were taken over after its
        # lease (at most one batch of them), and a post it had in flight was not repeated.
        retried = [m for m in rows if m.attempts > 1]
        assert len(retried) <= 5
        assert calls >= total
        logs = {p: (tmp_path / f"{p}.log").read_text() for p in ("victim", "survivor")}
        assert "sent" in logs["victim"] and "sent" in logs["survivor"]
        assert "Traceback" not in logs["survivor"]
    finally:
        engine.dispose()
