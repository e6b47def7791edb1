"""Model budgets: per user and per group, in tokens or USD, per day or month.

A YAML file (``CHAMBERLAIN_BUDGETS_PATH``) sets them; the per-user request/token/cost limits
of the settings (``CHAMBERLAIN_TOKENS_PER_DAY`` & co.) apply to everyone as before::

    users:
      u_alice: {usd_per_day: 5}
    groups:
      sales: {usd_per_month: 300, tokens_per_day: 2000000}   # shared by everyone in the group

A turn is admitted before any model call only if no budget of the asker or of one of their
groups is spent; past ``warn_ratio`` (80 %) of one, the asker is told. Every check reads the
running totals kept by :class:`~connectors.appdb.UsageStore` (a few rows by key), never the
history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.appdb import UsageStore
from connectors.appdb.usage_store import WindowTotals
from policies.directory import Principal
from policies.limits import Budgets, UsageCounters, check_user, fixed_windows, humanize_duration

__all__ = ["Budget", "BudgetChecker", "BudgetError", "BudgetFile", "BudgetVerdict"]


class BudgetError(ValueError):
    """The budgets file is malformed."""


class Budget(BaseModel):
    """Limits of one user or group; an unset limit does not apply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens_per_day: int | None = Field(None, gt=0, description="Model tokens (input + output) per UTC day.")
    tokens_per_month: int | None = Field(None, gt=0, description="Model tokens per calendar month (UTC).")
    usd_per_day: float | None = Field(None, gt=0, description="Model cost in USD per UTC day.")
    usd_per_month: float | None = Field(None, gt=0, description="Model cost in USD per calendar month (UTC).")


class BudgetFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    users: dict[str, Budget] = Field(default_factory=dict, description="Budgets by directory user id.")
    groups: dict[str, Budget] = Field(default_factory=dict, description="Budgets shared by a directory group.")

    @classmethod
    def load(cls, path: Path) -> BudgetFile:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise BudgetError(
                f"{path}: cannot read the budgets file ({exc.strerror}); fix CHAMBERLAIN_BUDGETS_PATH"
            ) from exc
        except yaml.YAMLError as exc:
            raise BudgetError(f"{path}: invalid YAML: {exc}") from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise BudgetError(f"{path}: {where}: {err['msg']}") from exc


@dataclass(frozen=True)
class BudgetVerdict:
    refusal: str | None = None
    warnings: tuple[str, ...] = ()


_LIMITS = (
    ("tokens_per_day", "day", "tokens", "today"),
    ("tokens_per_month", "month", "tokens", "this month"),
    ("usd_per_day", "day", "cost_usd", "today"),
    ("usd_per_month", "month", "cost_usd", "this month"),
)


def _amount(kind: str, value: float) -> str:
    return f"${value:,.2f}" if kind == "cost_usd" else f"{int(value):,} tokens"


def _resets_in(period: str, now: datetime) -> float:
    _, day_left = fixed_windows(now)
    if period == "day":
        return day_left
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)
    return (nxt - now).total_seconds()


@dataclass
class BudgetChecker:
    """Admits a turn against the settings' per-user limits and the budgets file."""

    usage: UsageStore
    limits: Budgets
    budgets: BudgetFile = field(default_factory=BudgetFile)
    warn_ratio: float = 0.8
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def check(self, principal: Principal) -> BudgetVerdict:
        now = self.clock()
        groups = sorted(g for g in principal.groups if g in self.budgets.groups)
        keys = [("user", principal.id), *(("group", g) for g in groups)]
        totals = self.usage.windows(keys, at=now)
        hour_left, day_left = fixed_windows(now)
        mine = {p: totals[("user", principal.id, p)] for p in ("hour", "day")}
        general = check_user(
            UsageCounters(
                requests_this_hour=mine["hour"].requests,
                requests_today=mine["day"].requests,
                tokens_this_hour=mine["hour"].tokens,
                tokens_today=mine["day"].tokens,
                cost_usd_today=mine["day"].cost_usd,
                hour_resets_in_s=hour_left,
                day_resets_in_s=day_left,
            ),
            self.limits,
        )
        if not general.allowed:
            return BudgetVerdict(refusal=general.message)
        warnings: list[str] = []
        scoped: list[tuple[str, str, Budget]] = []
        if principal.id in self.budgets.users:
            scoped.append(("your", "user", self.budgets.users[principal.id]))
        scoped += [(f"the {g} group's", g, self.budgets.groups[g]) for g in groups]
        for whose, key, budget in scoped:
            scope = "user" if key == "user" else "group"
            ident = principal.id if scope == "user" else key
            for limit_name, period, kind, when in _LIMITS:
                limit = getattr(budget, limit_name)
                if limit is None:
                    continue
                spent = getattr(totals.get((scope, ident, period), WindowTotals()), kind)
                if spent >= limit:
                    wait = humanize_duration(_resets_in(period, now))
                    return BudgetVerdict(
                        refusal=f"This would exceed {whose} model budget of {_amount(kind, limit)} {when} "
                        f"({_amount(kind, spent)} used); it resets in {wait}. Ask an administrator to raise it."
                    )
                if spent >= self.warn_ratio * limit:
                    warnings.append(
                        f"Note: {whose} model budget {when} is {spent / limit:.0%} used "
                        f"({_amount(kind, spent)} of {_amount(kind, limit)})."
                    )
        return BudgetVerdict(warnings=tuple(warnings))


def load_budgets(path: Path | None) -> BudgetFile:
    return BudgetFile.load(path) if path is not None else BudgetFile()


def budget_limits(values: Mapping[str, float | int | None]) -> Budgets:
    return Budgets(**values)  # type: ignore[arg-type]
