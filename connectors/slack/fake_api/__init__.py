"""A local fake of the Slack Web API, for tests, the benchmark and offline demos.

It speaks the wire format ``slack_sdk.WebClient`` uses (JSON bodies, form bodies and query
strings; ``{"ok": ...}`` envelopes; HTTP 429 with ``Retry-After``), records every call, and keeps
the messages it was sent so tests can read a thread the way a person would see it.

It is strict where Slack is, so bugs show up here rather than in a workspace: a missing token is
``not_authed`` and a wrong one ``invalid_auth``; an unknown channel is ``channel_not_found`` and a
channel the bot is not in ``not_in_channel``; text over 40,000 characters is ``msg_too_long``;
blocks that break Block Kit's schema are ``invalid_blocks`` with Slack's JSON-pointer errors
(:mod:`connectors.slack.block_kit`); a modal that breaks it is ``invalid_arguments``; and, when
``rate_limits`` are set, calls over a method's per-minute budget get 429 ``ratelimited`` with
``Retry-After``.

    with FakeSlack() as fake:
        client = build_web_client("xoxb-test", base_url=fake.base_url)
        ...
        fake.calls_to("chat.update")

Nothing here talks to slack.com; the server binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

from connectors.slack.fake_api.server import FakeSlack
from connectors.slack.fake_api.workspace import (
    DEMO_CHANNELS,
    DEMO_USERS,
    FakeChannel,
    FakeFile,
    FakeMessage,
    FakeSlackUser,
    RecordedCall,
)

__all__ = [
    "DEMO_CHANNELS",
    "DEMO_USERS",
    "FakeChannel",
    "FakeFile",
    "FakeMessage",
    "FakeSlack",
    "FakeSlackUser",
    "RecordedCall",
]
