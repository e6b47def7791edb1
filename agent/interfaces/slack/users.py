"""Slack user ↔ directory principal, matched by email (``users.info`` / ``users.lookupByEmail``).

Answers are cached with a TTL (misses for a shorter time, so a person added to the directory or
to Slack is picked up soon). An unknown user maps to None; callers refuse politely.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from connectors.slack.client import SlackApi
from policies.directory import Directory, Principal


class SlackUsers:
    def __init__(
        self,
        api: SlackApi,
        directory: Directory,
        *,
        ttl: float = 600.0,
        miss_ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.directory = directory
        self.ttl = ttl
        self.miss_ttl = miss_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._principal_by_slack: dict[str, tuple[str | None, float]] = {}
        self._slack_by_principal: dict[str, tuple[str | None, float]] = {}

    def principal_for(self, slack_user_id: str) -> Principal | None:
        """The directory person behind a Slack user id, or None when there is none."""
        hit = self._get(self._principal_by_slack, slack_user_id)
        if hit is not _MISS:
            return self.directory.find(hit) if isinstance(hit, str) else None
        email = self.api.user_email(slack_user_id)
        principal = self.directory.by_email(email) if email else None
        self._put(self._principal_by_slack, slack_user_id, principal.id if principal else None)
        if principal is not None:
            self._put(self._slack_by_principal, principal.id, slack_user_id)
        return principal

    def slack_id_for(self, principal_id: str) -> str | None:
        """The Slack user id of a directory person, or None if they are not in Slack."""
        hit = self._get(self._slack_by_principal, principal_id)
        if hit is not _MISS:
            return hit if isinstance(hit, str) else None
        principal = self.directory.find(principal_id)
        slack_id = self.api.user_id_for_email(principal.email) if principal else None
        self._put(self._slack_by_principal, principal_id, slack_id)
        if slack_id is not None and principal is not None:
            self._put(self._principal_by_slack, slack_id, principal.id)
        return slack_id

    def mention(self, principal_id: str) -> str:
        """``<@U123>`` when the person is in Slack, else their directory label."""
        slack_id = self.slack_id_for(principal_id)
        if slack_id:
            return f"<@{slack_id}>"
        p = self.directory.find(principal_id)
        return p.label if p else principal_id

    def _get(self, cache: dict[str, tuple[str | None, float]], key: str) -> object:
        with self._lock:
            entry = cache.get(key)
            if entry is None or entry[1] <= self._clock():
                return _MISS
            return entry[0]

    def _put(self, cache: dict[str, tuple[str | None, float]], key: str, value: str | None) -> None:
        ttl = self.ttl if value is not None else self.miss_ttl
        with self._lock:
            cache[key] = (value, self._clock() + ttl)


_MISS = object()

__all__ = ["SlackUsers"]
