"""compose.yaml describes a topology that can run: every command exists, every setting is real,
every long-running service has a health check, and the app replicas share one PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from agent.interfaces.cli.app import app
from agent.settings import Settings

COMPOSE = Path(__file__).resolve().parents[1] / "compose.yaml"


def _services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_every_chamberlain_command_in_compose_exists() -> None:
    runner = CliRunner()
    for name, svc in _services().items():
        cmd = svc.get("command") or []
        if cmd[:1] != ["chamberlain"]:
            continue
        res = runner.invoke(app, [*cmd[1:], "--help"])
        assert res.exit_code == 0, f"{name}: {cmd}: {res.output}"


def test_every_chamberlain_setting_in_compose_is_a_real_setting() -> None:
    known = {f"CHAMBERLAIN_{n.upper()}" for n in Settings.model_fields}
    for name, svc in _services().items():
        for key in svc.get("environment") or {}:
            if key.startswith("CHAMBERLAIN_"):
                assert key in known, f"{name}: unknown setting {key}"


def test_two_app_replicas_and_a_worker_on_one_postgres_each_with_a_health_check() -> None:
    services = _services()
    apps = [n for n, s in services.items() if (s.get("command") or [])[:2] == ["chamberlain", "serve"]]
    assert {"app-1", "app-2", "worker"} <= set(apps)
    urls = {services[n]["environment"]["CHAMBERLAIN_DATABASE_URL"] for n in apps}
    assert len(urls) == 1 and next(iter(urls)).startswith("postgresql://")
    for name, svc in services.items():
        if name == "seed":
            continue
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert all("/readyz" in " ".join(services[n]["healthcheck"]["test"]) for n in apps)
