"""Slack user → directory principal, by email, cached with a TTL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent.interfaces.slack.users import SlackUsers
from connectors.slack.client import SlackWebApi, build_web_client
from connectors.slack.fake_api import FakeSlack
from policies.directory import Directory


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_users_map_by_email_and_are_cached(server: FakeSlack) -> None:
    server.reset()
    clock = Clock()
    api = SlackWebApi(build_web_client("xoxb-users", base_url=server.base_url))
    users = SlackUsers(api, Directory.load(), ttl=600, miss_ttl=60, clock=clock)

    dana = users.principal_for("U0DANA")
    assert dana is not None and dana.id == "u_dana"
    assert users.principal_for("U0DANA") == dana
    assert len(server.calls_to("users.info")) == 1
    assert users.slack_id_for("u_dana") == "U0DANA"  # learnt from the lookup, no extra call
    assert not server.calls_to("users.lookupByEmail")

    assert users.principal_for("U0STRANGER") is None  # in Slack, not in the directory
    assert users.principal_for("U0OTHERBOT") is None  # bots have no directory entry
    assert users.principal_for("U0NOBODY") is None  # not even in Slack
    assert users.slack_id_for("u_raj") == "U0RAJ"
    assert users.mention("u_raj") == "<@U0RAJ>"

    calls = len(server.calls_to("users.info"))
    clock.now = 61  # misses expire sooner than hits
    users.principal_for("U0STRANGER")
    users.principal_for("U0DANA")
    assert len(server.calls_to("users.info")) == calls + 1
    clock.now = 601
    users.principal_for("U0DANA")
    assert len(server.calls_to("users.info")) == calls + 2
