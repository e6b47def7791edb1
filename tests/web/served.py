"""A real ``chamberlain serve`` app (HTTP API + web page) on loopback, over the seeded in-memory CRM."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from agent.interfaces.http.api import create_http_app
from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn
from agent.runtime.chamberlain import Chamberlain, build_runtime
from agent.settings import Settings
from connectors.appdb import make_engine
from connectors.appdb.api_keys import ApiKeyStore
from connectors.crm import InMemoryCrm
from connectors.outbox import SqlOutbox
from tools.base import ToolRegistry
from tools.crm import crm_tools
from tools.messaging import messaging_tools

TOKEN = "svc-token-for-tests"


@dataclass
class Served:
    url: str
    rt: Chamberlain
    crm: InMemoryCrm
    keys: dict[str, str]  # user id -> API key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(tmp_path: Path, turns: list[Any] | None = None, **settings: Any) -> Iterator[Served]:
    crm = InMemoryCrm.seeded()
    model = ScriptedChatModel.from_turns(
        turns
        or [
            tool_turn("crm_update_deal", {"deal_id": "30001", "stage": "closedwon"}),
            text_turn("Done: the Acme renewal is closed won."),
        ]
    )
    cfg = Settings(data_dir=tmp_path, http_token=TOKEN, **settings)
    engine = make_engine(cfg.resolved_database_url)
    tools = [*crm_tools(crm), *messaging_tools(SqlOutbox(engine))]
    # Business requests and their stage SLAs, as `serve` has them.
    rt = build_runtime(
        cfg, registry=ToolRegistry(tools), chat_model=model, engine=engine, with_workflows=True, workflows_crm=crm
    )
    keys_store = ApiKeyStore(rt.approvals.engine)
    keys = {u: keys_store.create(u)[0] for u in ("u_raj", "u_alice", "u_mallory", "u_ken")}
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_http_app(rt, token=TOKEN), port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the test server did not start"
    try:
        yield Served(f"http://127.0.0.1:{port}", rt, crm, keys)
    finally:
        server.should_exit = True
        t.join(5)
        rt.close()
        engine.dispose()
