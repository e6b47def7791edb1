"""The fake workspace's people, channels and the records it keeps (calls, messages, files)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FakeSlackUser:
    id: str
    name: str
    real_name: str
    email: str | None
    is_bot: bool = False


def _person(slack_id: str, email: str) -> FakeSlackUser:
    local = email.split("@", 1)[0]
    real = " ".join(part.capitalize() for part in local.split("."))
    return FakeSlackUser(id=slack_id, name=local, real_name=real, email=email)


#: Slack accounts of the demo company (the emails match ``policies/directory.yaml``), plus one
#: person who is in Slack but not in the directory, and a bot.
DEMO_USERS: tuple[FakeSlackUser, ...] = (
    _person("U0OLIVIA", "olivia.hart@larkspur.example"),
    _person("U0MARCUS", "marcus.reid@larkspur.example"),
    _person("U0DANA", "dana.whitfield@larkspur.example"),
    _person("U0FINN", "finn.osei@larkspur.example"),
    _person("U0PRIYA", "priya.shah@larkspur.example"),
    _person("U0OMAR", "omar.farouk@larkspur.example"),
    _person("U0SOFIA", "sofia.marquez@larkspur.example"),
    _person("U0RAJ", "raj.patel@larkspur.example"),
    _person("U0CARMEN", "carmen.diaz@larkspur.example"),
    _person("U0ALICE", "alice.chen@larkspur.example"),
    _person("U0BOB", "bob.nakamura@larkspur.example"),
    _person("U0DEVON", "devon.brooks@larkspur.example"),
    _person("U0HANNAH", "hannah.lee@larkspur.example"),
    _person("U0IVAN", "ivan.petrov@larkspur.example"),
    _person("U0GRACE", "grace.kim@larkspur.example"),
    _person("U0TOM", "tom.becker@larkspur.example"),
    _person("U0ERIN", "erin.walsh@larkspur.example"),
    _person("U0MALLORY", "mallory.stone@larkspur.example"),
    _person("U0KEN", "ken.adams@larkspur.example"),
    _person("U0CASEY", "casey.jones@contractor.example"),
    _person("U0STRANGER", "sam.stranger@elsewhere.example"),
    FakeSlackUser(id="U0OTHERBOT", name="otherbot", real_name="Other Bot", email=None, is_bot=True),
)


@dataclass(frozen=True)
class FakeChannel:
    id: str
    name: str
    is_member: bool = True  # the bot has been added (needed to post, as chat:write alone allows)
    is_private: bool = False
    is_archived: bool = False


#: Channels of the demo workspace. ``C0OUTSIDE`` is one the bot was never invited to.
DEMO_CHANNELS: tuple[FakeChannel, ...] = (
    FakeChannel("C0GENERAL", "general"),
    FakeChannel("C0SALES", "sales"),
    FakeChannel("C0DEALDESK", "deal-desk"),
    FakeChannel("C0RENEWALS", "renewals"),
    FakeChannel("C0PIPELINE", "pipeline"),
    FakeChannel("C0APPROVALS", "approvals"),
    FakeChannel("C0ENG", "eng"),
    FakeChannel("C0ITHELP", "it-help"),
    FakeChannel("C0BENCH", "bench"),
    FakeChannel("C0FINANCE", "finance", is_private=True),
    FakeChannel("C0OUTSIDE", "outside", is_member=False),
    FakeChannel("C0OLDNEWS", "old-news", is_archived=True),
)

# Methods whose ``channel`` (or ``channel_id``) names where something is posted.
_POSTING = {"chat.postMessage", "chat.update", "chat.postEphemeral", "reactions.add", "files.completeUploadExternal"}


@dataclass(frozen=True)
class RecordedCall:
    method: str  # "chat.postMessage", "upload", "response_url", ...
    args: Mapping[str, Any]
    status: int
    at: float  # time.monotonic()


@dataclass
class FakeMessage:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    updates: int = 0
    history: list[str] = field(default_factory=list)  # every text it has shown, oldest first
    client_msg_id: str | None = None


@dataclass(frozen=True)
class FakeFile:
    id: str
    filename: str
    title: str
    content: bytes
    channel: str | None
    thread_ts: str | None
