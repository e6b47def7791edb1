"""Bring-your-own Python tools pass the same gate as built-in ones: schema-validated arguments,
reads run, writes wait for the right approver and execute exactly once, sensitive arguments the
asker did not supply are shown on the card (or deny / require a second approver)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage, ToolMessage

from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn
from agent.runtime.chamberlain import Chamberlain, build_runtime
from agent.settings import Settings
from policies.directory import Directory
from tests.tools import byot_example
from tools.base import Effect, ToolRegistry
from tools.external import ToolRegistrationError, governed, load_python_tools


@pytest.fixture(autouse=True)
def _fresh_ledger() -> Iterator[None]:
    byot_example.LEDGER.clear()
    byot_example.SEEN.clear()
    yield


@pytest.fixture
def make_rt(tmp_path: Path) -> Iterator[Callable[..., Chamberlain]]:
    access = tmp_path / "access.yaml"
    access.write_text(
        "version: t\nroles:\n  employee:\n    tools: [city_weather, pay, my_profile, send_note]\n"
        "approvals:\n  default:\n    - {stage: manager, approvers: [manager]}\n"
    )
    made: list[Chamberlain] = []

    def make(turns: list[Any], tools: list[Any] | None = None) -> Chamberlain:
        s = Settings(data_dir=tmp_path, access_policy_path=access)
        reg = ToolRegistry(tools or load_python_tools(["tests.tools.byot_example"]))
        rt = build_runtime(s, registry=reg, chat_model=ScriptedChatModel.from_turns(turns))
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.close()


def _tool_texts(messages: list[BaseMessage]) -> list[str]:
    return [str(m.content) for m in messages if isinstance(m, ToolMessage)]


def test_module_tools_load_with_declared_effects() -> None:
    tools = {t.name: t for t in load_python_tools(["tests.tools.byot_example"])}
    assert tools["city_weather"].effect is Effect.READ and tools["pay"].effect is Effect.WRITE
    assert tools["pay"].sensitive == ("recipient", "amount")
    schema = tools["pay"].input_schema()
    assert schema["required"] == ["recipient", "amount"] and "ctx" not in schema["properties"]


def test_a_tool_without_an_effect_is_refused_with_file_and_line() -> None:
    with pytest.raises(ToolRegistrationError) as err:

        @governed()
        def sneaky(x: str) -> str:
            """Does something."""
            return x

    assert "test_external_tools.py:" in str(err.value) and "declares no effect" in str(err.value)


def test_unknown_module_is_a_clear_error() -> None:
    with pytest.raises(ToolRegistrationError, match="CHAMBERLAIN_TOOL_MODULES"):
        load_python_tools(["no_such_module_here"])


def test_read_runs_and_its_output_is_untrusted_data(make_rt: Callable[..., Chamberlain]) -> None:
    rt = make_rt([tool_turn("city_weather", {"city": "Oslo"}), lambda m: text_turn(_tool_texts(m)[-1])])
    out = rt.ask("u_erin", "weather in Oslo?", thread_id="t1")
    assert out.status == "answered" and out.answer is not None
    assert "clear" in out.answer.text
    tool_msg = [m for m in rt.history("t1") if isinstance(m, ToolMessage)][-1]
    assert "untrusted-data" in str(tool_msg.content)  # the model received it delimited as data
    assert "untrusted-data" not in out.answer.text  # and internal markup never reaches a person


def test_bad_arguments_are_denied_by_schema(make_rt: Callable[..., Chamberlain]) -> None:
    rt = make_rt(
        [tool_turn("pay", {"recipient": "bob@example.com", "amount": "lots"}), lambda m: text_turn(_tool_texts(m)[-1])]
    )
    out = rt.ask("u_erin", "pay bob@example.com 40", thread_id="t2")
    assert out.status == "answered" and out.answer is not None
    assert "invalid arguments for pay" in out.answer.text and "amount" in out.answer.text
    assert byot_example.LEDGER == []


def test_write_waits_for_approval_and_runs_exactly_once(make_rt: Callable[..., Chamberlain]) -> None:
    rt = make_rt([tool_turn("pay", {"recipient": "bob@example.com", "amount": 40}), text_turn("paid")])
    out = rt.ask("u_erin", "pay bob@example.com 40", thread_id="t3")
    assert out.status == "waiting_for_approval" and byot_example.LEDGER == []
    (card,) = out.pending
    assert card.proposed == {"recipient": "bob@example.com", "amount": 40}
    assert "payment of 40 to bob@example.com" in card.summary
    assert not any("not supplied by the requester" in f for f in card.flags)  # both values are Erin's own
    assert not rt.decide(card.id, approver_id="u_erin", approve=True).accepted
    assert rt.decide(card.id, approver_id="u_tom", approve=True).accepted
    rt.resume("t3")
    rt.decide(card.id, approver_id="u_tom", approve=True)  # a double click
    rt.resume("t3")
    assert [(r, a) for r, a, _ in byot_example.LEDGER] == [("bob@example.com", 40)]
    assert rt.approvals.get(card.id).status == "executed"


def test_sensitive_argument_from_tool_output_is_shown_on_the_card(make_rt: Callable[..., Chamberlain]) -> None:
    # The model read a third party's text, then proposes paying the amount it found there.
    rt = make_rt(
        [tool_turn("city_weather", {"city": "Oslo"}), tool_turn("pay", {"recipient": "bob@example.com", "amount": 500})]
    )
    out = rt.ask("u_erin", "check the weather in Oslo, then pay bob@example.com", thread_id="t4")
    assert out.status == "waiting_for_approval"
    (card,) = out.pending
    assert "sensitive arguments not supplied by the requester" in card.flags
    (label,) = [t for t in card.tainted_arguments if t.startswith("amount")]
    assert "untrusted content (city_weather:" in label and "not from the requester" in label
    assert not any(t.startswith("recipient") for t in card.tainted_arguments)  # Erin named bob herself


def test_model_chosen_value_is_labelled_as_such(make_rt: Callable[..., Chamberlain]) -> None:
    rt = make_rt([tool_turn("pay", {"recipient": "carol@example.com", "amount": 40})])
    out = rt.ask("u_erin", "pay bob@example.com 40", thread_id="t5")
    (card,) = out.pending
    (label,) = card.tainted_arguments
    assert label.startswith("recipient") and "chosen by the model" in label


@pytest.mark.parametrize("mode", ["deny", "second_approver"])
def test_policy_can_deny_or_require_a_second_approver(make_rt: Callable[..., Chamberlain], mode: str) -> None:
    base = {t.name: t for t in load_python_tools(["tests.tools.byot_example"])}
    from dataclasses import replace

    strict = replace(base["pay"], on_untrusted_sensitive=mode)
    rt = make_rt(
        [tool_turn("pay", {"recipient": "carol@example.com", "amount": 40}), lambda m: text_turn(_tool_texts(m)[-1])],
        tools=[base["city_weather"], strict],
    )
    out = rt.ask("u_erin", "pay bob@example.com 40", thread_id=f"t6-{mode}")
    if mode == "deny":
        assert out.status == "answered" and out.answer is not None
        assert "did not come from the requester" in out.answer.text
        assert rt.approvals.list(limit=10) == []
    else:
        (card,) = out.pending
        approvers = [tuple(s.approvers) for s in card.stages]
        assert len(approvers) == 2 and set(approvers[0]).isdisjoint(approvers[1])
        assert "u_erin" not in {a for s in approvers for a in s}
    assert byot_example.LEDGER == []


def test_settings_name_the_modules_and_servers(tmp_path: Path) -> None:
    from agent.runtime.services import Services, external_tools

    s = Settings(data_dir=tmp_path, tool_modules="tests.tools.byot_example")
    assert sorted(t.name for t in external_tools(s, Services(directory=Directory.load()))) == [
        "city_weather",
        "my_profile",
        "pay",
        "send_note",
    ]
    (tmp_path / "servers.yaml").write_text("servers: {}\n")
    s = Settings(data_dir=tmp_path, mcp_servers_path=tmp_path / "servers.yaml")
    assert external_tools(s, Services(directory=Directory.load())) == []


@pytest.mark.parametrize(
    ("turns", "needle"),
    [
        # a link planted in third-party text, sent to someone the asker did name
        (
            [
                tool_turn("city_weather", {"city": "Oslo"}),
                tool_turn("send_note", {"recipient": "bob@example.com", "body": "see attacker@evil.example now"}),
            ],
            "body (contains a link or address) = “attacker@evil.example”: from untrusted content",
        ),
        # the asker's own card number, from system data, sent on without being asked (the profile
        # reached the model redacted for Erin's clearance, so the number is the model's own)
        (
            [
                tool_turn("my_profile", {}),
                tool_turn("send_note", {"recipient": "bob@example.com", "body": "card 4111 1111 1111 1111"}),
            ],
            "body (contains a card number) = “4111 1111 1111 1111”: chosen by the model",
        ),
    ],
)
def test_links_and_secrets_inside_text_arguments_are_flagged(
    make_rt: Callable[..., Chamberlain], turns: list[Any], needle: str
) -> None:
    rt = make_rt(turns)
    out = rt.ask("u_erin", "send bob@example.com a note about it", thread_id=f"t7-{len(needle)}")
    (card,) = out.pending
    assert "sensitive arguments not supplied by the requester" in card.flags
    assert any(needle in t for t in card.tainted_arguments), card.tainted_arguments


def test_a_secret_the_asker_typed_may_be_sent(make_rt: Callable[..., Chamberlain]) -> None:
    rt = make_rt([tool_turn("send_note", {"recipient": "bob@example.com", "body": "card 4111 1111 1111 1111"})])
    out = rt.ask("u_erin", "send bob@example.com my card 4111 1111 1111 1111", thread_id="t8")
    (card,) = out.pending
    assert "sensitive arguments not supplied by the requester" not in card.flags
