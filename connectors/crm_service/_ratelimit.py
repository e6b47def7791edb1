"""HubSpot's API rate limits, as the local service enforces them.

HubSpot limits a private app per rolling ten seconds (``TEN_SECONDLY_ROLLING``) and per day
(``DAILY``), and reports both on every answer in ``X-HubSpot-RateLimit-*`` headers. The search
endpoints have their own, tighter per-second limit (``SECONDLY``) and send no such headers. An
exceeded limit is a 429 whose JSON body names the policy::

    {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
     "errorType": "RATE_LIMIT", "category": "RATE_LIMITS", "policyName": "TEN_SECONDLY_ROLLING",
     "correlationId": "..."}
"""

from __future__ import annotations

import hmac
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse

TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
SECONDLY = "SECONDLY"
DAILY = "DAILY"


@dataclass(frozen=True)
class RateLimits:
    """Requests allowed per window. The defaults are HubSpot's for a Professional private app."""

    per_interval: int = 190
    interval_ms: int = 10_000
    daily: int = 625_000
    search_per_second: int = 5


class RateLimiter:
    """ASGI middleware: counts authorised requests per policy; 429 once a window is full."""

    def __init__(
        self,
        app: Any,
        *,
        limits: RateLimits,
        authorization: bytes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.limits = limits
        self._authorization = authorization
        self._clock = clock
        self._lock = threading.Lock()
        self._interval: deque[float] = deque()
        self._search: deque[float] = deque()
        self._day: deque[float] = deque()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self._authorised(scope):
            await self.app(scope, receive, send)  # 401 comes from the app; it costs no quota
            return
        is_search = scope["method"] == "POST" and scope["path"].endswith("/search")
        policy, headers = self._admit(is_search)
        if policy is not None:
            # HubSpot sends no Retry-After here: a client learns the wait from the policy name
            # and X-HubSpot-RateLimit-Interval-Milliseconds.
            body = {
                "status": "error",
                "message": f"You have reached your {policy.lower()} limit.",
                "errorType": "RATE_LIMIT",
                "category": "RATE_LIMITS",
                "policyName": policy,
                "correlationId": str(uuid.uuid4()),
            }
            response = JSONResponse(body, status_code=429, headers=headers)
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start" and headers:
                message = {
                    **message,
                    "headers": [*message.get("headers", []), *((k.encode(), v.encode()) for k, v in headers.items())],
                }
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _authorised(self, scope: Any) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                return hmac.compare_digest(value, self._authorization)
        return False

    def _admit(self, is_search: bool) -> tuple[str | None, dict[str, str]]:
        """(the policy that refuses this request or None, the headers to send)."""
        now = self._clock()
        lim = self.limits
        with self._lock:
            _expire(self._interval, now - lim.interval_ms / 1000)
            _expire(self._search, now - 1.0)
            _expire(self._day, now - 86_400)
            headers: dict[str, str] = {}
            if not is_search:
                headers = {
                    "X-HubSpot-RateLimit-Daily": str(lim.daily),
                    "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, lim.daily - len(self._day) - 1)),
                    "X-HubSpot-RateLimit-Interval-Milliseconds": str(lim.interval_ms),
                    "X-HubSpot-RateLimit-Max": str(lim.per_interval),
                    "X-HubSpot-RateLimit-Remaining": str(max(0, lim.per_interval - len(self._interval) - 1)),
                }
            if len(self._day) >= lim.daily:
                return DAILY, {**headers, "X-HubSpot-RateLimit-Daily-Remaining": "0"}
            if is_search:
                if len(self._search) >= lim.search_per_second:
                    return SECONDLY, headers
                self._search.append(now)
            else:
                if len(self._interval) >= lim.per_interval:
                    return TEN_SECONDLY, {**headers, "X-HubSpot-RateLimit-Remaining": "0"}
                self._interval.append(now)
            self._day.append(now)
            return None, headers


def _expire(window: deque[float], before: float) -> None:
    while window and window[0] <= before:
        window.popleft()


__all__ = ["DAILY", "SECONDLY", "TEN_SECONDLY", "RateLimiter", "RateLimits"]
