"""What people read about a request: results and values in words (never a Python dict or list
repr), and value columns named for what they are once the change ran."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agent.interfaces.cli.app import app
from agent.views import change_columns, plain_value, result_text


def test_follow_up_results_read_as_words() -> None:
    assert (
        result_text({"table": "ledger_entries", "id": 1, "amount_usd": "84.50"}) == "ledger entry 1 (amount usd 84.50)"
    )
    assert result_text({"table": "purchase_orders", "id": 7, "po": "PO-00007"}) == "purchase order 7 (po PO-00007)"
    assert result_text({"table": "some_new_table", "id": 3}) == "some_new_table 3"
    assert result_text({"deal": {"id": "30001", "stage": "closedwon"}}) == "deal id 30001; stage closedwon"
    assert result_text(None) == "nothing recorded"


def test_values_lose_their_brackets_and_quotes() -> None:
    assert plain_value(["Orders by region since 2025"]) == "Orders by region since 2025"
    assert plain_value(["a", "b"]) == "a, b"
    assert plain_value({"tz": "Europe/Berlin"}) == "tz Europe/Berlin"
    assert plain_value(None) == ""
    assert plain_value(12.5) == "12.5"


def test_value_columns_follow_the_status() -> None:
    assert change_columns("pending") == ("current", "proposed")
    assert change_columns("executed") == ("before", "after")  # "current" is stale once it ran
    assert change_columns("rejected") == ("at request time", "proposed (not applied)")


def test_auto_approved_request_prints_its_follow_up_in_words(tmp_path: Path) -> None:
    request = {
        "kind": "expense",
        "amount": 42.0,
        "currency": "USD",
        "category": "meals",
        "date": "2026-11-20",
        "description": "Lunch with a customer",
        "has_receipt": True,
        "merchant": "Cafe",
    }
    path = tmp_path / "expense.json"
    path.write_text(json.dumps(request), encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    res = CliRunner().invoke(
        app, ["approvals", "submit", str(path), "--user", "u_alice", "--data-dir", str(data)], env={"COLUMNS": "200"}
    )
    assert res.exit_code == 0, res.output
    out = " ".join(res.stdout.split())  # the console may wrap the line
    assert "follow-up: ledger entry 1 (amount usd 42.00)" in out, res.stdout
    assert "{" not in out and "'" not in out.split("follow-up:", 1)[1]


def test_an_executed_change_shows_before_and_after_not_a_stale_current() -> None:
    from datetime import UTC, datetime

    from agent.events import ApprovalView
    from agent.interfaces.cli import render as cli

    view = ApprovalView(
        id="apr_1234",
        thread_id="t",
        requester_id="u_alice",
        requester_label="Alice Chen (Sales)",
        kind="tool_call",
        title="crm_update_deal",
        summary="Move the deal to Closed won",
        reason="a write",
        current={"dealstage": "Contract sent"},
        proposed={"dealstage": "Closed won", "questions": ["Orders by region"]},
        status="executed",
        stages=(),
        created_at=datetime.now(UTC),
    )
    with cli.console.capture() as cap:
        cli.render_approval(view)
    text = cap.get()
    assert "before" in text and "after" in text and "current" not in text
    assert "Orders by region" in text and "['" not in text
