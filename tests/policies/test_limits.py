from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from policies.limits import (
    ALLOWED,
    BreakerState,
    Budgets,
    CircuitBreaker,
    UsageCounters,
    check_conversation,
    check_message_size,
    check_user,
    fixed_windows,
    humanize_duration,
)

B = Budgets(
    requests_per_hour=50,
    requests_per_day=300,
    tokens_per_hour=100_000,
    tokens_per_day=500_000,
    cost_usd_per_day=10.0,
    max_steps_per_conversation=25,
    max_tool_calls_per_conversation=40,
    max_message_chars=1000,
)


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


# --- per-user budgets ------------------------------------------------------------------------


def test_under_every_limit_is_allowed() -> None:
    u = UsageCounters(49, 299, 99_999, 499_999, 9.99)
    assert check_user(u, B) == ALLOWED
    assert ALLOWED.allowed and ALLOWED.limit_name is None


def test_hourly_request_limit_message() -> None:
    d = check_user(UsageCounters(requests_this_hour=50, hour_resets_in_s=11 * 60 + 5), B)
    assert not d.allowed
    assert d.limit_name == "requests_per_hour"
    assert d.message == "You have used your 50 requests for this hour; try again in 12 minutes."
    assert d.retry_after_s == pytest.approx(665)


@pytest.mark.parametrize(
    ("usage", "name", "message"),
    [
        (
            UsageCounters(requests_today=300, day_resets_in_s=5 * 3600 + 170),
            "requests_per_day",
            "You have used your 300 requests for today; try again in 5 hours 3 minutes.",
        ),
        (
            UsageCounters(tokens_this_hour=100_000, hour_resets_in_s=30),
            "tokens_per_hour",
            "You have used your 100,000 model tokens for this hour; try again in 30 seconds.",
        ),
        (
            UsageCounters(tokens_today=600_000, day_resets_in_s=3600),
            "tokens_per_day",
            "You have used your 500,000 model tokens for today; try again in 1 hour.",
        ),
        (
            UsageCounters(cost_usd_today=10.0, day_resets_in_s=7200),
            "cost_usd_per_day",
            "You have used your $10.00 model budget for today; try again in 2 hours.",
        ),
    ],
)
def test_each_user_limit_has_a_clear_message(usage: UsageCounters, name: str, message: str) -> None:
    d = check_user(usage, B)
    assert (d.allowed, d.limit_name, d.message) == (False, name, message)


def test_longest_wait_wins_when_several_limits_are_hit() -> None:
    u = UsageCounters(requests_this_hour=50, cost_usd_today=12.0, hour_resets_in_s=600, day_resets_in_s=9000)
    d = check_user(u, B)
    assert d.limit_name == "cost_usd_per_day" and d.retry_after_s == 9000


def test_none_switches_a_limit_off() -> None:
    b = Budgets(requests_per_hour=None, cost_usd_per_day=None)
    assert check_user(UsageCounters(requests_this_hour=10**6, cost_usd_today=10**6), b).allowed


def test_budgets_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="requests_per_hour must be positive"):
        Budgets(requests_per_hour=0)


def test_fixed_windows() -> None:
    now = datetime(2026, 11, 23, 13, 48, 30, tzinfo=UTC)
    hour, day = fixed_windows(now)
    assert hour == 11 * 60 + 30
    assert day == timedelta(hours=10, minutes=11, seconds=30).total_seconds()
    assert fixed_windows(now.replace(tzinfo=None)) == (hour, day)
    plus2 = timezone(timedelta(hours=2))
    assert fixed_windows(datetime(2026, 11, 23, 23, 30, tzinfo=plus2))[1] == 1800


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "1 second"), (1, "1 second"), (59.2, "1 minute"), (59, "59 seconds"), (60, "1 minute"), (61, "2 minutes"),
     (3600, "1 hour"), (3601, "1 hour 1 minute"), (2 * 86400, "48 hours")],
)  # fmt: skip
def test_humanize_duration(seconds: float, text: str) -> None:
    assert humanize_duration(seconds) == text


# --- per-conversation ------------------------------------------------------------------------


def test_conversation_step_budget() -> None:
    assert check_conversation(24, 0, B).allowed
    d = check_conversation(25, 0, B)
    assert d.limit_name == "max_steps_per_conversation"
    assert "limit of 25 steps" in d.message and "new conversation" in d.message
    assert d.retry_after_s is None


def test_conversation_tool_call_budget_counts_proposed_calls() -> None:
    assert check_conversation(3, 38, B, proposed_tool_calls=2).allowed
    d = check_conversation(3, 38, B, proposed_tool_calls=3)
    assert d.limit_name == "max_tool_calls_per_conversation"
    assert "limit of 40 tool calls (38 used, 3 more proposed)" in d.message


def test_message_size() -> None:
    assert check_message_size("x" * 1000, B).allowed
    d = check_message_size("x" * 1001, B)
    assert d.limit_name == "max_message_chars"
    assert d.message.startswith("Your message is 1,001 characters long; the limit is 1,000.")


# --- circuit breaker -------------------------------------------------------------------------


