"""The compose topology without docker: two ``chamberlain serve`` replicas and a worker on one
PostgreSQL, with a ``chroma run`` server — an approval decided on one replica executes exactly
once and is visible on the other.

The worker is a third ``serve`` process whose in-process sweeper does the background work
(expiry, reminders, escalation); the model is the local fake Messages API, shared by all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.fakes.anthropic_api import FakeAnthropicServer, Reply, ToolUse
from tests.web.served import free_port

# Three Python services start here; on a loaded CI machine that alone can take minutes.
pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.xdist_group("topology"), pytest.mark.timeout(900)]
TOKEN = "topology-token"
BIN = Path(sys.executable).parent


def _database(admin_url: str) -> str:
    import psycopg

    name = f"topo_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + "/" + name


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not come up:\n{log.read_text()[-3000:]}")


@pytest.fixture
def topology(postgres_url: str, tmp_path: Path) -> Iterator[dict[str, object]]:
    chroma_bin = shutil.which("chroma", path=str(BIN)) or shutil.which("chroma")
    if chroma_bin is None:
        pytest.skip("the chroma CLI is not installed")
    db = _database(postgres_url)
    data = tmp_path / "data"
    from agent.runtime.services import ensure_crm_seeded, ensure_warehouse
    from agent.settings import Settings

    # Seed once, before the replicas start (in compose: a one-shot `seed` service).
    settings = Settings(data_dir=data)
    ensure_crm_seeded(settings)
    ensure_warehouse(settings)
    model = FakeAnthropicServer(
        [
            Reply(tool_uses=[ToolUse("crm_update_deal", {"deal_id": "30001", "stage": "closedwon"})]),
            Reply(text="Done: the Acme renewal is closed won."),
        ]
    )
    model.start()
    procs: list[subprocess.Popen[bytes]] = []
    files: list[Any] = []
    chroma_port = free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "CHAMBERLAIN_DATA_DIR": str(data),
        "CHAMBERLAIN_DATABASE_URL": db,
        "CHAMBERLAIN_CHECKPOINT_URL": db,
        "CHAMBERLAIN_CHROMA_URL": f"http://127.0.0.1:{chroma_port}",
        "CHAMBERLAIN_HTTP_TOKEN": TOKEN,
        "ANTHROPIC_API_KEY": model.api_key,
        "ANTHROPIC_BASE_URL": model.url,
    }

    def start(args: list[str], name: str, extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = logs / f"{name}.log"
        out = log.open("wb")
        files.append(out)
        p = subprocess.Popen(args, env={**env, **(extra or {})}, stdout=out, stderr=subprocess.STDOUT)
        procs.append(p)
        return p

    try:
        chroma = start([chroma_bin, "run", "--path", str(tmp_path / "chroma"), "--port", str(chroma_port)], "chroma")
        _wait_http(f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat", chroma, logs / "chroma.log")
        ports = {"a": free_port(), "b": free_port(), "worker": free_port()}
        serve = [str(BIN / "chamberlain"), "serve", "--port"]
        for name, port in ports.items():
            extra = {"CHAMBERLAIN_SWEEP_INTERVAL_S": "1"} if name == "worker" else None
            start([*serve, str(port)], name, extra)
        for (name, port), proc in zip(ports.items(), procs[1:], strict=True):
            _wait_http(f"http://127.0.0.1:{port}/readyz", proc, logs / f"{name}.log")
        yield {"ports": ports, "db": db, "model": model, "data": data, "logs": logs}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        for f in files:
            f.close()
        model.stop()


def _h(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "X-Chamberlain-User": user}


def test_decided_on_one_replica_executed_once_and_visible_on_the_other(topology: dict[str, object]) -> None:
    ports = topology["ports"]
    assert isinstance(ports, dict)
    a, b, worker = (f"http://127.0.0.1:{ports[k]}" for k in ("a", "b", "worker"))
    for url in (a, b, worker):
        assert httpx.get(f"{url}/readyz", timeout=5).json() == {"status": "ready"}

    asked = httpx.post(
        f"{a}/v1/ask",
        json={"text": "Deal 30001 is signed: close it.", "thread_id": "topo-1"},
        headers=_h("u_alice"),
        timeout=180,
    )
    assert asked.status_code == 200, asked.text
    outcome = asked.json()
    assert outcome["status"] == "waiting_for_approval"
    approval_id = outcome["pending"][0]["id"]

    # Replica B sees the request that replica A created.
    waiting = httpx.get(f"{b}/v1/approvals", headers=_h("u_raj"), timeout=10).json()
    assert [v["id"] for v in waiting] == [approval_id]

    # The approver double-clicks: one click lands on A, one on B, at the same time.
    results: list[httpx.Response] = []

    def click(url: str) -> None:
        results.append(
            httpx.post(
                f"{url}/v1/approvals/{approval_id}/decision", json={"approve": True}, headers=_h("u_raj"), timeout=180
            )
        )

    threads = [threading.Thread(target=click, args=(u,)) for u in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]

    # Visible everywhere, executed exactly once.
    for url in (a, b, worker):
        view = httpx.get(f"{url}/v1/approvals/{approval_id}", headers=_h("u_alice"), timeout=60).json()
        assert view["status"] == "executed"
    page = httpx.get(f"{b}/web/approvals/{approval_id}", headers=_h("u_raj"), timeout=60)
    assert page.status_code == 200 and "executed" in page.text and "Closed won" in page.text

    from agent.settings import Settings
    from connectors.appdb import ApprovalStore, AuditLog, make_engine
    from connectors.crm_service import SqliteCrmStore

    engine = make_engine(str(topology["db"]))
    try:
        rec = ApprovalStore(engine).get(approval_id)
        assert rec.attempts == 1 and rec.status == "executed"
        audit = AuditLog(engine)
        assert sum(e.event == "write_executed" for e in audit.entries(approval_id=approval_id)) == 1
        assert sum(e.event == "approval_decision" for e in audit.entries(approval_id=approval_id)) == 1
        assert audit.verify().ok  # three processes appended to one chain without forking it
    finally:
        engine.dispose()
    crm = SqliteCrmStore(Settings(data_dir=Path(str(topology["data"]))).crm_db_path)
    try:
        deal = crm._read("deals", "30001")
        assert deal is not None and deal.properties["dealstage"] == "closedwon"
    finally:
        crm.close()
    model = topology["model"]
    assert isinstance(model, FakeAnthropicServer)
    assert len([r for r in model.requests if r.path.endswith("/v1/messages")]) == 2

    metrics = httpx.get(f"{a}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).text
    assert 'chamberlain_approvals{kind="tool_call",stage="sales manager",status="executed"} 1.0' in metrics
