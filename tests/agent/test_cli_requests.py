"""`chamberlain approvals submit|simulate|withdraw|stats|tick`, in-process with CliRunner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from agent.interfaces.cli.app import app

runner = CliRunner()

DINNER = {
    "kind": "expense",
    "amount": 840,
    "category": "client_entertainment",
    "date": "2026-11-22",
    "description": "Client dinner with Acme",
    "has_receipt": True,
}
LUNCH = {**DINNER, "amount": 30, "category": "meals", "description": "Lunch"}


def _file(tmp_path: Path, body: Any, name: str = "req.json") -> str:
    p = tmp_path / name
    p.write_text(body if isinstance(body, str) else json.dumps(body))
    return str(p)


def _invoke(*args: str) -> Any:
    return runner.invoke(app, ["approvals", *args])


def test_simulate_json_prints_route_and_saves_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    f = _file(tmp_path, {"requester": "u_alice", "request": DINNER, "today": "2026-11-23"})
    res = runner.invoke(app, ["approvals", "simulate", f, "--json"], env={"CHAMBERLAIN_DATA_DIR": str(data)})
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["auto_approved"] is False
    assert [s["name"] for s in out["stages"]] == ["manager", "finance"]
    assert out["stages"][0]["approvers"] == ["u_raj"]
    assert "expense-client-entertainment" in [r["id"] for r in out["fired"]]
    assert not data.exists()  # nothing stored, not even a database

    text = _invoke("simulate", _file(tmp_path, LUNCH, "lunch.json"), "--user", "u_bob")
    assert text.exit_code == 0, text.output
    assert "AUTO-APPROVED" in text.output and "expense-auto" in text.output


def test_clear_errors(tmp_path: Path) -> None:
    bad = _invoke("simulate", _file(tmp_path, '{"kind": "expense",\n "amount": }'), "--user", "u_alice")
    assert bad.exit_code == 1 and "invalid JSON at line 2" in bad.output
    unknown = _invoke("simulate", _file(tmp_path, {"kind": "bonus"}), "--user", "u_alice")
    assert unknown.exit_code == 1 and "unknown request kind 'bonus'" in unknown.output and "expense" in unknown.output
    partial = {k: v for k, v in DINNER.items() if k != "has_receipt"}
    missing = _invoke("submit", _file(tmp_path, partial), "--user", "u_alice", "--data-dir", str(tmp_path / "d"))
    assert missing.exit_code == 1 and "missing required field(s): has_receipt" in missing.output
    nouser = _invoke("simulate", _file(tmp_path, DINNER))
    assert nouser.exit_code == 1 and "--user" in nouser.output
    invalid = _invoke("simulate", _file(tmp_path, {**DINNER, "amount": -1}), "--user", "u_alice")
    assert invalid.exit_code == 1 and "amount" in invalid.output and "greater than 0" in invalid.output
    who = _invoke("simulate", _file(tmp_path, DINNER), "--user", "u_nobody")
    assert who.exit_code == 1 and "u_nobody" in who.output


def test_submit_withdraw_stats_tick(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()  # a data dir that does not exist is an error (see test_datadir)
    d = str(tmp_path / "data")
    sub = _invoke("submit", _file(tmp_path, DINNER), "--user", "u_alice", "--json", "--data-dir", d)
    assert sub.exit_code == 0, sub.output
    out = json.loads(sub.output)
    assert out["status"] == "pending" and out["id"].startswith("apr_")
    rid = out["id"]

    auto = _invoke("submit", _file(tmp_path, LUNCH, "lunch.json"), "--user", "u_bob", "--data-dir", d)
    assert auto.exit_code == 0, auto.output
    assert "executed" in auto.output and "auto-approved" in auto.output

    listed = _invoke("list", "--user", "u_raj", "--json", "--data-dir", d)
    assert [json.loads(x)["id"] for x in listed.output.splitlines() if x.startswith("{")] == [rid]

    show = _invoke("show", rid, "--data-dir", d)
    assert show.exit_code == 0 and "request_submitted" in show.output

    notmine = _invoke("withdraw", rid, "--user", "u_bob", "--data-dir", d)
    assert notmine.exit_code == 1 and "only the requester" in notmine.output
    ok = _invoke("withdraw", rid, "--user", "u_alice", "--reason", "duplicate", "--data-dir", d)
    assert ok.exit_code == 0 and "withdrawn" in ok.output
    twice = _invoke("withdraw", rid, "--user", "u_alice", "--data-dir", d)
    assert twice.exit_code == 1 and "withdrawn" in twice.output

    stats = _invoke("stats", "--json", "--data-dir", d)
    assert stats.exit_code == 0, stats.output
    st = json.loads(stats.output)
    assert st["total"] == 2 and st["by_kind"] == {"expense": 2} and st["auto_approval_rate"] == 0.5
    assert st["by_status"] == {"executed": 1, "withdrawn": 1}
    table = _invoke("stats", "--data-dir", d)
    assert table.exit_code == 0 and "auto-approved: 1 (50%)" in table.output

    tick = _invoke("tick", "--json", "--data-dir", d)
    assert tick.exit_code == 0, tick.output
    assert json.loads(tick.output) == {"expired": [], "reminded": [], "escalated": [], "followed_up": []}


def test_cli_approve_runs_the_follow_up(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()  # a data dir that does not exist is an error (see test_datadir)
    d = str(tmp_path / "data")
    taxi = {**DINNER, "amount": 180, "category": "travel", "description": "Taxis"}
    rid = json.loads(_invoke("submit", _file(tmp_path, taxi), "--user", "u_alice", "--json", "--data-dir", d).output)[
        "id"
    ]
    res = _invoke("approve", rid, "--user", "u_raj", "--data-dir", d)
    assert res.exit_code == 0, res.output
    # the approver hears the decision and its outcome, nothing else
    assert res.output.strip().splitlines() == ["Approved.", "outcome: executed"], res.output
    listed = _invoke("list", "--json", "--data-dir", d)
    rows = [json.loads(x) for x in listed.output.splitlines() if x.startswith("{")]
    assert [(r["id"], r["status"]) for r in rows] == [(rid, "executed")]


def test_simulate_with_a_draft_policy(tmp_path: Path) -> None:
    from policies.routing import DEFAULT_POLICY

    # A draft that raises the auto-approval limit from $100 to $1,000.
    draft = (
        DEFAULT_POLICY.read_text()
        .replace("amount_usd: {lte: 100}", "amount_usd: {lte: 1000}")
        .replace("amount_usd: {gt: 100}}", "amount_usd: {gt: 1000}}")
    )
    f = _file(tmp_path, DINNER | {"category": "office_supplies", "amount": 500}, "chair.json")
    now = _invoke("simulate", f, "--user", "u_alice", "--json")
    assert json.loads(now.output)["auto_approved"] is False
    ok = _invoke("simulate", f, "--user", "u_alice", "--json", "--policy", _file(tmp_path, draft, "draft.yaml"))
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["auto_approved"] is True
    broken = draft.replace("require: [manager, finance, cfo]", "require: [cfo, manager]")
    bad = _invoke("simulate", f, "--user", "u_alice", "--policy", _file(tmp_path, broken, "broken.yaml"))
    assert bad.exit_code == 1 and "broken.yaml:" in bad.output and "declared order" in bad.output
