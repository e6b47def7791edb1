"""The MCP server's rules, in-process (the real `mcp` client SDK connected to the real server
object over the SDK's in-memory transport, a real runtime on SQLite): a repeated call returns
its open request and a fresh one after a rejection; a sensitive argument follows the tool's rule,
because the server never sees what the person told their client; what a session read from
untrusted tools taints the writes it proposes."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.interfaces.mcp.server import build_server
from agent.runtime.chamberlain import Chamberlain, build_runtime
from agent.runtime.metering import NoModelPlanner
from agent.settings import Settings
from tests.agent.kv_tools import GetArgs, GetResult, KvStore, kv_tools
from tools.base import ToolContext, ToolRegistry, tool

ACCESS = Path(__file__).with_name("access_kv.yaml")


def _runtime(tmp_path: Path, store: KvStore, rule: str | None = None) -> Chamberlain:
    get, put = kv_tools(store)
    if rule is not None:
        put = dataclasses.replace(put, sensitive=("value",), on_untrusted_sensitive=rule)
    settings = Settings(data_dir=tmp_path, access_policy_path=ACCESS)
    return build_runtime(settings, registry=ToolRegistry([get, put]), planner=NoModelPlanner())


@pytest.fixture
def store() -> KvStore:
    return KvStore()


@pytest.fixture
def rt(tmp_path: Path, store: KvStore) -> Iterator[Chamberlain]:
    runtime = _runtime(tmp_path, store)
    yield runtime
    runtime.close()


def _calls(rt: Chamberlain, user: str, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    from mcp import Client

    async def go() -> list[Any]:
        async with Client(build_server(rt, lambda _ctx: user, transport="stdio"), cache=None) as client:
            return [await client.call_tool(name, args) for name, args in calls]

    return asyncio.run(go())


def test_a_repeat_returns_the_open_request_and_a_rejected_one_may_be_asked_again(
    rt: Chamberlain, store: KvStore
) -> None:
    first, again = _calls(rt, "u_erin", [("kv_set", {"key": "color", "value": "red"})] * 2)
    first_id = first.structured_content["approval_id"]
    assert again.structured_content["approval_id"] == first_id and store.applied == []
    # Normalised: the same arguments in another order are the same call.
    (reordered,) = _calls(rt, "u_erin", [("kv_set", {"value": "red", "key": "color"})])
    assert reordered.structured_content["approval_id"] == first_id

    rt.decide(first_id, approver_id="u_tom", approve=False, reason="not now")
    (after_no,) = _calls(rt, "u_erin", [("kv_set", {"key": "color", "value": "red"})])
    assert after_no.structured_content["status"] == "pending_approval"
    assert after_no.structured_content["approval_id"] != first_id  # a fresh request for a person
    (repeat,) = _calls(rt, "u_erin", [("kv_set", {"key": "color", "value": "red"})])
    assert repeat.structured_content["approval_id"] == after_no.structured_content["approval_id"]

    rt.decide(after_no.structured_content["approval_id"], approver_id="u_tom", approve=True)
    assert [v for _k, v, _i in store.applied] == ["red"]  # ran once


def test_what_a_session_read_taints_the_write_it_proposes(rt: Chamberlain) -> None:
    read, write = _calls(rt, "u_erin", [("kv_get", {"key": "color"}), ("kv_set", {"key": "size", "value": "blue"})])
    assert (read.meta or {}).get("chamberlain/untrusted_output") is True
    rec = rt.approvals.get(write.structured_content["approval_id"])
    assert rec.untrusted_sources == ("kv_get:mcp-1",)
    assert rec.tainted_arguments == ("value=blue (from kv_get:mcp-1)",)
    assert set(rec.flags) == {"conversation read untrusted content", "arguments not supplied by the requester"}
    # Another session read nothing: its same-looking write is clean.
    (clean,) = _calls(rt, "u_erin", [("kv_set", {"key": "color", "value": "teal"})])
    assert not rt.approvals.get(clean.structured_content["approval_id"]).untrusted_sources


@pytest.mark.parametrize("rule", ["deny", "second_approver", "flag"])
def test_a_sensitive_argument_follows_the_tools_rule(tmp_path: Path, store: KvStore, rule: str) -> None:
    rt = _runtime(tmp_path, store, rule)
    try:
        (res,) = _calls(rt, "u_erin", [("kv_set", {"key": "color", "value": "green"})])
        filed = [r for r in rt.approvals.list(limit=10) if r.action == "kv_set"]
        if rule == "deny":
            text = res.content[0].text
            assert res.is_error and "its value must come from the requester" in text and "\n" not in text
            assert filed == []
            decision = next(e for e in rt.audit.entries() if e.event == "policy_decision")
            assert decision.data["decision"] == "deny" and decision.data["via"]["surface"] == "mcp"
            return
        assert not res.is_error, res.content[0].text
        (rec,) = filed
        assert rec.tainted_arguments[0].startswith("value = “green”: chosen by the calling agent")
        stages = [(s.name, tuple(s.approvers)) for s in rec.stages]
        if rule == "second_approver":  # Erin's manager, then the next one up who holds no stage
            assert stages == [("manager", ("u_tom",)), ("second approver", ("u_grace",))]
        else:
            assert stages == [("manager", ("u_tom",))]
        assert store.applied == []
    finally:
        rt.close()


def test_a_read_is_masked_to_the_callers_clearance(rt: Chamberlain, store: KvStore) -> None:
    store.values["payout"], store.versions["payout"] = "pay to DE89 3704 0044 0532 0130 00 by Friday", 1
    (internal,) = _calls(rt, "u_erin", [("kv_get", {"key": "payout"})])  # clearance: internal
    (confidential,) = _calls(rt, "u_ken", [("kv_get", {"key": "payout"})])  # clearance: confidential
    assert "DE89" not in internal.content[0].text and "DE89" not in internal.structured_content["value"]
    assert internal.structured_content["value"].startswith("pay to ")
    assert "DE89 3704 0044 0532 0130 00" in confidential.structured_content["value"]


def test_a_failing_read_is_one_line_and_a_bug_keeps_its_internals_on_the_server(
    tmp_path: Path, store: KvStore, caplog: pytest.LogCaptureFixture
) -> None:
    # (GetArgs, GetResult, ToolContext: module-level, where the decorator resolves the hints)
    @tool(effect="read", family="kv")
    def kv_boom(args: GetArgs, ctx: ToolContext) -> GetResult:
        """Read a key the buggy way."""
        raise RuntimeError("secret internals at 0xdeadbeef")

    access = tmp_path / "access.yaml"
    access.write_text(ACCESS.read_text().replace("[kv_get, kv_set]", "[kv_get, kv_set, kv_boom]"))
    settings = Settings(data_dir=tmp_path / "data", access_policy_path=access)
    rt = build_runtime(settings, registry=ToolRegistry([*kv_tools(store), kv_boom]), planner=NoModelPlanner())
    try:
        store.down = True
        down, boom = _calls(rt, "u_erin", [("kv_get", {"key": "color"}), ("kv_boom", {"key": "color"})])
    finally:
        rt.close()
    assert down.is_error and down.content[0].text == "the store is unavailable right now"
    text = boom.content[0].text
    assert boom.is_error and text.startswith("internal error in Chamberlain") and "0xdeadbeef" not in text
    assert any("0xdeadbeef" in (r.exc_text or str(r.exc_info)) for r in caplog.records)  # the operator's copy
