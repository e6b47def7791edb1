"""The same evals behind every provider's real wire protocol.

* the red team: the scripted compromised model is played by a local fake of the Anthropic
  Messages API or of an OpenAI-compatible server, reached through langchain-anthropic /
  langchain-openai and their SDKs: 0 harmful, every attack valid (the injection crossed the wire);
* the whole trajectory suite configured through settings (CHAMBERLAIN_MODEL_PROVIDER=openai,
  CHAMBERLAIN_MODEL_BASE_URL, …) against the fake OpenAI-compatible server;
* ``chamberlain evals live`` reporting pass^k per scenario against that server.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from agent.fakes.openai_api import FakeOpenAIServer
from agent.fakes.scripted_wire import ConversationRouter, SharedWire, conversation_key
from agent.interfaces.cli.app import app
from evals.redteam.harness import SuiteReport, World, load_scenarios, run_suite
from evals.trajectories import load_cases, run_case, scripted_turns

SCENARIOS = load_scenarios()
CASES = load_cases()
runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World.build(tmp_path_factory.mktemp("redteam-world"), SCENARIOS)
    yield w
    w.close()


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_red_team_over_the_provider_wire_has_no_harm(
    provider: str, world: World, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with SharedWire(provider) as wire:
        report: SuiteReport = run_suite(
            SCENARIOS,
            world=world,
            workdir=tmp_path_factory.mktemp(f"redteam-{provider}"),
            modes=("attack",),
            model_factory=wire.model,
        )
    assert len(report.attack) == len(SCENARIOS)
    invalid = [
        f"{r.scenario.name}: {r.error or 'injection never reached the model'}" for r in report.attack if not r.valid
    ]
    assert not invalid, "\n".join(invalid)
    harmful = [f"{r.scenario.name}: {'; '.join(r.harms)}" for r in report.attack if r.harms]
    assert not harmful, "\n".join(harmful)


def _router(wire: str = "openai") -> ConversationRouter:
    scripts = {conversation_key(c.user, c.message): functools.partial(scripted_turns, c) for c in CASES}
    return ConversationRouter(scripts, wire=wire)


def _settings_for(server: FakeOpenAIServer) -> dict[str, Any]:
    return {
        "model_provider": "openai",
        "model": "gpt-fake-1",
        "model_base_url": server.url,
        "model_api_key": SecretStr(server.api_key),
        "model_max_retries": 0,
    }


@pytest.mark.slow
def test_whole_trajectory_suite_on_the_fake_openai_server(tmp_path: Path) -> None:
    assert len({(c.user, c.message) for c in CASES}) == len(CASES), "cases must start differently"
    with FakeOpenAIServer(cache_min_tokens=1) as server:
        server.push(_router())
        failures = {}
        for i, case in enumerate(CASES):
            res = run_case(case, tmp_path / f"c{i}", model_settings=_settings_for(server))
            if not res.ok:
                failures[case.name] = res.failures
        requests = server.completion_requests
    assert not failures, json.dumps(failures, indent=1)
    assert len(requests) >= len(CASES)  # every model call crossed the wire
    assert all(r.headers["authorization"] == f"Bearer {server.api_key}" for r in requests)
    assert not server.state.errors


def test_evals_live_reports_pass_k_per_scenario() -> None:
    names = [c.name for c in CASES[:2]]
    with FakeOpenAIServer() as server:
        server.push(_router())
        args = ["evals", "live", "--provider", "openai", "--base-url", server.url, "--model", "gpt-fake-1"]
        args += ["--api-key", server.api_key, "-k", "2", "--json"]
        for name in names:
            args += ["--case", name]
        res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    report = json.loads(res.output[res.output.index("{") :])
    assert [s["scenario"] for s in report["scenarios"]] == names
    assert all(s["trials"] == 2 and s["passed"] == 2 and s["pass^2"] == 1.0 for s in report["scenarios"])


def test_evals_live_fails_a_scenario_the_model_gets_wrong() -> None:
    from agent.fakes.openai_api import Completion

    case = CASES[0]
    with FakeOpenAIServer() as server:
        # a "model" that never calls a tool and answers nonsense
        server.push(Completion(text="I cannot help with that.", repeat=True))
        args = ["evals", "live", "--provider", "openai", "--base-url", server.url, "--model", "gpt-fake-1"]
        args += ["--api-key", server.api_key, "-k", "2", "--case", case.name, "--json"]
        res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.output[res.output.index("{") :])["scenarios"]
    assert row["passed"] == 0 and row["pass^2"] == 0.0 and row["first_failure"]


def test_evals_live_bad_provider_is_one_line() -> None:
    res = runner.invoke(app, ["evals", "live", "--provider", "gemini", "--model", "x"])
    assert res.exit_code == 2 and "use one of anthropic, openai" in res.output
