"""Periodic reports: creating one is a governed write; each period runs once as its owner across
several scheduler processes and a crash; numbers in the narrative must come from the results;
an owner who loses access pauses the report."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import ToolMessage

from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn
from agent.runtime.chamberlain import Chamberlain, build_runtime
from agent.runtime.services import Services, build_registry, open_report_scheduler
from agent.settings import Settings
from connectors.appdb.reports import ReportStore
from connectors.outbox import SqlOutbox
from policies.schedules import ScheduleError, validate
from tests.warehouse_fixtures import demo_warehouse_path, demo_warehouse_url  # noqa: F401

SQL = (
    "SELECT r.name AS region, COUNT(*) AS orders FROM orders o JOIN regions r ON r.region_code = o.region_code "
    "WHERE o.order_date >= '2025-01-01' GROUP BY r.name ORDER BY r.name"
)
REPORT = {
    "name": "Orders by region",
    "cron": "0 9 * * MON",
    "timezone": "Europe/Berlin",
    "questions": [{"title": "Orders by region since 2025", "sql": SQL}],
    "destination": "#sales",
    "format": "table",
}


@pytest.fixture
def settings(tmp_path: Path, demo_warehouse_url: str) -> Settings:  # noqa: F811
    channels = tmp_path / "channels.yaml"
    channels.write_text('"#sales": [u_alice, u_raj, u_bob]\n"#general": [u_alice, u_erin]\n')
    return Settings(data_dir=tmp_path, warehouse_url=demo_warehouse_url, report_channels_path=channels)


def _expected_counts(warehouse: Path) -> dict[str, int]:
    con = sqlite3.connect(f"file:{warehouse}?mode=ro", uri=True)
    try:
        return {r: n for r, n in con.execute(SQL)}
    finally:
        con.close()


@pytest.fixture
def runtime(settings: Settings) -> Iterator[tuple[Chamberlain, Services]]:
    from connectors.appdb import make_engine
    from connectors.warehouse import SqlWarehouse
    from policies.directory import Directory

    services = Services(directory=Directory.load(settings.directory_path))
    services.engine = make_engine(settings.resolved_database_url)
    services.warehouse = SqlWarehouse(settings.resolved_warehouse_url)
    services.outbox = SqlOutbox(services.engine)
    services.closers += [services.engine.dispose, services.warehouse.close]
    rts: list[Chamberlain] = []
    yield rts, services  # type: ignore[misc]
    for rt in rts:
        rt.close()
    services.close()


def _rt(settings: Settings, services: Services, turns: list[Any], rts: list[Chamberlain]) -> Chamberlain:
    reg = build_registry(settings, services)
    rt = build_runtime(settings, registry=reg, chat_model=ScriptedChatModel.from_turns(turns), engine=services.engine)
    rts.append(rt)
    return rt


def _last_tool(messages: list[Any]) -> Any:
    return text_turn(str([m for m in messages if isinstance(m, ToolMessage)][-1].content))


def test_creating_a_report_needs_approval_and_creates_it_once(settings: Settings, runtime: Any) -> None:
    rts, services = runtime
    rt = _rt(settings, services, [tool_turn("schedule_report", REPORT), _last_tool], rts)
    out = rt.ask("u_alice", "every Monday 9:00 send #sales the orders by region", thread_id="r1")
    assert out.status == "waiting_for_approval"
    (card,) = out.pending
    assert card.stages[0].approvers == ("u_raj",)
    assert "Alice Chen, Raj Patel, Bob Nakamura" in card.summary and "0 9 * * MON" in card.summary
    store = ReportStore(services.engine)
    assert store.list() == []  # nothing exists before approval
    assert rt.decide(card.id, approver_id="u_raj", approve=True).accepted
    rt.resume("r1")
    rt.decide(card.id, approver_id="u_raj", approve=True)  # double click
    rt.resume("r1")
    (rep,) = store.list()
    assert rep.owner_id == "u_alice" and rep.spec["destination"] == "#sales" and rep.status == "active"


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"cron": "*/5 * * * *"}, "reports may run at most every 1 hour"),
        ({"cron": "0 9 * *"}, "must have five fields"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"destination": "#general"}, "Erin Walsh may not see"),
        ({"destination": "#random"}, "cannot tell who reads #random"),
        ({"destination": "stranger@evil.example"}, "not in the company directory"),
        ({"questions": [{"title": "Pay", "sql": "SELECT salary FROM employees"}]}, "the SQL guard refuses"),
    ],
)
def test_bad_reports_are_refused_at_creation_with_a_clear_reason(
    settings: Settings, runtime: Any, change: dict[str, Any], needle: str
) -> None:
    rts, services = runtime
    rt = _rt(settings, services, [tool_turn("schedule_report", {**REPORT, **change}), _last_tool], rts)
    out = rt.ask("u_alice", "schedule it", thread_id="bad")
    assert out.status == "answered" and out.answer is not None
    assert needle in out.answer.text
    assert rt.approvals.list(limit=5) == [] and ReportStore(services.engine).list() == []


def _create(services: Services, spec: dict[str, Any] | None = None, created: datetime | None = None) -> str:
    rep, _ = ReportStore(services.engine).create(
        approval_id=f"k-{time.monotonic_ns()}",
        name="Orders by region",
        owner_id="u_alice",
        spec={**REPORT, **(spec or {}), "catch_up": True},
        now=created or datetime(2026, 11, 30, tzinfo=UTC),
    )
    return rep.id


def _report_messages(settings: Settings) -> list[tuple[str, str]]:
    con = sqlite3.connect(settings.data_dir / "app.db")
    try:
        rows = con.execute("SELECT idempotency_key, text FROM outbox WHERE idempotency_key LIKE 'report:%'")
        # report:<id>:<period> is a delivery; longer keys are notices to people
        return sorted((k, t) for k, t in rows if k.count(":") == 3 and k.endswith("Z"))
    finally:
        con.close()


def _tick(settings: Settings, now: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent", "reports", "tick", "--now", now, "--data-dir", str(settings.data_dir)],
        env={**os.environ, "CHAMBERLAIN_WAREHOUSE_URL": settings.resolved_warehouse_url,
             "CHAMBERLAIN_REPORT_CHANNELS_PATH": str(settings.report_channels_path), **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.slow
def test_three_periods_two_processes_and_a_crash_deliver_each_period_once(
    settings: Settings,
    runtime: Any,
    demo_warehouse_path: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    _rts, services = runtime
    rid = _create(services)
    hang = tmp_path / "hang"
    mondays = ["2026-12-07T08:03:00Z", "2026-12-14T08:02:00Z", "2026-12-21T08:04:00Z"]  # 09:00 Berlin = 08:00Z
    # Period 1: two schedulers at once.
    procs = [_tick(settings, mondays[0]) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    # Period 2: the first scheduler claims the run and dies mid-run (SIGKILL) ...
    hang.write_text("x")
    env = {"CHAMBERLAIN_REPORT_NARRATOR": "tests.agent.report_narrators:hanging", "REPORT_TEST_HANG": str(hang)}
    victim = _tick(settings, mondays[1], **env)
    store = ReportStore(services.engine)
    deadline = time.monotonic() + 60
    while not any(r.status == "running" for r in store.runs(rid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=10)
    hang.unlink()
    # ... another one, before the lease is over, leaves it alone; after it, takes it over once.
    early = _tick(settings, "2026-12-14T08:03:00Z")
    assert early.communicate(timeout=120)[0].strip() == "Nothing was due."
    late = [_tick(settings, "2026-12-14T08:09:00Z") for _ in range(2)]
    assert all(p.communicate(timeout=120) and p.returncode == 0 for p in late)
    # Period 3.
    procs = [_tick(settings, mondays[2]) for _ in range(2)]
    assert all(p.communicate(timeout=120) and p.returncode == 0 for p in procs)

    msgs = _report_messages(settings)
    assert [k.split(":", 2)[2] for k, _ in msgs] == ["2026-12-07T08:00Z", "2026-12-14T08:00Z", "2026-12-21T08:00Z"]
    expected = _expected_counts(demo_warehouse_path)
    for _k, text in msgs:
        for region, n in expected.items():
            assert (region in text and f"{n:,}" in text) or str(n) in text
    runs = {r.period: r for r in store.runs(rid)}
    assert runs["2026-12-14T08:00Z"].attempts == 2 and all(r.status == "delivered" for r in runs.values())


def test_a_narrative_with_an_invented_number_is_not_sent(settings: Settings, runtime: Any) -> None:
    _rts, services = runtime
    rid = _create(services)
    s = settings.model_copy(update={"report_narrator": "tests.agent.report_narrators:inventing"})
    with open_report_scheduler(s, clock=lambda: datetime(2026, 12, 7, 8, 5, tzinfo=UTC)) as sched:
        (out,) = sched.tick()
        assert out.status == "failed" and "98,765" in out.detail
        assert sched.tick() == []  # not retried: the same narrative would fail the same way
    assert _report_messages(settings) == []
    (run,) = ReportStore(services.engine).runs(rid)
    assert run.status == "failed" and "98,765" in (run.detail or "")
    owner_notice = [t for k, t in _all_messages(settings) if "alice.chen" in k or "did not run" in t]
    assert owner_notice and "98,765" in owner_notice[0]


def _all_messages(settings: Settings) -> list[tuple[str, str]]:
    con = sqlite3.connect(settings.data_dir / "app.db")
    try:
        return list(con.execute("SELECT recipient, text FROM outbox ORDER BY sent_at"))
    finally:
        con.close()


def test_an_owner_who_loses_access_pauses_the_report(settings: Settings, runtime: Any, tmp_path: Path) -> None:
    _rts, services = runtime
    rid = _create(services)
    monday = datetime(2026, 12, 7, 8, 5, tzinfo=UTC)
    with open_report_scheduler(settings, clock=lambda: monday) as sched:
        assert [o.status for o in sched.tick()] == ["delivered"]
    # Alice moves to engineering: her roles no longer grant the orders table.
    directory = tmp_path / "directory.yaml"
    text = Path(settings.directory_path).read_text()
    directory.write_text(
        text.replace("roles: [employee, sales], groups: [sales, all]", "roles: [employee], groups: [all]", 1)
    )
    s = settings.model_copy(update={"directory_path": directory})
    with open_report_scheduler(s, clock=lambda: monday + timedelta(days=7)) as sched:
        (out,) = sched.tick()
    assert out.status == "paused" and "lost access" in out.detail
    rep = ReportStore(services.engine).get(rid)
    assert rep.status == "paused" and "lost access" in (rep.status_reason or "")
    notices = [(r, t) for r, t in _all_messages(settings) if "is paused" in t]
    assert {r for r, _ in notices} == {"alice.chen@larkspur.example", "raj.patel@larkspur.example"}
    assert len(_report_messages(settings)) == 1  # the second period sent nothing


def test_cli_lists_shows_and_pauses(settings: Settings, runtime: Any) -> None:
    from typer.testing import CliRunner

    from agent.interfaces.cli.app import app

    _rts, services = runtime
    rid = _create(services)
    env = {
        "CHAMBERLAIN_WAREHOUSE_URL": settings.resolved_warehouse_url,
        "CHAMBERLAIN_REPORT_CHANNELS_PATH": str(settings.report_channels_path),
        "COLUMNS": "200",
    }
    dd = ["--data-dir", str(settings.data_dir)]
    r = CliRunner().invoke(app, ["reports", "list", *dd], env=env)
    assert r.exit_code == 0 and rid in r.output and "MON" in r.output
    r = CliRunner().invoke(app, ["reports", "run-now", rid[:8], *dd], env=env)
    assert r.exit_code == 0 and "delivered" in r.output
    r = CliRunner().invoke(app, ["reports", "pause", rid, *dd], env=env)
    assert r.exit_code == 0 and "paused" in r.output
    r = CliRunner().invoke(app, ["reports", "show", rid, *dd], env=env)
    assert r.exit_code == 0 and "manual:" in r.output and "delivered" in r.output
    r = CliRunner().invoke(app, ["reports", "show", "rpt_nope", *dd], env=env)
    assert r.exit_code == 1 and "no report 'rpt_nope'" in r.output
    r = CliRunner().invoke(app, ["reports", "tick", "--now", "next monday", *dd], env=env)
    assert r.exit_code == 1 and "not an ISO 8601 time" in r.output


def test_schedules_validate() -> None:
    assert validate("0 9 * * MON", "Europe/Berlin").timezone == "Europe/Berlin"
    with pytest.raises(ScheduleError, match=r"runs every 1 hour\(s\); reports may run at most every 2 hour"):
        validate("30 * * * *", "UTC", min_interval=timedelta(hours=2))


def test_http_owner_sees_and_steers_only_their_reports(settings: Settings, runtime: Any) -> None:
    from fastapi.testclient import TestClient

    from agent.interfaces.http.api import create_http_app

    rts, services = runtime
    rid = _create(services)
    rt = _rt(settings, services, [], rts)
    client = TestClient(create_http_app(rt, token="t0k"))
    alice = {"Authorization": "Bearer t0k", "X-Chamberlain-User": "u_alice"}
    bob = {"Authorization": "Bearer t0k", "X-Chamberlain-User": "u_bob"}
    assert [r["id"] for r in client.get("/v1/reports", headers=alice).json()] == [rid]
    assert client.get("/v1/reports", headers=bob).json() == []
    assert client.get(f"/v1/reports/{rid}", headers=bob).status_code == 404
    assert client.post(f"/v1/reports/{rid}/pause", headers=bob).status_code == 404
    assert ReportStore(services.engine).get(rid).status == "active"
    r = client.post(f"/v1/reports/{rid}/pause", headers=alice)
    assert r.status_code == 200 and r.json()["status"] == "paused"
    shown = client.get(f"/v1/reports/{rid}", headers=alice).json()
    assert shown["spec"]["cron"] == "0 9 * * MON" and shown["runs"] == []
    assert client.post(f"/v1/reports/{rid}/run-now", headers=alice).status_code == 503  # no scheduler attached


def test_a_wrong_data_dir_is_an_error_not_empty_state(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from agent.interfaces.cli.app import app

    missing = tmp_path / "nope"
    for cmd in (["reports", "list"], ["reports", "tick"], ["reports", "show", "rpt_x"]):
        r = CliRunner().invoke(app, [*cmd, "--data-dir", str(missing)])
        assert r.exit_code == 1 and "does not exist" in r.output, (cmd, r.output)
    assert not missing.exists()
