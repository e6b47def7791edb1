"""`chamberlain slack serve` configuration errors, the app manifest, Socket Mode and health."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from slack_bolt import App
from typer.testing import CliRunner

from agent.interfaces.cli.slack import app
from agent.interfaces.slack.fastapi_app import EVENTS_PATH, create_fastapi_app
from agent.interfaces.slack.socket_mode import socket_mode_handler

MANIFEST = Path(__file__).parents[2] / "agent" / "interfaces" / "slack" / "manifest.yaml"


@pytest.fixture(autouse=True)
def no_slack_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(f"CHAMBERLAIN_{var}", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_serve_says_which_variable_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["serve", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "SLACK_BOT_TOKEN" in result.output
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    result = runner.invoke(app, ["serve", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "SLACK_SIGNING_SECRET" in result.output
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    result = runner.invoke(app, ["serve", "--socket", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "SLACK_APP_TOKEN" in result.output


# Which bot scope each Web API method and event needs (Slack's method and event reference).
_METHOD_SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "conversations_open": "im:write",
    "users_info": "users:read",
    "users_lookupByEmail": "users:read.email",
    "files_upload_v2": "files:write",
    "reactions_add": "reactions:write",
    "views_open": None,
    # who would read an answer in a channel (public and private channels)
    "conversations_members": ("channels:read", "groups:read"),
}
_EVENT_SCOPES = {
    "app_mention": "app_mentions:read",
    "message.im": "im:history",
    "message.channels": "channels:history",  # thread follow-ups without a mention
    "message.groups": "groups:history",
}


def test_manifest_declares_exactly_what_the_bot_uses() -> None:
    import re

    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    root = Path(__file__).parents[2]
    code = "\n".join(
        p.read_text(encoding="utf-8")
        for p in [*(root / "agent").rglob("*.py"), root / "connectors" / "slack" / "client.py"]
    )
    called = set(re.findall(r"\.(chat_\w+|conversations_\w+|users_\w+|files_\w+|reactions_\w+|views_\w+)\(", code))
    assert called <= set(_METHOD_SCOPES), f"add the scope of {called - set(_METHOD_SCOPES)} to this test"
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    needed: set[str | None] = {"commands"} | {_EVENT_SCOPES[e] for e in events}
    for m in called:
        scope = _METHOD_SCOPES[m]
        needed |= set(scope) if isinstance(scope, tuple) else {scope}
    assert scopes == needed - {None}
    docs = (root / "docs" / "slack.md").read_text(encoding="utf-8")
    assert all(f"`{scope}`" in docs for scope in scopes)
    settings = manifest["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_mention",
        "message.im",
        "message.channels",
        "message.groups",
    }
    assert settings["interactivity"]["is_enabled"] is True
    urls = [
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
        *(c["url"] for c in manifest["features"]["slash_commands"]),
    ]
    assert all(u.endswith(EVENTS_PATH) for u in urls)
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/chamberlain"]


def test_socket_mode_needs_an_app_level_token() -> None:
    bolt = App(token="xoxb-1", signing_secret="s", token_verification_enabled=False)
    with pytest.raises(ValueError, match="xapp-"):
        socket_mode_handler(bolt, "xoxb-not-an-app-token")
    handler = socket_mode_handler(bolt, "xapp-1-A1-1-abc")  # built, not connected
    assert handler.app is bolt


def test_health_endpoint() -> None:
    bolt = App(token="xoxb-1", signing_secret="s", token_verification_enabled=False)
    with TestClient(create_fastapi_app(bolt)) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.post(EVENTS_PATH, content=b"{}").status_code == 401  # unsigned
