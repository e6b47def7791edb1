"""From the stages rules require to the people who approve them (via ``policies/approvers.py``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

from policies.approvers import StageNeed, next_level, resolve_route
from policies.directory import Directory, Principal
from policies.routing.model import Flag, Stage

if TYPE_CHECKING:  # policy.py imports this module
    from policies.routing.policy import RoutingPolicy

# --------------------------------------------------------------------------------------------
# Approver resolution lives in policies/approvers.py (one resolution for every route).


def _resolve_stages(
    policy: RoutingPolicy,
    needs: Mapping[str, list[tuple[str, str, tuple[str, ...] | None]]],
    requester: Principal,
    directory: Directory,
    today: dt.date,
    flags: list[Flag],
) -> list[Stage]:
    wanted: list[StageNeed] = []
    for sdef in policy.stages:
        if sdef.name not in needs:
            continue
        reqs = needs[sdef.name]
        specs: list[str] = []
        for _, _, override in reqs:
            specs.extend(s for s in (override or sdef.approvers) if s not in specs)
        wanted.append(
            StageNeed(
                name=sdef.name,
                specs=tuple(specs),
                mode=sdef.mode,
                reason="; ".join(dict.fromkeys(f"{r} ({why})" if why else r for r, why, _ in reqs)),
                required_by=tuple(dict.fromkeys(r for r, _, _ in reqs)),
                sla_hours=sdef.sla_hours,
            )
        )
    res = resolve_route(wanted, requester, directory, today=today, fallback=policy.fallback_approvers)
    flags.extend(Flag(code=a.code, message=a.message, stage=a.stage) for a in res.adjustments)
    return list(res.stages)


def escalate_stage(stage: Stage, requester: Principal, directory: Directory, *, today: dt.date) -> Stage | None:
    """``stage`` one level up (for SLA escalation): any one of the original approvers or the
    next level may approve. ``None`` when nobody is above the current approvers."""
    above = next_level(stage.approvers, requester, directory, today=today)
    if not above:
        return None
    names = ", ".join((directory.find(a) or Principal(a, a, "")).name for a in above)
    return stage.model_copy(
        update={
            "mode": "any",
            "approvers": (*stage.approvers, *above),
            "escalated": True,
            "notes": (*stage.notes, f"SLA lapsed: escalated to {names}"),
        }
    )
