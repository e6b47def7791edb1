"""Report schedules: cron + time zone, validated, and the periods due at a moment.

A *period* is one firing of the schedule (its scheduled time, in UTC); a run is keyed by
(report, period), so whatever number of schedulers look at the same moment, each period runs once.
After downtime, ``catch_up=True`` runs only the latest missed period (once), ``False`` skips
missed periods and waits for the next one. Pure: the caller passes the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, croniter

DEFAULT_MIN_INTERVAL = timedelta(hours=1)


class ScheduleError(ValueError):
    """A schedule that cannot be used; the message says what to write instead."""


@dataclass(frozen=True)
class Schedule:
    cron: str  # five fields: minute hour day-of-month month day-of-week
    timezone: str = "UTC"

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def firings(self, after: datetime, until: datetime) -> list[datetime]:
        """Scheduled times t with after < t <= until, in UTC (bounded: at most 1,000)."""
        it = croniter(self.cron, after.astimezone(self.zone()))
        out: list[datetime] = []
        while len(out) < 1000:
            t = it.get_next(datetime).astimezone(UTC)
            if t > until:
                break
            out.append(t)
        return out

    def next_after(self, moment: datetime) -> datetime:
        return croniter(self.cron, moment.astimezone(self.zone())).get_next(datetime).astimezone(UTC)

    def previous_at_or_before(self, moment: datetime) -> datetime:
        """The latest scheduled time ≤ ``moment`` (the period "now" belongs to)."""
        it = croniter(self.cron, (moment + timedelta(seconds=1)).astimezone(self.zone()))
        return it.get_prev(datetime).astimezone(UTC)


def validate(cron: str, timezone: str, *, min_interval: timedelta = DEFAULT_MIN_INTERVAL) -> Schedule:
    """A usable schedule, or :class:`ScheduleError` naming what is wrong and how to fix it."""
    cron = " ".join(cron.split())
    if len(cron.split()) != 5:
        raise ScheduleError(
            f"cron {cron!r} must have five fields (minute hour day-of-month month day-of-week), "
            "e.g. '0 9 * * MON' for Mondays at 9:00"
        )
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"unknown time zone {timezone!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from None
    try:
        it = croniter(cron, datetime(2026, 1, 5, tzinfo=zone))
        times = [it.get_next(datetime) for _ in range(60)]
    except (CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, ValueError, KeyError) as exc:
        raise ScheduleError(f"invalid cron {cron!r} ({exc}); e.g. '0 9 * * MON' for Mondays at 9:00") from None
    gap = min(b - a for a, b in pairwise(times))
    if gap < min_interval:
        raise ScheduleError(
            f"cron {cron!r} runs every {_human(gap)}; reports may run at most every {_human(min_interval)}"
        )
    return Schedule(cron, timezone)


def due(
    schedule: Schedule,
    *,
    created: datetime,
    last_period: datetime | None,
    now: datetime,
    catch_up: bool,
    grace: timedelta = timedelta(minutes=10),
) -> list[datetime]:
    """The period to run now, if any: the latest scheduled time since the last run.

    Periods missed during downtime are never run one by one: with ``catch_up`` the latest missed
    one runs once; without it, a period older than ``grace`` is skipped and the report waits for
    its next firing."""
    missed = schedule.firings(last_period or created, now)
    if not missed:
        return []
    latest = missed[-1]
    if not catch_up and now - latest > grace:
        return []
    return [latest]


PERIOD_FORMAT = "%Y-%m-%dT%H:%MZ"


def period_key(period: datetime) -> str:
    return period.astimezone(UTC).strftime(PERIOD_FORMAT)


def _human(d: timedelta) -> str:
    s = int(d.total_seconds())
    if s % 86400 == 0:
        return f"{s // 86400} day(s)"
    if s % 3600 == 0:
        return f"{s // 3600} hour(s)"
    if s % 60 == 0:
        return f"{s // 60} minute(s)"
    return f"{s} second(s)"


__all__ = ["DEFAULT_MIN_INTERVAL", "PERIOD_FORMAT", "Schedule", "ScheduleError", "due", "period_key", "validate"]
