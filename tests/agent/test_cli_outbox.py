"""``chamberlain outbox list|show|retry|run --once`` on a real SQLite app database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.interfaces.cli.app import app
from connectors.appdb import make_engine
from connectors.outbox import SqlOutbox
from connectors.slack.fake_api import FakeSlack

runner = CliRunner()
TOKEN = "xoxb-cli-outbox"


@pytest.fixture
def box(tmp_path: Path) -> Iterator[SqlOutbox]:
    engine = make_engine(f"sqlite:///{(tmp_path / 'app.db').resolve()}")
    try:
        yield SqlOutbox(engine)
    finally:
        engine.dispose()


def cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    base = {"SLACK_BOT_TOKEN": "", "CHAMBERLAIN_SMTP_HOST": "", "COLUMNS": "200"}
    result = runner.invoke(app, [*args, "--data-dir", str(tmp_path)], env={**base, **(env or {})})
    return result.exit_code, result.output


def test_run_once_delivers_and_list_show_report_it(tmp_path: Path, box: SqlOutbox) -> None:
    sent = box.send("C0SALES01", "deal desk at 3", idempotency_key="c1").id
    mail = box.send("bob.nakamura@larkspur.example", "hello", idempotency_key="c2").id
    with FakeSlack(token=TOKEN) as fake:
        fake.add_channel("C0SALES01", "sales-team")  # the strict fake refuses unknown channels
        env = {"SLACK_BOT_TOKEN": TOKEN, "CHAMBERLAIN_SLACK_API_URL": fake.base_url}
        code, out = cli(tmp_path, "outbox", "run", "--once", env=env)
        assert [m.text for m in fake.channel_messages("C0SALES01")] == ["deal desk at 3"]
    assert code == 0 and "sent 1" in out and "failed 1" in out, out

    code, out = cli(tmp_path, "outbox", "list")
    assert code == 0 and "sent 1" in out and "failed 1" in out and "sent" in out
    code, out = cli(tmp_path, "outbox", "list", "--json")
    listed = {r["id"]: r for r in json.loads(out)}
    assert set(listed) == {sent, mail} and "CHAMBERLAIN_SMTP_HOST" in listed[mail]["last_error"]

    code, out = cli(tmp_path, "outbox", "list", "--status", "failed", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["id"] for r in rows] == [mail] and rows[0]["status"] == "failed"

    code, out = cli(tmp_path, "outbox", "show", sent[:8])
    assert code == 0 and "delivery_ref" in out and "C0SALES01/" in out and "deal desk at 3" in out

    code, out = cli(tmp_path, "outbox", "retry", mail[:8])
    assert code == 0 and "queued" in out
    assert box.get(mail).status == "queued" and box.get(mail).attempts == 0


def test_bad_input_gets_a_short_error_not_a_traceback(tmp_path: Path, box: SqlOutbox) -> None:
    sent = box.send("C0SALES01", "x", idempotency_key="c3").id
    for args, expect in [
        (("outbox", "show", "nope"), "no outbox message 'nope'"),
        (("outbox", "retry", sent), "only failed messages can be retried"),
        (("outbox", "list", "--status", "lost"), "unknown status 'lost'"),
    ]:
        code, out = cli(tmp_path, *args)
        assert code == 2 and expect in " ".join(out.split()) and "Traceback" not in out, out
