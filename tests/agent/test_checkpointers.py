"""The same approval flow on every checkpointer, and two workers sharing PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn
from agent.runtime.chamberlain import build_runtime
from agent.settings import Settings
from tests.agent.kv_tools import KvStore, kv_tools
from tools.base import ToolRegistry

ACCESS = Path(__file__).with_name("access_kv.yaml")


def _pg_db(postgres_url: str) -> str:
    import psycopg

    name = "cp_" + uuid.uuid4().hex[:10]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def checkpoint_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/cp.db"
    return _pg_db(request.getfixturevalue("postgres_url"))


def test_write_flow_on_each_checkpointer(checkpoint_url: str, tmp_path: Path) -> None:
    store = KvStore()
    rt = build_runtime(
        Settings(data_dir=tmp_path, access_policy_path=ACCESS),
        registry=ToolRegistry(kv_tools(store)),
        chat_model=ScriptedChatModel.from_turns(
            [tool_turn("kv_set", {"key": "color", "value": "green"}), text_turn("done")]
        ),
        checkpoint_url=checkpoint_url,
    )
    with rt:
        out = rt.ask("u_erin", "green", thread_id="t1")
        assert out.status == "waiting_for_approval"
        res = rt.decide(out.pending[0].id, approver_id="u_tom", approve=True)
        assert res.resumed_thread and rt.thread_outcome("t1").status == "answered"
        assert len(store.applied) == 1
        assert [type(m).__name__ for m in rt.history("t1")] == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]


def test_two_workers_share_postgres(postgres_url: str, tmp_path: Path) -> None:
    """Scale-out: worker A takes the request, worker B (another process's view) decides and
    resumes it; both share the PostgreSQL app DB and checkpointer."""
    store = KvStore()
    app_db = _pg_db(postgres_url)
    cp = _pg_db(postgres_url)

    def worker(turns: list[Any]) -> Any:
        return build_runtime(
            Settings(data_dir=tmp_path, access_policy_path=ACCESS, database_url=app_db),
            registry=ToolRegistry(kv_tools(store)),
            chat_model=ScriptedChatModel.from_turns(turns),
            checkpoint_url=cp,
        )

    with worker([tool_turn("kv_set", {"key": "size", "value": "XL"})]) as a, worker([text_turn("XL set")]) as b:
        out = a.ask("u_erin", "size XL", thread_id="shared")
        assert [v.id for v in b.pending_for("u_tom")] == [out.pending[0].id]
        res = b.decide(out.pending[0].id, approver_id="u_tom", approve=True)
        answer = b.thread_outcome("shared").answer
        assert res.resumed_thread and answer is not None and answer.text == "XL set"
        assert len(store.applied) == 1
        assert a.recover() == [] or len(store.applied) == 1
        assert a.audit.verify().ok


@pytest.mark.postgres
def test_many_processes_may_set_up_one_fresh_postgres_at_once(postgres_url: str) -> None:
    """N replicas starting together on an empty database: the saver's migrations run one at a
    time (they raced into a unique violation on checkpoint_migrations before)."""
    import threading

    from agent.runtime.checkpoints import open_checkpointer

    url = _pg_db(postgres_url)
    errors: list[str] = []

    def start() -> None:
        try:
            open_checkpointer(url).close()
        except Exception as exc:  # collected and asserted below
            errors.append(repr(exc))

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a checkpointer set-up hung"
    assert errors == []
