"""`chamberlain mcp serve` driven by the real `mcp` client SDK, the server a real subprocess (stdio
and Streamable HTTP on a loopback port): tools are listed by the caller's role, reads run as the
caller, a denied or malformed call is an MCP tool error with one line, a write returns a pending
approval and changes nothing until a person approves it with `chamberlain approvals approve`,
then runs once; repeating the call never files a second request."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.warehouse_fixtures import demo_warehouse_path, demo_warehouse_url

__all__ = ["demo_warehouse_path", "demo_warehouse_url"]  # fixtures used here

pytestmark = pytest.mark.xdist_group("mcp_server")  # server processes one at a time: 2 cores

CLI = str(Path(sys.executable).with_name("chamberlain"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_WAREHOUSE: dict[str, str] = {}


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAMBERLAIN_")}
    return {
        **env,
        "CHAMBERLAIN_DATA_DIR": str(data_dir),
        "CHAMBERLAIN_HTTP_TOKEN": "svc-token-for-tests",
        **_WAREHOUSE,
    }


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, demo_warehouse_url: str) -> Path:
    """The demo CRM seeded once here (not by two servers at once), the session's warehouse."""
    from agent.runtime.services import ensure_crm_seeded
    from agent.settings import Settings

    path = tmp_path_factory.mktemp("mcp_server_data")
    _WAREHOUSE["CHAMBERLAIN_WAREHOUSE_URL"] = demo_warehouse_url
    ensure_crm_seeded(Settings(data_dir=path))
    return path


