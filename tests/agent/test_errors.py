"""agent/errors.py: lower layers' errors become one tree, and the interfaces' boundaries use it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from agent.errors import (
    ChamberlainError,
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unavailable,
    translate,
)
from agent.interfaces.http.api import create_http_app
from agent.models.scripted import ScriptedChatModel, text_turn
from agent.runtime.chamberlain import Chamberlain, build_runtime
from agent.settings import Settings
from connectors.errors import AmbiguousId, ConflictError, ConnectorAuthError, ConnectorUnavailable, RecordNotFound
from connectors.warehouse_role import WritableWarehouseRole
from policies.errors import NotPermitted, PolicyFileError, UnknownPrincipal
from tests.agent.kv_tools import KvStore, kv_tools
from tools.base import ToolRegistry
from tools.errors import ToolInputError

ACCESS = Path(__file__).with_name("access_kv.yaml")
TOKEN = "svc-token"


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (PolicyFileError("routing.yaml line 3: unknown stage"), ConfigurationError),
        (WritableWarehouseRole("the warehouse login can write"), ConfigurationError),
        (ConnectorAuthError("token rejected"), ConfigurationError),
        (ConnectorUnavailable("CRM timed out"), Unavailable),
        (RecordNotFound("no deal 42"), NotFound),
        (UnknownPrincipal("no user u_zed"), NotFound),
        (NotPermitted("not your deal"), PermissionDenied),
        (ConflictError("changed meanwhile"), Conflict),
        (AmbiguousId("ab matches 2 requests"), Conflict),
        (ToolInputError("amount must be positive"), InvalidInput),
    ],
)
def test_lower_layer_errors_map_into_the_tree(raised: Exception, expected: type[ChamberlainError]) -> None:
    error = translate(raised)
    assert type(error) is expected
    assert error.__cause__ is raised
    assert str(raised) in error.message


def test_bugs_are_not_translated() -> None:
    assert translate(KeyError("x")) is None
    assert translate(ValueError("bad")) is None
    ours = NotFound("no such thing")
    assert translate(ours) is ours


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Chamberlain]]:
    rt = build_runtime(
        Settings(data_dir=tmp_path, access_policy_path=ACCESS),
        registry=ToolRegistry(kv_tools(KvStore())),
        chat_model=ScriptedChatModel.from_turns([text_turn("hi")]),
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_http_app(rt, token=TOKEN), port=port, log_level="critical"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", rt
    server.should_exit = True
    t.join(5)
    rt.close()


@pytest.mark.parametrize(
    ("raised", "status", "detail"),
    [
        (ConnectorUnavailable("the app database is unreachable"), 503, "check that the service is running"),
        (NotPermitted("only IT admins may list these"), 403, "only IT admins may list these"),
        (RecordNotFound("no approval ab12"), 404, "no approval ab12"),
    ],
)
def test_the_http_api_answers_a_status_and_one_line(
    served: tuple[str, Chamberlain], monkeypatch: pytest.MonkeyPatch, raised: Exception, status: int, detail: str
) -> None:
    url, rt = served

    # A store outage cannot be staged on SQLite; the store's query raises what the store would.
    def failing(_approver: str) -> list[object]:
        raise raised

    monkeypatch.setattr(rt.approvals, "pending_for", failing)
    r = httpx.get(f"{url}/v1/approvals", headers={"Authorization": f"Bearer {TOKEN}", "X-Chamberlain-User": "u_alice"})
    assert r.status_code == status
    assert detail in r.json()["detail"]
    assert "Traceback" not in r.text


def test_a_bug_stays_a_500_without_details(served: tuple[str, Chamberlain], monkeypatch: pytest.MonkeyPatch) -> None:
    url, rt = served

    def broken(_approver: str) -> list[object]:
        raise KeyError("internal_field")

    monkeypatch.setattr(rt.approvals, "pending_for", broken)
    r = httpx.get(f"{url}/v1/approvals", headers={"Authorization": f"Bearer {TOKEN}", "X-Chamberlain-User": "u_alice"})
    assert r.status_code == 500
    assert "internal_field" not in r.text
