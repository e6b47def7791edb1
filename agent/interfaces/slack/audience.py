"""Who will read an answer posted in a channel thread, and whether they all may.

The rule (docs/slack.md, "Channels"): the bot answers in a channel thread only when **every**
member of the channel may see everything the asker may see. What a person may see follows from
their roles (tools, warehouse tables and columns, CRM), their groups and their clearance
(documents), so a member *covers* the asker when their roles and groups include the asker's
and their clearance is at least the asker's. If any member does not — a contractor, a guest,
someone outside the directory, a bot other than ours — or the member list cannot be read, or
the channel is larger than we check, the answer goes to the asker in a DM and the thread is
told so. DMs with the bot have one reader and are never redirected.

The check is repeated on every turn (membership changes), with a short cache so a busy thread
does not call ``conversations.members`` for every message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from connectors.errors import ConnectorError
from policies.directory import Principal

MAX_MEMBERS_CHECKED = 500


@dataclass(frozen=True)
class Audience:
    safe: bool
    reason: str = ""  # why not, for the log and the thread note (never names people)


def covers(member: Principal, asker: Principal) -> bool:
    return asker.roles <= member.roles and asker.groups <= member.groups and member.clearance >= asker.clearance


def judge(asker: Principal, members: Iterable[Principal | None]) -> Audience:
    """``members``: each channel member as a directory person, None when not in the directory."""
    for member in members:
        if member is None:
            return Audience(False, "someone in this channel is not in the company directory")
        if member.id != asker.id and not covers(member, asker):
            return Audience(False, "some members of this channel may not see everything you can")
    return Audience(True)


def is_shared_channel(channel: str) -> bool:
    """Public (C…) and private (G…) channels have an audience; DMs (D…) have only the asker."""
    return channel[:1] in ("C", "G")


class AudienceCheck:
    """Caches ``channel → member ids`` for ``ttl_s``; resolves members with ``principal_for``."""

    def __init__(
        self,
        members_of: Callable[[str], list[str]],
        principal_for: Callable[[str], Principal | None],
        *,
        bot_user_id: Callable[[], str | None] = lambda: None,
        ttl_s: float = 60.0,
        max_members: int = MAX_MEMBERS_CHECKED,
    ) -> None:
        self.members_of = members_of
        self.principal_for = principal_for
        self.bot_user_id = bot_user_id
        self.ttl_s = ttl_s
        self.max_members = max_members
        self._cache: dict[str, tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def __call__(self, channel: str, asker: Principal) -> Audience:
        if not is_shared_channel(channel):
            return Audience(True)
        try:
            ids = self._members(channel)
        except ConnectorError:  # fail closed: an unreadable member list is an unknown audience
            return Audience(False, "I could not check who is in this channel")
        if len(ids) > self.max_members:
            return Audience(False, f"this channel has more than {self.max_members} members")
        ours = self.bot_user_id()
        return judge(asker, (self.principal_for(m) for m in ids if m != ours))

    def _members(self, channel: str) -> list[str]:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(channel)
            if hit is not None and now - hit[0] < self.ttl_s:
                return hit[1]
        ids = self.members_of(channel)
        with self._lock:
            self._cache[channel] = (now, ids)
        return ids


__all__ = ["MAX_MEMBERS_CHECKED", "Audience", "AudienceCheck", "covers", "is_shared_channel", "judge"]
