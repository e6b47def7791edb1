"""How long an agent write may wait for a stage before its approvers are reminded (and, after
twice that, before it goes up a level): per tool and per stake, from ``write_sla:`` in
policies/access.yaml. Pure: the caller gives the tool and the amount at stake.

The stake of a write is the largest amount in USD it touches: ``amount`` (or ``amount_usd``)
of the record as it is now or as proposed, e.g. a deal's value. A write that names no amount
has stake 0. The first rule of the tool whose ``min_amount_usd`` the stake reaches wins; a tool
without rules, or without a matching rule, gets ``default_hours``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from policies.errors import PolicyFileError

DEFAULT_HOURS = 48.0
STAKE_FIELDS = ("amount", "amount_usd")


@dataclass(frozen=True)
class SlaRule:
    hours: float
    min_amount_usd: float = 0.0


@dataclass(frozen=True)
class WriteSla:
    default_hours: float = DEFAULT_HOURS
    tools: Mapping[str, tuple[SlaRule, ...]] = field(default_factory=dict)

    def hours_for(self, tool: str, stake_usd: float = 0.0) -> float:
        for rule in self.tools.get(tool, ()):
            if stake_usd >= rule.min_amount_usd:
                return rule.hours
        return self.default_hours

    def sla_for(self, tool: str, stake_usd: float = 0.0) -> dt.timedelta:
        return dt.timedelta(hours=self.hours_for(tool, stake_usd))

    @classmethod
    def from_raw(cls, raw: Any, where: str) -> WriteSla:
        """Parse the ``write_sla:`` mapping; every mistake names ``where`` and the key."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise PolicyFileError(f"{where}: write_sla must be a mapping with default_hours and tools")
        unknown = set(raw) - {"default_hours", "tools"}
        if unknown:
            raise PolicyFileError(f"{where}: write_sla has unknown keys {sorted(unknown)}; use default_hours, tools")
        default = _hours(raw.get("default_hours", DEFAULT_HOURS), f"{where}: write_sla.default_hours")
        tools: dict[str, tuple[SlaRule, ...]] = {}
        for tool, rules in (raw.get("tools") or {}).items():
            at = f"{where}: write_sla.tools.{tool}"
            if not isinstance(rules, list) or not rules:
                raise PolicyFileError(f"{at} must be a non-empty list of {{hours, min_amount_usd}} rules")
            parsed = []
            for i, rule in enumerate(rules):
                if not isinstance(rule, Mapping) or "hours" not in rule or set(rule) - {"hours", "min_amount_usd"}:
                    raise PolicyFileError(f"{at}[{i}] needs 'hours' (and optionally 'min_amount_usd'), nothing else")
                stake = rule.get("min_amount_usd", 0)
                if not isinstance(stake, int | float) or isinstance(stake, bool) or stake < 0:
                    raise PolicyFileError(f"{at}[{i}].min_amount_usd must be a number ≥ 0, not {stake!r}")
                parsed.append(SlaRule(_hours(rule["hours"], f"{at}[{i}].hours"), float(stake)))
            # Highest stake first: "first match wins" must not depend on the order people wrote.
            tools[str(tool)] = tuple(sorted(parsed, key=lambda r: -r.min_amount_usd))
        return cls(default, tools)


def _hours(value: Any, where: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise PolicyFileError(f"{where} must be a positive number of hours, not {value!r}")
    return float(value)


def stake_usd(*records: Mapping[str, Any]) -> float:
    """The largest amount named by any of ``records`` (current / proposed values, arguments)."""
    best = 0.0
    for rec in records:
        for key in STAKE_FIELDS:
            value = rec.get(key)
            if isinstance(value, str):
                try:
                    value = float(value.replace(",", ""))
                except ValueError:
                    continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                best = max(best, float(value))
    return best


__all__ = ["SlaRule", "WriteSla", "stake_usd"]
