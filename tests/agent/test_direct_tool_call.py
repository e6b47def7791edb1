"""``Chamberlain.call_tool``: a person's own tool call gets the gate's role check and audit; a read
runs, a write only becomes a request that waits for its approver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.errors import InvalidInput, PermissionDenied
from agent.runtime.chamberlain import Chamberlain, build_runtime
from agent.runtime.metering import NoModelPlanner
from agent.settings import Settings
from policies.errors import UnknownPrincipal
from tests.agent.kv_tools import KvStore, kv_tools
from tools.base import ToolRegistry

ACCESS = Path(__file__).with_name("access_kv.yaml")


@pytest.fixture
def store() -> KvStore:
    return KvStore()


@pytest.fixture
def rt(tmp_path: Path, store: KvStore) -> Iterator[Chamberlain]:
    settings = Settings(data_dir=tmp_path, access_policy_path=ACCESS)
    runtime = build_runtime(settings, registry=ToolRegistry(kv_tools(store)), planner=NoModelPlanner())
    yield runtime
    runtime.close()


def _events(rt: Chamberlain) -> list[tuple[str, str]]:
    return [(e.event, e.actor) for e in rt.audit.entries()]


def test_a_read_runs_and_is_audited(rt: Chamberlain) -> None:
    done = rt.call_tool("u_erin", "kv_get", {"key": "color"})
    assert done.status == "ran" and done.result.value == "blue"
    assert _events(rt) == [("policy_decision", "u_erin"), ("tool_result", "u_erin")]


def test_a_write_waits_for_approval_and_runs_only_when_approved(rt: Chamberlain, store: KvStore) -> None:
    done = rt.call_tool("u_erin", "kv_set", {"key": "color", "value": "green"})
    assert done.status == "proposed" and done.approval is not None
    assert done.approval.status == "pending" and done.approval.stages[0].approvers == ("u_tom",)
    assert store.applied == []  # never executed directly
    ok = rt.decide(done.approval.id, approver_id="u_tom", approve=True)
    assert ok.accepted and ok.outcome == "executed"
    assert store.values["color"] == "green" and len(store.applied) == 1
    assert rt.audit.verify().ok


def test_the_gate_refuses_what_the_role_does_not_grant(rt: Chamberlain, store: KvStore) -> None:
    # Casey is a contractor: access_kv.yaml grants kv tools to employees only.
    with pytest.raises(PermissionDenied, match="may not use kv_set") as exc:
        rt.call_tool("u_casey", "kv_set", {"key": "color", "value": "red"})
    assert "tell the user" not in str(exc.value)  # the model's hint is not for a person
    with pytest.raises(PermissionDenied, match="unknown tool"):
        rt.call_tool("u_erin", "kv_drop", {})
    with pytest.raises(InvalidInput, match="invalid arguments for kv_get: key"):
        rt.call_tool("u_erin", "kv_get", {})
    with pytest.raises(UnknownPrincipal):
        rt.call_tool("u_nobody", "kv_get", {"key": "color"})
    decisions = [e.data["decision"] for e in rt.audit.entries() if e.event == "policy_decision"]
    assert decisions == ["deny", "deny", "deny"]
    assert store.applied == []