@pytest.fixture(scope="module")
def http_server(data_dir: Path) -> Iterator[str]:
    """The HTTP server on a free loopback port (the test waits until it listens)."""
    port = _free_port()
    proc = subprocess.Popen(
        [CLI, "mcp", "serve", "--transport", "http", "--port", str(port)],
        env=_env(data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_listening(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.post(url, json={}, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"MCP HTTP server at {url} did not start")


def _approve(data_dir: Path, approval_id: str, approver: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "approvals", "approve", approval_id, "--user", approver],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _store(data_dir: Path) -> tuple[Any, Any]:
    from agent.settings import Settings
    from connectors.appdb import ApprovalStore, AuditLog, make_engine

    engine = make_engine(Settings(data_dir=data_dir).resolved_database_url)
    return ApprovalStore(engine), AuditLog(engine)


DEAL = {"deal_id": "30001", "stage": "closedwon"}


def test_stdio_reads_run_writes_wait_for_one_approval_and_run_once(data_dir: Path) -> None:
    from mcp import Client, StdioServerParameters
    from mcp.types import Implementation

    params = StdioServerParameters(
        command=CLI, args=["mcp", "serve", "--user", "u_alice", "--data-dir", str(data_dir)], env=_env(data_dir)
    )

    async def scenario() -> dict[str, Any]:
        info = Implementation(name="test-desktop", version="9.1")
        async with Client(params, mode="legacy", read_timeout_seconds=60, cache=None, client_info=info) as client:
            got: dict[str, Any] = {"listed": {t.name: t for t in (await client.list_tools()).tools}}
            got["deal"] = await client.call_tool("crm_get_record", {"object_type": "deals", "record_id": "30001"})
            got["unknown"] = await client.call_tool("crm_delete_everything", {})
            got["bad"] = await client.call_tool("crm_update_deal", {"deal_id": "30001"})
            got["extra"] = await client.call_tool("crm_search", {"object_type": "deals", "sudo": True})
            got["first"] = await client.call_tool("crm_update_deal", DEAL)
            got["again"] = await client.call_tool("crm_update_deal", DEAL)
            got["after"] = await client.call_tool("crm_get_record", {"object_type": "deals", "record_id": "30001"})
            pending = got["first"].structured_content or {}
            # A person approves with the CLI while the client stays connected.
            got["approve"] = await asyncio.to_thread(
                _approve, data_dir, pending.get("approval_id", "?"), (pending.get("approvers") or ["?"])[0]
            )
            got["repeat"] = await client.call_tool("crm_update_deal", DEAL)
            got["done"] = await client.call_tool("crm_get_record", {"object_type": "deals", "record_id": "30001"})
            return got

    got = asyncio.run(scenario())
    listed = got["listed"]
    # Alice (sales) is offered the CRM tools with their JSON schemas; writes say what they do.
    assert {"crm_search", "crm_get_record", "crm_update_deal", "run_query"} <= set(listed)
    assert listed["crm_update_deal"].input_schema["required"] == ["deal_id"]
    assert listed["crm_update_deal"].annotations.read_only_hint is False
    assert listed["crm_search"].annotations.read_only_hint is True
    assert "approval" in listed["crm_update_deal"].description

    deal = got["deal"]
    assert not deal.is_error and deal.structured_content["properties"]["stage"] == "contractsent"
    assert (deal.meta or {}).get("chamberlain/untrusted_output") is True  # CRM text is data, not instructions
    for name, line in (
        ("unknown", "unknown tool 'crm_delete_everything'"),
        ("bad", "give stage and/or amount"),
        ("extra", "sudo"),
    ):
        res = got[name]
        text = res.content[0].text
        assert res.is_error and line in text and "\n" not in text and "Traceback" not in text, (name, text)

    first, again = got["first"], got["again"]
    assert not first.is_error, first.content[0].text
    pending = first.structured_content
    assert pending["status"] == "pending_approval" and pending["approvers"] == ["u_raj"]
    assert f"pending approval {pending['approval_id']}" in first.content[0].text
    assert "Raj Patel" in first.content[0].text and "Nothing has changed yet" in first.content[0].text
    assert again.structured_content["approval_id"] == pending["approval_id"]  # the retry is the same request
    assert got["after"].structured_content["properties"]["stage"] == "contractsent"  # nothing ran before approval

    approve = got["approve"]
    assert approve.returncode == 0 and "executed" in approve.stdout, approve.stdout + approve.stderr
    assert got["done"].structured_content["properties"]["stage"] == "closedwon"
    # The same call once it ran: the tool has nothing left to change, so no second request.
    repeat = got["repeat"]
    assert repeat.is_error and "nothing to change" in repeat.content[0].text, repeat.content[0].text

    store, audit = _store(data_dir)
    assert [r.id for r in store.list(limit=100) if r.action == "crm_update_deal"] == [pending["approval_id"]]
    # The client's model had read the deal (CRM text is untrusted) before proposing: the card says so.
    rec = store.get(pending["approval_id"])
    assert rec.untrusted_sources and rec.untrusted_sources[0].startswith("crm_get_record:")
    assert any(t.startswith("deal_id=30001 (from crm_get_record:") for t in rec.tainted_arguments), (
        rec.tainted_arguments
    )
    assert "conversation read untrusted content" in rec.flags
    trail = list(audit.entries(approval_id=pending["approval_id"]))
    assert [e.event for e in trail].count("write_executed") == 1, [e.event for e in trail]
    # The audit names the MCP client and session: on the call's entries and on the request's own.
    calls = [e for e in audit.entries() if e.event == "policy_decision" and e.data.get("tool") == "crm_update_deal"]
    via = calls[-1].data["via"]
    assert via["surface"] == "mcp" and via["transport"] == "stdio" and via["client"] == "test-desktop 9.1"
    requested = next(e for e in trail if e.event == "approval_requested")
    assert requested.thread_id == f"mcp:{via['session']}" and requested.actor == "u_alice"


def test_http_signs_in_each_request_and_lists_by_role(data_dir: Path, http_server: str) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    from agent.settings import Settings
    from connectors.appdb import make_engine
    from connectors.appdb.api_keys import ApiKeyStore

    keys = ApiKeyStore(make_engine(Settings(data_dir=data_dir).resolved_database_url))
    erin_key, erin_rec = keys.create("u_erin", "mcp test")
    _wait_listening(http_server)

    # No key, a wrong key, the service token without a user: 401 with one line, no tool reached.
    init = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    for headers in ({}, {"Authorization": "Bearer chk_nope_nope"}, {"Authorization": "Bearer svc-token-for-tests"}):
        res = httpx.post(http_server, json=init, headers={"Accept": "application/json", **headers}, timeout=10)
        assert res.status_code == 401 and "\n" not in res.json()["error"], res.text

    async def as_user(headers: dict[str, str]) -> tuple[set[str], Any, Any]:
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            transport = streamable_http_client(http_server, http_client=http)
            async with Client(transport, mode="legacy", read_timeout_seconds=60, cache=None) as client:
                names = {t.name for t in (await client.list_tools()).tools}
                crm = await client.call_tool("crm_search", {"object_type": "deals", "query": "Acme"})
                orders = await client.call_tool("run_query", {"sql": "SELECT COUNT(*) AS n FROM orders"})
                return names, crm, orders

    names, crm, orders = asyncio.run(as_user({"Authorization": f"Bearer {erin_key}"}))
    # Erin (engineering) is not offered the CRM, and calling it anyway is refused by the gate;
    # the warehouse reads as Erin too: her roles grant no orders table.
    assert "run_query" in names and not any(n.startswith("crm_") for n in names)
    assert crm.is_error and "may not use crm_search" in crm.content[0].text
    assert orders.is_error and "orders" in orders.content[0].text and "\n" not in orders.content[0].text

    # Behind a trusted proxy: the service token plus the user header, here Alice (sales).
    proxy = {"Authorization": "Bearer svc-token-for-tests", "X-Chamberlain-User": "u_alice"}
    names, crm, orders = asyncio.run(as_user(proxy))
    assert "crm_update_deal" in names and not crm.is_error
    assert not orders.is_error and orders.structured_content["rows"][0][0] > 0, orders.content[0].text

    # A revoked key stops working on its next request.
    assert keys.revoke(erin_rec.key_id)
    res = httpx.post(
        http_server, json=init, headers={"Accept": "application/json", "Authorization": f"Bearer {erin_key}"}
    )
    assert res.status_code == 401 and "revoked" in res.json()["error"]

    _approvals, audit = _store(data_dir)
    refused = [e for e in audit.entries() if e.event == "policy_decision" and e.actor == "u_erin"]
    assert refused and refused[0].data["decision"] == "deny" and refused[0].data["via"]["transport"] == "http"


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["mcp", "serve"], "pass --user"),
        (["mcp", "serve", "--user", "u_nobody"], "no user 'u_nobody' in the directory"),
        (["mcp", "serve", "--transport", "http", "--user", "u_alice"], "drop --user"),
        (["mcp", "serve", "--transport", "smtp"], "'smtp' is not one of"),
    ],
)
def test_serve_refuses_bad_options_with_one_line(tmp_path: Path, args: list[str], line: str) -> None:
    from typer.testing import CliRunner

    from agent.interfaces.cli.app import app

    res = CliRunner().invoke(app, [*args, "--data-dir", str(tmp_path)])
    assert res.exit_code != 0 and line in res.output, res.output
    assert "Traceback" not in res.output and isinstance(res.exception, SystemExit)  # a clean exit, no crash
