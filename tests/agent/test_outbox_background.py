"""The worker ``serve`` starts: on by default, off with ``outbox_worker=False``."""

from __future__ import annotations

import time
from pathlib import Path

from agent.interfaces.outbox_worker import background_worker
from agent.settings import Settings
from connectors.appdb import make_engine
from connectors.outbox import SqlOutbox


def test_background_worker_delivers_while_the_server_runs_and_can_be_turned_off(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    box = SqlOutbox(engine)
    try:
        off = Settings(data_dir=tmp_path, outbox_worker=False)
        with background_worker(off, box) as worker:
            assert worker is None
        on = Settings(data_dir=tmp_path, outbox_poll_s=0.05, smtp_host=None, slack_bot_token=None)
        mid = box.send("bob.nakamura@larkspur.example", "hi", idempotency_key="bg1").id
        with background_worker(on, box) as worker:
            assert worker is not None
            deadline = time.monotonic() + 20
            while box.get(mid).status == "queued" and time.monotonic() < deadline:
                time.sleep(0.05)
        # No SMTP configured: the worker ran and failed it with what to set, rather than hang.
        assert box.get(mid).status == "failed" and "CHAMBERLAIN_SMTP_HOST" in (box.get(mid).last_error or "")
    finally:
        engine.dispose()
