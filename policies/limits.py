"""Budgets and the model circuit breaker: pure decisions, each with a message a person can act on.

The caller keeps the counters (the app database) and passes them in; nothing here stores usage.
Every refusal says which limit, what was used, and when to try again — never a silent drop.

``CircuitBreaker`` is the one stateful piece: it lives in-process (one per worker), is
thread-safe and takes an injectable clock.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum


@dataclass(frozen=True)
class Budgets:
    """Per-user and per-conversation limits. ``None`` switches a limit off."""

    requests_per_hour: int | None = 50
    requests_per_day: int | None = 300
    tokens_per_hour: int | None = 400_000
    tokens_per_day: int | None = 2_000_000
    cost_usd_per_day: float | None = 10.0
    max_steps_per_conversation: int | None = 25
    max_tool_calls_per_conversation: int | None = 60
    max_message_chars: int | None = 20_000

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if value is not None and value <= 0:
                raise ValueError(f"budget {name} must be positive or None (no limit), got {value!r}")


@dataclass(frozen=True)
class UsageCounters:
    """One user's usage in the current windows, as counted by the caller.

    ``hour_resets_in_s`` / ``day_resets_in_s``: seconds until the hourly / daily counts drop
    (for fixed windows use ``fixed_windows(now)``; for sliding windows, the age-out time of
    the oldest counted request).
    """

    requests_this_hour: int = 0
    requests_today: int = 0
    tokens_this_hour: int = 0
    tokens_today: int = 0
    cost_usd_today: float = 0.0
    hour_resets_in_s: float = 3600.0
    day_resets_in_s: float = 86400.0


def fixed_windows(now: datetime) -> tuple[float, float]:
    """Seconds until the next full hour and the next midnight of ``now``'s timezone (UTC if naive)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    next_day = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return (next_hour - now).total_seconds(), (next_day - now).total_seconds()


@dataclass(frozen=True)
class LimitDecision:
    allowed: bool
    limit_name: str | None = None
    message: str = ""
    retry_after_s: float | None = None


ALLOWED = LimitDecision(True)


def humanize_duration(seconds: float) -> str:
    """``45 seconds``, ``12 minutes``, ``1 hour``, ``5 hours 3 minutes`` (always rounded up)."""
    s = max(1, math.ceil(seconds))
    if s < 60:
        return f"{s} second{'s' if s != 1 else ''}"
    minutes = math.ceil(s / 60)
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours, minutes = divmod(minutes, 60)
    text = f"{hours} hour{'s' if hours != 1 else ''}"
    if minutes:
        text += f" {minutes} minute{'s' if minutes != 1 else ''}"
    return text


def _fmt_int(n: float) -> str:
    return f"{int(n):,}"


def check_user(usage_window: UsageCounters, budgets: Budgets) -> LimitDecision:
    """May this user start another request? When several limits are hit, the longest wait wins."""
    u, b = usage_window, budgets
    hour, day = u.hour_resets_in_s, u.day_resets_in_s
    hits: list[LimitDecision] = []

    def hit(name: str, what: str, period: str, wait: float) -> None:
        wait = max(0.0, wait)
        hits.append(
            LimitDecision(
                False,
                name,
                f"You have used your {what} for {period}; try again in {humanize_duration(wait)}.",
                wait,
            )
        )

    if b.requests_per_hour is not None and u.requests_this_hour >= b.requests_per_hour:
        hit("requests_per_hour", f"{_fmt_int(b.requests_per_hour)} requests", "this hour", hour)
    if b.requests_per_day is not None and u.requests_today >= b.requests_per_day:
        hit("requests_per_day", f"{_fmt_int(b.requests_per_day)} requests", "today", day)
    if b.tokens_per_hour is not None and u.tokens_this_hour >= b.tokens_per_hour:
        hit("tokens_per_hour", f"{_fmt_int(b.tokens_per_hour)} model tokens", "this hour", hour)
    if b.tokens_per_day is not None and u.tokens_today >= b.tokens_per_day:
        hit("tokens_per_day", f"{_fmt_int(b.tokens_per_day)} model tokens", "today", day)
    if b.cost_usd_per_day is not None and u.cost_usd_today >= b.cost_usd_per_day:
        hit("cost_usd_per_day", f"${b.cost_usd_per_day:,.2f} model budget", "today", day)
    if not hits:
        return ALLOWED
    return max(hits, key=lambda d: d.retry_after_s or 0.0)


def check_conversation(
    steps_used: int, tool_calls_used: int, budgets: Budgets, *, proposed_tool_calls: int = 0
) -> LimitDecision:
    """May this conversation take another model step / run ``proposed_tool_calls`` more calls?"""
    max_steps = budgets.max_steps_per_conversation
    if max_steps is not None and steps_used >= max_steps:
        return LimitDecision(
            False,
            "max_steps_per_conversation",
            f"This conversation has reached its limit of {max_steps} steps, so Chamberlain stopped "
            "here. Start a new conversation, or ask a narrower question.",
        )
    max_calls = budgets.max_tool_calls_per_conversation
    if max_calls is not None and tool_calls_used + proposed_tool_calls > max_calls:
        return LimitDecision(
            False,
            "max_tool_calls_per_conversation",
            f"This conversation has reached its limit of {max_calls} tool calls "
            f"({tool_calls_used} used, {proposed_tool_calls} more proposed), so Chamberlain stopped "
            "here. Start a new conversation, or ask a narrower question.",
        )
    return ALLOWED


def check_message_size(text: str, budgets: Budgets) -> LimitDecision:
    """Is one incoming message within the size limit?"""
    limit = budgets.max_message_chars
    if limit is not None and len(text) > limit:
        return LimitDecision(
            False,
            "max_message_chars",
            f"Your message is {len(text):,} characters long; the limit is {limit:,}. "
            "Shorten it, or attach the text as a file.",
        )
    return ALLOWED