def test_breaker_trips_after_consecutive_failures_and_explains() -> None:
    clock = FakeClock()
    cb = CircuitBreaker(failure_threshold=3, cooldown_s=30, clock=clock)
    for _ in range(2):
        assert cb.allow().allowed
        cb.record_failure()
    assert cb.state is BreakerState.CLOSED
    cb.record_failure()
    assert cb.state is BreakerState.OPEN and cb.trips == 1
    d = cb.allow()
    assert not d.allowed and d.limit_name == "circuit_breaker"
    assert d.message.startswith("The model service is failing; Chamberlain paused model calls for 30 s.")
    assert d.retry_after_s == 30
    clock.advance(20)
    assert cb.allow().retry_after_s == pytest.approx(10)


def test_success_resets_the_consecutive_count() -> None:
    cb = CircuitBreaker(failure_threshold=3, min_calls=100, clock=FakeClock())
    for _ in range(10):
        cb.record_failure()
        cb.record_failure()
        cb.record_success()
    assert cb.state is BreakerState.CLOSED


def test_breaker_trips_on_failure_ratio_in_window() -> None:
    clock = FakeClock()
    cb = CircuitBreaker(failure_threshold=100, failure_ratio=0.5, min_calls=10, window_s=60, clock=clock)
    for _ in range(5):
        cb.record_success()
        clock.advance(1)
        cb.record_failure()
        clock.advance(1)
    assert cb.state is BreakerState.OPEN  # 5 of 10 failed


def test_old_calls_leave_the_window() -> None:
    clock = FakeClock()
    cb = CircuitBreaker(failure_threshold=100, failure_ratio=0.5, min_calls=4, window_s=10, clock=clock)
    for _ in range(3):
        cb.record_failure()
    cb.record_success()
    clock.advance(11)
    cb.record_failure()  # 4 of 5 would trip, but the first four aged out of the window
    assert cb.state is BreakerState.CLOSED
    for _ in range(3):
        cb.record_failure()
    assert cb.state is BreakerState.OPEN  # 4 of 4 recent calls failed


def test_half_open_admits_one_trial_then_closes_on_success() -> None:
    clock = FakeClock()
    cb = CircuitBreaker(failure_threshold=1, cooldown_s=30, clock=clock)
    cb.record_failure()
    clock.advance(30)
    assert cb.allow().allowed  # the trial
    assert cb.state is BreakerState.HALF_OPEN
    second = cb.allow()
    assert not second.allowed and "testing whether it has recovered" in second.message
    cb.record_success()
    assert cb.state is BreakerState.CLOSED
    assert cb.allow().allowed and cb.allow().allowed


def test_half_open_failure_reopens_for_a_full_cooldown() -> None:
    clock = FakeClock()
    cb = CircuitBreaker(failure_threshold=1, cooldown_s=30, clock=clock)
    cb.record_failure()
    clock.advance(31)
    assert cb.allow().allowed
    cb.record_failure()
    assert cb.state is BreakerState.OPEN and cb.trips == 2
    clock.advance(29)
    assert not cb.allow().allowed
    clock.advance(1)
    assert cb.allow().allowed


def test_a_lost_trial_expires() -> None:
    clock = FakeClock()
    cb = CircuitBreaker(failure_threshold=1, cooldown_s=30, clock=clock)
    cb.record_failure()
    clock.advance(30)
    assert cb.allow().allowed  # trial never reports back (worker crashed)
    clock.advance(10)
    assert not cb.allow().allowed
    clock.advance(20)
    assert cb.allow().allowed


def test_late_failures_while_open_do_not_extend_the_cooldown() -> None:
    clock = FakeClock()
    cb = CircuitBreaker(failure_threshold=1, cooldown_s=30, clock=clock)
    cb.record_failure()
    clock.advance(25)
    cb.record_failure()  # a call that started before the trip
    clock.advance(5)
    assert cb.allow().allowed and cb.trips == 1


def test_breaker_validates_its_settings() -> None:
    with pytest.raises(ValueError, match="failure_ratio"):
        CircuitBreaker(failure_ratio=0)
    with pytest.raises(ValueError, match="cooldown_s"):
        CircuitBreaker(cooldown_s=0)


def test_breaker_is_thread_safe() -> None:
    clock = FakeClock()
    cb = CircuitBreaker(failure_threshold=10**9, failure_ratio=1.0, min_calls=10**9, clock=clock)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for i in range(2000):
                assert cb.allow().allowed
                cb.record_failure() if i % 2 else cb.record_success()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cb.state is BreakerState.CLOSED
    snap = cb.snapshot()
    assert snap.calls_in_window == 8 * 2000  # every call recorded exactly once (no lost updates)
    assert snap.failures_in_window == 8 * 1000

    # And concurrent failures trip it exactly once.
    cb2 = CircuitBreaker(failure_threshold=50, clock=clock)
    barrier = threading.Barrier(8)

    def fail() -> None:
        barrier.wait()
        for _ in range(100):
            cb2.record_failure()

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cb2.state is BreakerState.OPEN and cb2.trips == 1
