"""Usage accounting, reports and budgets; crashed turns never replay into the next answer."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from pydantic import SecretStr
from typer.testing import CliRunner

from agent.fakes.openai_api import Completion, FakeOpenAIServer, truncated_body
from agent.interfaces.cli.app import app
from agent.models.budgets import BudgetChecker, BudgetError, BudgetFile
from agent.models.pricing import PricingError, default_price_table
from agent.models.scripted import ScriptedChatModel, text_turn
from agent.runtime.chamberlain import build_runtime
from agent.settings import Settings
from connectors.appdb import UsageStore, make_engine
from policies.directory import Directory
from policies.limits import Budgets
from tests.agent.kv_tools import KvStore, kv_tools
from tools.base import ToolRegistry

ACCESS = Path(__file__).with_name("access_kv.yaml")
runner = CliRunner()


def _usage_ai(model: str, inp: int, out: int) -> AIMessage:
    return AIMessage(
        content="ok",
        usage_metadata={"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out},
        response_metadata={"model_name": model},
    )


class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_window_totals_roll_per_user_and_group_and_reset_by_period(tmp_path: Path) -> None:
    clock = _Clock(datetime(2026, 12, 3, 9, 30, tzinfo=UTC))
    store = UsageStore(make_engine(f"sqlite:///{tmp_path / 'app.db'}"), clock=clock)
    for _ in range(3):
        store.record_model_call(
            "u_alice", "t", model="m", input_tokens=100, output_tokens=10, cache_read_tokens=5,
            cache_write_tokens=0, cost_usd=0.5, groups=["sales", "all"],
        )  # fmt: skip
    store.record_request("u_alice", None, groups=["sales", "all"])
    day = store.window("user", "u_alice", "day")
    assert (day.requests, day.tokens, round(day.cost_usd, 6)) == (1, 345, 1.5)
    assert store.window("group", "sales", "month").tokens == 345
    clock.at += timedelta(hours=1)
    assert store.window("user", "u_alice", "hour").tokens == 0  # a new hour
    assert store.window("user", "u_alice", "day").tokens == 345
    clock.at = datetime(2026, 12, 4, 0, 1, tzinfo=UTC)
    assert store.window("user", "u_alice", "day").tokens == 0
    assert store.window("user", "u_alice", "month").tokens == 345
    # the sums agree with the history
    assert store.totals("u_alice").tokens == 345


def test_budget_refusal_and_warning_from_rollups(tmp_path: Path) -> None:
    store = UsageStore(make_engine(f"sqlite:///{tmp_path / 'app.db'}"))
    directory = Directory.load()
    alice, bob = directory.get("u_alice"), directory.get("u_bob")
    budgets = BudgetFile.model_validate(
        {"users": {"u_alice": {"usd_per_day": 1.0}}, "groups": {"sales": {"tokens_per_month": 10_000}}}
    )
    checker = BudgetChecker(store, Budgets(cost_usd_per_day=None), budgets)
    assert checker.check(alice).refusal is None and not checker.check(alice).warnings
    store.record_model_call("u_alice", None, model="m", input_tokens=10, output_tokens=0, cache_read_tokens=0,
                            cache_write_tokens=0, cost_usd=0.85, groups=alice.groups)  # fmt: skip
    verdict = checker.check(alice)
    assert verdict.refusal is None
    assert verdict.warnings == ("Note: your model budget today is 85% used ($0.85 of $1.00).",)
    store.record_model_call("u_alice", None, model="m", input_tokens=10, output_tokens=0, cache_read_tokens=0,
                            cache_write_tokens=0, cost_usd=0.20, groups=alice.groups)  # fmt: skip
    refusal = checker.check(alice).refusal
    assert refusal is not None and "your model budget of $1.00 today" in refusal and "resets in" in refusal
    # the group budget is shared: Bob's usage counts against Alice's group
    store.record_model_call("u_bob", None, model="m", input_tokens=10_000, output_tokens=0, cache_read_tokens=0,
                            cache_write_tokens=0, cost_usd=0, groups=bob.groups)  # fmt: skip
    group_refusal = checker.check(bob).refusal
    assert group_refusal is not None and "the sales group's model budget of 10,000 tokens this month" in group_refusal


def test_budgets_file_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "budgets.yaml"
    bad.write_text("users:\n  u_alice: {usd_per_dya: 3}\n")
    with pytest.raises(BudgetError, match=r"budgets.yaml: users.u_alice.usd_per_dya: Extra inputs"):
        BudgetFile.load(bad)


def test_over_budget_turn_is_refused_before_any_model_call(tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("users:\n  u_erin: {tokens_per_day: 50}\n")
    model = ScriptedChatModel.from_turns([text_turn("first answer")])
    settings = Settings(data_dir=tmp_path, access_policy_path=ACCESS, budgets_path=budgets)
    with build_runtime(settings, registry=ToolRegistry(kv_tools(KvStore())), chat_model=model) as rt:
        rt.deps.usage.record_model_call("u_erin", None, model="m", input_tokens=60, output_tokens=0,
                                        cache_read_tokens=0, cache_write_tokens=0, cost_usd=0.0)  # fmt: skip
        out = rt.ask("u_erin", "hello?", thread_id="b1")
        events = [e.event for e in rt.audit.entries(thread_id=None)]
    assert out.status == "failed" and out.error is not None
    assert "model budget of 50 tokens today" in out.error.message
    assert model.state.calls == []  # the model was never called
    assert "budget_refused" in events


def test_budget_warning_reaches_the_asker(tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("groups:\n  engineering: {tokens_per_day: 100}\n")
    model = ScriptedChatModel.from_turns([text_turn("an answer")])
    settings = Settings(data_dir=tmp_path, access_policy_path=ACCESS, budgets_path=budgets)
    seen: list[Any] = []
    with build_runtime(settings, registry=ToolRegistry(kv_tools(KvStore())), chat_model=model) as rt:
        rt.deps.usage.record_model_call("u_tom", None, model="m", input_tokens=90, output_tokens=0,
                                        cache_read_tokens=0, cache_write_tokens=0, cost_usd=0.0,
                                        groups=["engineering"])  # fmt: skip
        out = rt.ask("u_erin", "hello?", thread_id="w1", on_event=seen.append)
    assert out.status == "answered"
    texts = [getattr(e, "text", "") for e in seen]
    assert any("the engineering group's model budget today is 90% used" in t for t in texts)


def _seed_usage(data_dir: Path) -> None:
    store = UsageStore(make_engine(f"sqlite:///{(data_dir / 'app.db').resolve()}"))
    rows = [("u_alice", ["sales", "all"], "claude-sonnet-4-6", "answer", 1000, 0.01),
            ("u_alice", ["sales", "all"], "gpt-fake-1", "summarize", 500, 0.0),
            ("u_erin", ["engineering", "all"], "claude-sonnet-4-6", "answer", 2000, 0.02)]  # fmt: skip
    for user, groups, model, kind, tokens, cost in rows:
        store.record_model_call(user, "t", model=model, input_tokens=tokens, output_tokens=10, cache_read_tokens=100,
                                cache_write_tokens=0, cost_usd=cost, groups=groups, task_kind=kind,
                                provider="anthropic", latency_ms=120.0)  # fmt: skip


def test_usage_cli_table_json_and_csv(tmp_path: Path) -> None:
    _seed_usage(tmp_path)
    res = runner.invoke(app, ["usage", "--data-dir", str(tmp_path), "--by", "user,model", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert {(r["user"], r["model"]) for r in data} == {
        ("u_alice", "claude-sonnet-4-6"), ("u_alice", "gpt-fake-1"), ("u_erin", "claude-sonnet-4-6"),
    }  # fmt: skip
    alice = next(r for r in data if r["user"] == "u_alice" and r["model"] == "claude-sonnet-4-6")
    assert alice["input_tokens"] == 1000 and alice["cached_input_tokens"] == 100 and alice["cost_usd"] == 0.01
    res = runner.invoke(app, ["usage", "--data-dir", str(tmp_path), "--by", "group", "--csv"])
    rows = list(csv.DictReader(io.StringIO(res.output)))
    by_group = {r["group"]: int(r["input_tokens"]) for r in rows}
    assert by_group == {"all": 3500, "engineering": 2000, "sales": 1500}
    res = runner.invoke(app, ["usage", "--data-dir", str(tmp_path), "--by", "task_kind,day"])
    assert res.exit_code == 0 and "summarize" in res.output and "total" in res.output
    res = runner.invoke(app, ["usage", "--data-dir", str(tmp_path), "--by", "colour"])
    assert res.exit_code == 2 and "group by any of day, user, group" in res.output


def test_operator_price_override(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("gpt-fake: {input: 1.0, output: 2.0, cache_write: 0, cache_read: 0.5}\n")
    model = ScriptedChatModel.from_turns([text_turn("priced")], model_name="gpt-fake-1")
    settings = Settings(data_dir=tmp_path, access_policy_path=ACCESS, pricing_path=prices)
    with build_runtime(settings, registry=ToolRegistry(kv_tools(KvStore())), chat_model=model) as rt:
        rt.ask("u_erin", "hi", thread_id="p")
        t = rt.deps.usage.totals("u_erin")
    assert t.input_tokens > 0 and t.output_tokens > 0
    expected = (t.input_tokens * 1.0 + t.output_tokens * 2.0 + t.cache_read_tokens * 0.5) / 1_000_000
    assert t.cost_usd == pytest.approx(expected)  # the packaged table prices gpt-fake at 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("gpt-x: {input: 1}\n")
    with pytest.raises(PricingError, match=r"bad\.yaml: 'gpt-x' needs exactly"):
        default_price_table().overridden(bad)


# -- crashed turns ---------------------------------------------------------------------------------


def test_crashed_turn_is_resumed_silently_not_replayed_into_the_next_answer(tmp_path: Path) -> None:
    calls = {"n": 0}

    def flaky(_messages: list[Any]) -> AIMessage:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("process died mid-call")  # not a model error: the run stops mid-way
        return text_turn("answer to the FIRST question")

    model = ScriptedChatModel.from_turns([flaky, flaky, text_turn("answer to the second question")])
    settings = Settings(data_dir=tmp_path, access_policy_path=ACCESS)
    with build_runtime(settings, registry=ToolRegistry(kv_tools(KvStore())), chat_model=model) as rt:
        with pytest.raises(RuntimeError):
            rt.ask("u_erin", "first question", thread_id="c1")
        seen: list[Any] = []
        out = rt.ask("u_erin", "second question", thread_id="c1", on_event=seen.append)
        events = [e.event for e in rt.audit.entries(thread_id="c1")]
    assert out.answer is not None and out.answer.text == "answer to the second question"
    shown = " ".join(str(getattr(e, "text", "")) for e in seen)
    assert "FIRST" not in shown  # the old turn's answer is never shown for the new question
    assert "turn_resumed" in events


def test_truncated_json_body_ends_the_turn_cleanly_and_the_thread_goes_on(tmp_path: Path) -> None:
    """A complete HTTP 200 whose JSON is cut short (json.JSONDecodeError inside the SDK) is a
    retryable model error: the turn fails with a message, the next message is answered once."""
    script = [truncated_body(), Completion(text="Hello again.")]
    with FakeOpenAIServer(script) as server:
        settings = Settings(
            data_dir=tmp_path, access_policy_path=ACCESS, model_provider="openai", model="gpt-fake-1",
            model_base_url=server.url, model_api_key=SecretStr(server.api_key), model_max_retries=0,
        )  # fmt: skip
        with build_runtime(settings, registry=ToolRegistry(kv_tools(KvStore()))) as rt:
            first = rt.ask("u_erin", "hi", thread_id="j1")
            second = rt.ask("u_erin", "hi again", thread_id="j1")
    assert first.status == "failed" and first.error is not None and first.error.retryable
    assert "cut short" in first.error.message
    assert second.status == "answered" and second.answer is not None and second.answer.text == "Hello again."
    assert len(server.completion_requests) == 2  # nothing replayed


# -- doctor ------------------------------------------------------------------------------------------


def _doctor(tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, **env: str) -> Any:
    base = {
        "CHAMBERLAIN_MODEL_PROVIDER": "openai",
        "CHAMBERLAIN_MODEL_BASE_URL": server.url,
        "CHAMBERLAIN_MODEL_API_KEY": server.api_key,
        "CHAMBERLAIN_MODEL": "gpt-fake-1",
        "CHAMBERLAIN_MODEL_MAX_RETRIES": "0",
    }
    for k, v in {**base, **env}.items():
        monkeypatch.setenv(k, v)
    return runner.invoke(app, ["doctor", "--data-dir", str(tmp_path)])


def test_doctor_names_the_setting_for_each_bad_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAIServer([Completion(text="OK", repeat=True)], models=["gpt-fake-1"], context_window=None) as server:
        ok = _doctor(tmp_path, server, monkeypatch)
        assert ok.exit_code == 0, ok.output
        assert "answers, accepts tools" in ok.output.replace("\n", "")
        cases = {
            "CHAMBERLAIN_MODEL_API_KEY": {"CHAMBERLAIN_MODEL_API_KEY": "sk-wrong"},
            "CHAMBERLAIN_MODEL ": {"CHAMBERLAIN_MODEL": "llama-9000"},
            "CHAMBERLAIN_MODEL_BASE_URL": {"CHAMBERLAIN_MODEL_BASE_URL": "http://127.0.0.1:9/v1"},
            "CHAMBERLAIN_MODEL_PROVIDER": {"CHAMBERLAIN_MODEL_PROVIDER": "openia"},
        }
        for setting, env in cases.items():
            res = _doctor(tmp_path, server, monkeypatch, **env)
            assert res.exit_code == 1, (setting, res.output)
            assert setting.strip() in res.output.replace("\n", " "), (setting, res.output)
            assert "Traceback" not in res.output
        server.state.supports_tools = False
        res = _doctor(tmp_path, server, monkeypatch)
        assert res.exit_code == 1 and "does not accept tool calls" in res.output.replace("\n", " ")
        server.state.supports_tools = True
        server.state.context_window = 3
        res = _doctor(tmp_path, server, monkeypatch)
        assert res.exit_code == 1 and "context window" in res.output.replace("\n", " ")


def test_a_turn_that_crashes_again_on_resume_is_closed_with_a_message(tmp_path: Path) -> None:
    def crash(_messages: list[Any]) -> AIMessage:
        raise RuntimeError("the model adapter keeps crashing")

    model = ScriptedChatModel.from_turns([crash, crash, text_turn("answer to the second question")])
    settings = Settings(data_dir=tmp_path, access_policy_path=ACCESS)
    with build_runtime(settings, registry=ToolRegistry(kv_tools(KvStore())), chat_model=model) as rt:
        with pytest.raises(RuntimeError):
            rt.ask("u_erin", "first question", thread_id="c2")
        out = rt.ask("u_erin", "second question", thread_id="c2")
        entries = list(rt.audit.entries(thread_id="c2"))
    assert out.status == "answered" and out.answer is not None
    assert out.answer.text == "answer to the second question"
    closed = [e for e in entries if e.event == "turn_closed"]
    assert len(closed) == 1 and "keeps crashing" in closed[0].data["error"]