# ---------------------------------------------------------------------------------------------
# Circuit breaker


class BreakerState(StrEnum):
    CLOSED = "closed"  # calls flow
    OPEN = "open"  # calls refused until the cool-down ends
    HALF_OPEN = "half_open"  # a trial call tests whether the service recovered


@dataclass(frozen=True)
class BreakerSnapshot:
    state: BreakerState
    consecutive_failures: int
    calls_in_window: int
    failures_in_window: int
    trips: int


class CircuitBreaker:
    """Stop calling a failing model API for a while instead of hammering it.

    Trips (closed → open) after ``failure_threshold`` consecutive failures, or when at least
    ``min_calls`` calls in the last ``window_s`` seconds failed at ``failure_ratio`` or more.
    After ``cooldown_s`` the next ``allow()`` moves to half-open and admits up to
    ``half_open_max_calls`` trial calls: a success closes the breaker, a failure re-opens it.
    A trial that never reports back expires after ``cooldown_s`` so the breaker cannot wedge.

    Usage::

        decision = breaker.allow()
        if not decision.allowed: tell the user decision.message
        try: call the model; breaker.record_success()
        except retryable API error: breaker.record_failure(); raise
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        failure_ratio: float = 0.5,
        min_calls: int = 10,
        window_s: float = 60.0,
        cooldown_s: float = 30.0,
        half_open_max_calls: int = 1,
        clock: Callable[[], float] = time.monotonic,
        service: str = "The model service",
    ) -> None:
        if failure_threshold < 1 or min_calls < 1 or half_open_max_calls < 1:
            raise ValueError("failure_threshold, min_calls and half_open_max_calls must be >= 1")
        if not 0.0 < failure_ratio <= 1.0:
            raise ValueError(f"failure_ratio must be in (0, 1], got {failure_ratio}")
        if window_s <= 0 or cooldown_s <= 0:
            raise ValueError("window_s and cooldown_s must be positive")
        self.failure_threshold = failure_threshold
        self.failure_ratio = failure_ratio
        self.min_calls = min_calls
        self.window_s = window_s
        self.cooldown_s = cooldown_s
        self.half_open_max_calls = half_open_max_calls
        self.service = service
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._window: deque[tuple[float, bool]] = deque()  # (time, ok)
        self._opened_at = 0.0
        self._trials: list[float] = []  # start times of in-flight half-open trials
        self.trips = 0  # how many times the breaker opened (for metrics/tests)

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state

    def allow(self) -> LimitDecision:
        """May a model call start now? In half-open, a permit is a trial call."""
        with self._lock:
            now = self._clock()
            if self._state is BreakerState.OPEN:
                remaining = self._opened_at + self.cooldown_s - now
                if remaining > 0:
                    return self._open_decision(remaining)
                self._state = BreakerState.HALF_OPEN
                self._trials = []
            if self._state is BreakerState.HALF_OPEN:
                self._trials = [t for t in self._trials if now - t < self.cooldown_s]
                if len(self._trials) >= self.half_open_max_calls:
                    oldest = min(self._trials)
                    return LimitDecision(
                        False,
                        "circuit_breaker",
                        f"{self.service} was failing; Chamberlain is testing whether it has "
                        f"recovered. Try again in a few seconds.",
                        max(1.0, oldest + self.cooldown_s - now),
                    )
                self._trials.append(now)
            return ALLOWED

    def record_success(self) -> None:
        with self._lock:
            now = self._clock()
            if self._state is BreakerState.HALF_OPEN:
                self._close()
                return
            self._consecutive = 0
            self._remember(now, True)

    def record_failure(self) -> None:
        with self._lock:
            now = self._clock()
            if self._state is BreakerState.HALF_OPEN:
                self._open(now)
                return
            if self._state is BreakerState.OPEN:
                return  # a call that started before the trip; already counted as open
            self._consecutive += 1
            self._remember(now, False)
            failures = sum(1 for _, ok in self._window if not ok)
            if self._consecutive >= self.failure_threshold or (
                len(self._window) >= self.min_calls and failures / len(self._window) >= self.failure_ratio
            ):
                self._open(now)

    def snapshot(self) -> BreakerSnapshot:
        """Current state and counts, for health checks and metrics."""
        with self._lock:
            return BreakerSnapshot(
                state=self._state,
                consecutive_failures=self._consecutive,
                calls_in_window=len(self._window),
                failures_in_window=sum(1 for _, ok in self._window if not ok),
                trips=self.trips,
            )

    def reset(self) -> None:
        """Force the breaker closed (operator action)."""
        with self._lock:
            self._close()

    # -- internals (lock held) ----------------------------------------------------------------

    def _remember(self, now: float, ok: bool) -> None:
        self._window.append((now, ok))
        while self._window and now - self._window[0][0] > self.window_s:
            self._window.popleft()

    def _open(self, now: float) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._trials = []
        self.trips += 1

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._window.clear()
        self._trials = []

    def _open_decision(self, remaining: float) -> LimitDecision:
        return LimitDecision(
            False,
            "circuit_breaker",
            f"{self.service} is failing; Chamberlain paused model calls for "
            f"{math.ceil(self.cooldown_s)} s. Try again in {humanize_duration(remaining)}.",
            remaining,
        )


__all__ = [
    "ALLOWED",
    "BreakerSnapshot",
    "BreakerState",
    "Budgets",
    "CircuitBreaker",
    "LimitDecision",
    "UsageCounters",
    "check_conversation",
    "check_message_size",
    "check_user",
    "fixed_windows",
    "humanize_duration",
]
