"""Batch decisions and truthful end states on the HTTP API, the web page and the CLI, over real
HTTP against the real app (seeded CRM, SQLite app DB, the real outbox)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from langchain_core.messages import AIMessage
from typer.testing import CliRunner

from agent.interfaces.cli.app import app as cli
from agent.models.scripted import text_turn
from connectors.outbox import SqlOutbox
from tests.web.served import TOKEN, Served, serve


def _turn(*calls: tuple[str, dict[str, Any]]) -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[
            {"name": n, "args": a, "id": f"call_{uuid.uuid4().hex[:8]}", "type": "tool_call"} for n, a in calls
        ],
    )


THREE = _turn(
    ("crm_update_deal", {"deal_id": "30001", "stage": "closedwon"}),
    ("crm_add_note", {"object_type": "deals", "record_id": "30001", "body": "Signed; kickoff next week."}),
    ("send_message", {"recipient": "bob.nakamura@larkspur.example", "text": "Acme signed today."}),
)


def _h(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "X-Chamberlain-User": user}


@contextmanager
def _served(tmp_path: Path) -> Iterator[tuple[Served, str, list[str]]]:
    with serve(tmp_path, turns=[THREE, *[text_turn("All done.")] * 5]) as s:
        out = s.rt.ask("u_alice", "close Acme, note it, tell Bob", thread_id="t-batch")
        assert out.status == "waiting_for_approval" and len(out.pending) == 3
        batch_ids = {v.batch_id for v in out.pending}
        assert len(batch_ids) == 1 and None not in batch_ids
        yield s, str(batch_ids.pop()), [v.id for v in out.pending]


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m is not None, html
    return m.group(1)


def test_http_batch_approve_all_refuses_outsiders_then_decides_each_item_once(tmp_path: Path) -> None:
    with _served(tmp_path) as (s, batch_id, ids):
        got = httpx.get(f"{s.url}/v1/batches/{batch_id}", headers=_h("u_raj"), timeout=30).json()
        assert [i["id"] for i in got["items"]] == ids and got["open"] == 3
        assert any(i["proposed"].get("stage") for i in got["items"])  # each item carries its diff
        # Not on any route: the batch does not exist for them, nothing is decided.
        outsider = httpx.post(
            f"{s.url}/v1/batches/{batch_id}/decision", json={"approve": True}, headers=_h("u_mallory"), timeout=30
        )
        assert outsider.status_code == 404
        # The requester is involved but may not approve her own items: refused per item.
        own = httpx.post(
            f"{s.url}/v1/batches/{batch_id}/decision", json={"approve": True}, headers=_h("u_alice"), timeout=30
        )
        assert own.status_code == 409 and all(not i["accepted"] for i in own.json()["items"])
        assert "own request" in own.json()["items"][0]["message"]
        ok = httpx.post(
            f"{s.url}/v1/batches/{batch_id}/decision", json={"approve": True}, headers=_h("u_raj"), timeout=60
        )
        assert ok.status_code == 200 and ok.json()["accepted"] == 3
        again = httpx.post(
            f"{s.url}/v1/batches/{batch_id}/decision", json={"approve": True}, headers=_h("u_raj"), timeout=60
        )
        assert again.status_code == 409 and all("already executed" in i["message"] for i in again.json()["items"])
        for approval_id in ids:
            events = [e.event for e in s.rt.audit.entries(approval_id=approval_id)]
            assert events.count("write_executed") == 1

        # Truthful end states: the CRM record ids, and the message's real delivery state.
        deal, note, message = (
            httpx.get(f"{s.url}/v1/approvals/{i}", headers=_h("u_raj"), timeout=30).json()["end"] for i in ids
        )
        assert deal["state"] == "executed" and "30001" in (deal["result_id"] or "")
        assert note["result_id"] and note["result_id"] in note["headline"]
        assert message["delivery"] == "queued" and message["result_id"] in message["headline"]
        outbox = SqlOutbox(s.rt.approvals.engine)
        (claimed,) = [m for m in outbox.claim("test-worker", limit=10) if m.id == message["result_id"]]
        assert outbox.mark_failed(claimed.id, "test-worker", "550 mailbox unavailable")
        failed = httpx.get(f"{s.url}/v1/approvals/{ids[2]}", headers=_h("u_raj"), timeout=30).json()["end"]
        assert failed["delivery"] == "failed" and "550 mailbox unavailable" in failed["headline"]
        assert failed["retry_command"] == f"chamberlain outbox retry {claimed.id[:8]}"


def test_web_batch_page_approves_all_and_shows_each_outcome(tmp_path: Path) -> None:
    with _served(tmp_path) as (s, batch_id, ids):
        with httpx.Client(base_url=s.url, follow_redirects=True, timeout=60) as c:
            page = c.get("/web/signin")
            c.post("/web/signin", data={"api_key": s.keys["u_raj"], "csrf": _csrf(page.text)})
            one = c.get(f"/web/approvals/{ids[0]}")
            assert f"/web/batches/{batch_id}" in one.text
            batch = c.get(f"/web/batches/{batch_id}")
            assert batch.status_code == 200 and "Approve all 3 waiting for you" in batch.text
            assert all(i in batch.text for i in ids)
            done = c.post(f"/web/batches/{batch_id}/decide", data={"decision": "approve", "csrf": _csrf(batch.text)})
            assert done.status_code == 200 and "3 of 3 decided" in done.text
            assert "Approve all" not in done.text and done.text.count("Outcome") == 3
        with httpx.Client(base_url=s.url, follow_redirects=True, timeout=60) as c:
            page = c.get("/web/signin")
            c.post("/web/signin", data={"api_key": s.keys["u_mallory"], "csrf": _csrf(page.text)})
            assert c.get(f"/web/batches/{batch_id}").status_code == 404


def test_cli_shows_a_batch_and_decides_it_per_item(tmp_path: Path) -> None:
    with _served(tmp_path) as (s, batch_id, ids):
        runner = CliRunner()
        shown = runner.invoke(cli, ["approvals", "show", batch_id, "--data-dir", str(tmp_path)])
        assert shown.exit_code == 0, shown.output
        assert f"Batch {batch_id}" in shown.output and "3 waiting" in shown.output
        assert all(i in shown.output for i in ids)
        one = runner.invoke(cli, ["approvals", "show", ids[1], "--data-dir", str(tmp_path)])
        assert f"batch {batch_id}" in one.output
        unknown = runner.invoke(cli, ["approvals", "show", "bat_nope", "--data-dir", str(tmp_path)])
        assert unknown.exit_code == 1 and "no batch 'bat_nope'" in unknown.output
        assert "Traceback" not in unknown.output
        # Someone on no route: every item refused, each saying why; nothing decided.
        outsider = runner.invoke(
            cli, ["approvals", "approve", batch_id, "--user", "u_mallory", "--data-dir", str(tmp_path)]
        )
        assert outsider.exit_code == 1 and "nothing in batch" in outsider.output, outsider.output
        assert outsider.output.count("not an approver") == 3 and "Traceback" not in outsider.output
        # Raj rejects them all with a reason: one decision per item.
        rejected = runner.invoke(
            cli,
            [
                "approvals",
                "reject",
                batch_id,
                "--user",
                "u_raj",
                "--reason",
                "not this quarter",
                "--data-dir",
                str(tmp_path),
            ],
        )
        assert rejected.exit_code == 0, rejected.output
        assert rejected.output.count("Rejected.") == 3
        assert {s.rt.approvals.get(i).status for i in ids} == {"rejected"}
