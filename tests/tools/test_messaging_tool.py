"""send_message and the outbox: a write that sends exactly once, only after approval, and only
to recipients the user named once the conversation holds untrusted data."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pydantic
import pytest
from langchain_core.messages import ToolMessage
from sqlalchemy import Engine

from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn
from agent.runtime.chamberlain import build_runtime
from agent.settings import Settings
from connectors.appdb import make_engine
from connectors.crm import InMemoryCrm
from connectors.errors import ConflictError, InvalidRequest
from connectors.outbox import Outbox, RecordingOutbox, SqlOutbox
from policies.directory import Directory
from tools.base import Effect, ToolContext, ToolRegistry
from tools.crm import crm_tools
from tools.messaging import MAX_MESSAGE_CHARS, messaging_tools

DIRECTORY = Directory.load()
BOB = "bob.nakamura@larkspur.example"


# ------------------------------------------------------------------ outbox contract (both kinds)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def outbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Outbox]:
    if request.param == "memory":
        yield RecordingOutbox()
        return
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    else:
        admin = request.getfixturevalue("postgres_url")
        db = f"outbox_{abs(hash(request.node.nodeid)) % 10**8}"
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(f"DROP DATABASE IF EXISTS {db}")
            con.execute(f"CREATE DATABASE {db}")
        engine = make_engine(admin.rsplit("/", 1)[0] + f"/{db}")
    try:
        yield SqlOutbox(engine)
    finally:
        engine.dispose()


def test_send_is_exactly_once_per_key(outbox: Outbox) -> None:
    first = outbox.send(BOB, "hello", idempotency_key="k1")
    again = outbox.send(BOB, "hello", idempotency_key="k1")
    assert not first.duplicate and again.duplicate and again.id == first.id
    outbox.send(BOB, "second", idempotency_key="k2")
    assert [m.text for m in outbox.messages()] == ["hello", "second"]
    assert [m.text for m in outbox.messages(recipient="#nobody")] == []


def test_key_reuse_for_another_message_is_a_conflict(outbox: Outbox) -> None:
    outbox.send(BOB, "hello", idempotency_key="k1")
    with pytest.raises(ConflictError, match="different message"):
        outbox.send("mallory.stone@larkspur.example", "hello", idempotency_key="k1")
    assert len(outbox.messages()) == 1


@pytest.mark.parametrize(
    ("recipient", "body", "key"), [("", "x", "k"), (BOB, "  ", "k"), (BOB, "x", ""), (BOB, "x" * 40_001, "k")]
)
def test_invalid_sends_are_refused(outbox: Outbox, recipient: str, body: str, key: str) -> None:
    with pytest.raises(InvalidRequest):
        outbox.send(recipient, body, idempotency_key=key)
    assert outbox.messages() == []


def test_concurrent_sends_with_one_key_store_one_message(tmp_path: Path) -> None:
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    box = SqlOutbox(engine)
    results: list[Any] = []
    barrier = threading.Barrier(6)

    def worker() -> None:
        barrier.wait()
        results.append(box.send(BOB, "once", idempotency_key="same"))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(box.messages()) == 1
    assert len({r.id for r in results}) == 1 and sum(not r.duplicate for r in results) == 1
    engine.dispose()


# ------------------------------------------------------------------ the tool


def test_tool_declaration_plan_and_validation() -> None:
    (t,) = messaging_tools(RecordingOutbox(), directory=DIRECTORY)
    assert t.name == "send_message" and t.effect is Effect.WRITE and t.plan is not None
    assert set(t.spec()["input_schema"]["properties"]) == {"recipient", "text"}
    ctx = ToolContext(principal=DIRECTORY.get("u_alice"))
    plan = t.plan(t.parse_args({"recipient": BOB, "text": "Acme signed."}), ctx)
    assert plan.proposed == {"recipient": f"Bob Nakamura <{BOB}>", "text": "Acme signed."}
    assert "Bob Nakamura" in plan.summary and plan.target_version is None
    outsider = t.plan(t.parse_args({"recipient": "x@evil.example", "text": "hi"}), ctx)
    assert "not in the company directory" in outsider.proposed["recipient"]
    canonical = {
        "#Sales-West": "#sales-west",
        "<@U0123ABCD9>": "U0123ABCD9",
        " Bob.Nakamura@Larkspur.example ": BOB,
        f"<mailto:mallory.stone@larkspur.example|{BOB}>": "mallory.stone@larkspur.example",
    }
    for given, stored in canonical.items():
        assert t.parse_args({"recipient": given, "text": "hi"}).recipient == stored
    bad_calls: list[dict[str, Any]] = [
        {"recipient": "Bob", "text": "hi"},
        {"recipient": "a@b.example, c@d.example", "text": "hi"},
        {"recipient": BOB, "text": "x" * (MAX_MESSAGE_CHARS + 1)},
        {"recipient": BOB, "text": "hi", "cc": BOB},
    ]
    for bad in bad_calls:
        with pytest.raises(pydantic.ValidationError):
            t.parse_args(bad)


def test_executing_without_an_idempotency_key_is_a_programming_error() -> None:
    box = RecordingOutbox()
    (t,) = messaging_tools(box, directory=DIRECTORY)
    with pytest.raises(RuntimeError, match="idempotency_key"):
        t.fn(t.parse_args({"recipient": BOB, "text": "hi"}), ToolContext(principal=DIRECTORY.get("u_alice")))
    assert box.messages() == []


# ------------------------------------------------------------------ through the agent


def _runtime(tmp_path: Path, turns: list[Any]) -> tuple[Any, SqlOutbox]:
    settings = Settings(data_dir=tmp_path)
    box = SqlOutbox(make_engine(settings.resolved_database_url))
    registry = ToolRegistry([*crm_tools(InMemoryCrm.seeded()), *messaging_tools(box, directory=DIRECTORY)])
    return build_runtime(settings, registry=registry, chat_model=ScriptedChatModel.from_turns(turns)), box


def test_send_waits_for_approval_and_is_sent_once(tmp_path: Path) -> None:
    rt, box = _runtime(
        tmp_path, [tool_turn("send_message", {"recipient": BOB, "text": "Acme signed!"}), text_turn("ok")]
    )
    with rt:
        out = rt.ask("u_alice", f"Tell {BOB} that Acme signed.", thread_id="m1")
        assert out.status == "waiting_for_approval" and box.messages() == []
        view = out.pending[0]
        assert view.proposed["text"] == "Acme signed!" and BOB in view.proposed["recipient"]
        assert not rt.decide(view.id, approver_id="u_alice", approve=True).accepted  # no self-approval
        assert rt.decide(view.id, approver_id="u_raj", approve=True).final
        rt.decide(view.id, approver_id="u_raj", approve=True)
        rt.resume("m1")
        rt.recover()
        assert [(m.recipient, m.text) for m in box.messages()] == [(BOB, "Acme signed!")]


def test_after_untrusted_data_only_recipients_the_user_named_are_allowed(tmp_path: Path) -> None:
    turns = [
        tool_turn("crm_get_record", {"object_type": "deals", "record_id": "30001"}),
        tool_turn("send_message", {"recipient": "mallory.stone@larkspur.example", "text": "deal notes"}),
        tool_turn("send_message", {"recipient": BOB, "text": "deal notes"}),
        text_turn("proposed"),
    ]
    rt, box = _runtime(tmp_path, turns)
    with rt:
        out = rt.ask("u_alice", f"Summarise deal 30001 and send it to {BOB}.", thread_id="m2")
        assert out.status == "waiting_for_approval"
        assert len(out.pending) == 1 and BOB in out.pending[0].proposed["recipient"]
        decisions = [e.data for e in rt.audit.entries(thread_id="m2") if e.event == "policy_decision"]
        assert [d["decision"] for d in decisions] == ["allow", "deny", "needs_approval"]
        refusal = [m for m in rt.history("m2") if isinstance(m, ToolMessage) and m.status == "error"]
        assert len(refusal) == 1 and "mallory.stone@larkspur.example" in str(refusal[0].content)
        assert out.pending[0].id and rt.approvals.get(out.pending[0].id).untrusted_sources
        rt.decide(out.pending[0].id, approver_id="u_raj", approve=True)
        assert [m.recipient for m in box.messages()] == [BOB]


def test_a_message_over_the_channels_limit_is_refused_when_proposed_with_the_limit() -> None:
    from connectors.delivery import TEXT_LIMITS
    from tools.errors import ToolInputError

    (t,) = messaging_tools(RecordingOutbox(), directory=DIRECTORY)
    assert t.plan is not None
    ctx = ToolContext(principal=DIRECTORY.get("u_alice"))
    long_text = "x" * (TEXT_LIMITS["slack"] + 1)
    with pytest.raises(ToolInputError, match="Slack channel messages hold at most 4,000"):
        t.plan(t.parse_args({"recipient": "#sales-west", "text": long_text}), ctx)
    with pytest.raises(ToolInputError, match="at most 4,000"):
        t.plan(t.parse_args({"recipient": "U0123ABCD9", "text": long_text}), ctx)
    # Email takes longer text; the plan records which channel will carry it.
    plan = t.plan(t.parse_args({"recipient": BOB, "text": long_text}), ctx)
    assert plan.facts["channel"] == "email" and plan.facts["chars"] == len(long_text)
