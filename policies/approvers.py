"""The one approver resolution: a route's stages + the directory → who may decide each stage.

Used for every approval there is: the agent's writes (routes in ``access.yaml``) and business
requests (routes in ``routing.yaml``), so the same rules hold everywhere:

- approver specs: ``manager`` (the requester's), ``owner_manager`` (the manager of the target's
  owner, from ``facts["owner"]``), ``role:ROLE``, ``person:ID``, ``department_head:DEPT``;
- delegation: an approver away today is replaced by their delegate, unless the delegate is the
  requester, reports to them, is away too or already decides another stage;
- separation of duties: the requester, people who report to the requester, and anyone who
  already decides an earlier stage of the same route are removed. One person decides at most one
  stage; nobody approves their own request, also not through a delegate;
- a stage left with nobody goes to the nearest manager up the requester's chain who decides no
  other stage; when the chain runs out (everyone above already decides a stage, or nobody is
  above the requester), to the policy's fallback approvers who decide no other stage (for the
  top of the company, whom everyone reports to, a fallback approver may be their report); when
  there is nobody left at all, routing fails (:class:`RoutingError`) rather than letting one
  person fill two stages.

Pure: no I/O, no clock (``today`` is passed in).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from policies.directory import Directory, Principal
from policies.errors import PolicyError
from policies.stages import Stage


class RoutingError(PolicyError):
    """No eligible approver could be found for a stage (the directory cannot satisfy the policy)."""


@dataclass(frozen=True)
class StageNeed:
    """A stage a route requires, with the approver specs that fill it."""

    name: str
    specs: tuple[str, ...]
    mode: Literal["any", "all"] = "any"
    reason: str = ""
    required_by: tuple[str, ...] = ()
    sla_hours: int | None = None


@dataclass(frozen=True)
class Adjustment:
    """Something resolution changed that approvers should see (delegation, separation of duties)."""

    code: str
    message: str
    stage: str | None = None


@dataclass
class Resolution:
    stages: list[Stage]
    adjustments: list[Adjustment] = field(default_factory=list)


def department_heads(directory: Directory, department: str) -> list[Principal]:
    """People of ``department`` whose manager is outside it (or who have none)."""
    members = [p for p in directory if p.department == department]
    ids = {p.id for p in members}
    return [p for p in members if p.manager not in ids]


class ApproverResolver:
    """Resolves the stages of one route for one requester on one day."""

    def __init__(
        self,
        requester: Principal,
        directory: Directory,
        *,
        today: dt.date,
        fallback: Sequence[str] = (),
        facts: Mapping[str, Any] | None = None,
    ) -> None:
        self.requester = requester
        self.directory = directory
        self.today = today
        self.fallback = tuple(fallback)
        self.facts = dict(facts or {})
        self.adjustments: list[Adjustment] = []
        self.chain: list[Principal] = directory.chain_of(requester.id) if directory.find(requester.id) else []

    # -- people

    def label(self, pid: str) -> str:
        p = self.directory.find(pid)
        return p.name if p else pid

    def is_subordinate(self, pid: str) -> bool:
        """``pid`` reports (directly or not) to the requester."""
        return self.directory.find(pid) is not None and self.directory.is_above(self.requester.id, pid)

    def eligible(self, pid: str, used: Iterable[str] = ()) -> bool:
        return (
            self.directory.find(pid) is not None
            and pid != self.requester.id
            and not self.is_subordinate(pid)
            and pid not in set(used)
        )

    def present(self, pid: str, stage: str, used: Iterable[str] = ()) -> str | None:
        """``pid`` if present today, else their eligible delegate; None when neither can act."""
        p = self.directory.get(pid)
        if not p.is_away(self.today):
            return pid
        dp = self.directory.find(p.delegate) if p.delegate else None
        if dp is not None and self.eligible(dp.id, used) and not dp.is_away(self.today):
            msg = f"{p.name} is away until {p.away_until}; {dp.name} approves as their delegate"
            self.adjustments.append(Adjustment("delegated", msg, stage))
            return dp.id
        return None

    def specs_to_ids(self, specs: Iterable[str]) -> list[str]:
        out: list[str] = []
        for spec in specs:
            kind, _, arg = spec.partition(":")
            found: list[str]
            if kind == "manager":
                found = [self.requester.manager] if self.requester.manager else []
            elif kind == "owner_manager":
                owner = self.directory.find(str(self.facts.get("owner") or ""))
                found = [owner.manager] if owner and owner.manager else []
            elif kind == "role":
                found = [p.id for p in self.directory.with_role(arg)]
            elif kind == "person":
                found = [arg] if self.directory.find(arg) else []
            elif kind == "department_head":
                found = [p.id for p in department_heads(self.directory, arg)]
            else:
                raise RoutingError(f"unknown approver spec {spec!r}")
            out.extend(x for x in found if x not in out and self.directory.find(x) is not None)
        return out

    # -- stages

    def resolve(self, needs: Sequence[StageNeed]) -> Resolution:
        stages: list[Stage] = []
        used: set[str] = set()  # everyone who decides an earlier stage
        for need in needs:
            stage = self._stage(need, used)
            used.update(stage.approvers)
            stages.append(stage)
        return Resolution(stages, self.adjustments)

    def _stage(self, need: StageNeed, used: set[str]) -> Stage:
        notes: list[str] = []
        ids = self.specs_to_ids(need.specs)
        resolved_any = bool(ids)
        removed_self = self.requester.id in ids
        subs = [p for p in ids if p != self.requester.id and self.is_subordinate(p)]
        twice = [p for p in ids if p in used and p != self.requester.id and p not in subs]
        if removed_self:
            notes.append(f"{self.label(self.requester.id)} cannot approve their own request")
        if subs:
            verb = "reports" if len(subs) == 1 else "report"
            notes.append(
                f"{', '.join(self.label(s) for s in subs)} {verb} to {self.label(self.requester.id)}, "
                "so cannot approve this request"
            )
        if twice:
            notes.append(
                f"{', '.join(self.label(s) for s in twice)} already decides another stage; "
                "one person decides at most one stage"
            )
        final: list[str] = []
        stranded: list[str] = []
        for pid in (p for p in ids if self.eligible(p, used)):
            who = self.present(pid, need.name, [*used, *final])
            if who is None:
                stranded.append(pid)
            elif who not in final:
                if who != pid:
                    notes.append(self.adjustments[-1].message)
                final.append(who)
        if stranded:
            if need.mode == "any" and final:
                notes.append(
                    ", ".join(self.label(s) for s in stranded)
                    + " away with no eligible delegate; left out (others in the stage can approve)"
                )
            else:
                final.extend(s for s in stranded if s not in final)
                for s in stranded:
                    p = self.directory.get(s)
                    msg = (
                        f"{p.name} is away until {p.away_until} and has no eligible delegate; "
                        f"the {need.name} stage may wait for them or escalate after its SLA"
                    )
                    self.adjustments.append(Adjustment("approver_away", msg, need.name))
        if final:
            return Stage(
                name=need.name,
                mode=need.mode,
                approvers=tuple(final),
                reason=need.reason,
                required_by=need.required_by,
                sla_hours=need.sla_hours,
                notes=tuple(notes),
            )

        target, how = self._escalate(used, need.name)
        if not resolved_any and list(need.specs) == ["manager"]:
            cause = f"{self.label(self.requester.id)} has no manager"
        elif not resolved_any:
            cause = f"nobody in the directory matches {', '.join(need.specs)}"
        elif twice and not (removed_self or subs):
            cause = "its approvers already decide another stage"
        elif subs and not removed_self:
            cause = "its only approvers report to the requester"
        elif subs:
            cause = "its approvers are the requester and people who report to them"
        else:
            cause = "its only approver is the requester" + (" or decides another stage" if twice else "")
        msg = f"{need.name}: {cause}; escalated to {self.label(target)} ({how})"
        notes.append(msg)
        code = "separation_of_duties" if resolved_any else "no_approver"
        self.adjustments.append(Adjustment(code, msg, need.name))
        return Stage(
            name=need.name,
            mode="any",
            approvers=(target,),
            reason=need.reason,
            required_by=need.required_by,
            sla_hours=need.sla_hours,
            escalated=True,
            notes=tuple(notes),
        )

    def _escalate(self, used: set[str], stage: str) -> tuple[str, str]:
        """The nearest manager up the requester's chain who decides no other stage; then the
        policy's fallback approvers who decide no other stage. Never someone already used."""
        for p in self.chain:
            if self.eligible(p.id, used):
                who = self.present(p.id, stage, used)
                if who is not None:
                    return who, "next manager up the requester's chain"
        top = not self.chain  # everyone reports to the top: there, only self and used are excluded
        for pid in self.specs_to_ids(self.fallback):
            if self.eligible(pid, used) or (top and pid != self.requester.id and pid not in used):
                who = self.present(pid, stage, used)
                if who is not None:
                    why = "the requester's chain has nobody left who decides no other stage"
                    return who, f"fallback approver: {why}"
        raise RoutingError(
            f"no eligible approver for the {stage} stage of a request by {self.requester.id}: everyone "
            f"above them and every fallback approver ({', '.join(self.fallback) or 'none'}) is the "
            "requester, reports to them or already decides another stage"
        )


def resolve_route(
    needs: Sequence[StageNeed],
    requester: Principal,
    directory: Directory,
    *,
    today: dt.date,
    fallback: Sequence[str] = (),
    facts: Mapping[str, Any] | None = None,
) -> Resolution:
    """Resolve every stage of a route (see the module docstring for the rules)."""
    return ApproverResolver(requester, directory, today=today, fallback=fallback, facts=facts).resolve(needs)


def next_level(approvers: Sequence[str], requester: Principal, directory: Directory, *, today: dt.date) -> list[str]:
    """Who a stage escalates to when its SLA lapses: for each approver, the nearest manager above
    them who is not already an approver, not the requester and not someone reporting to the
    requester (an away manager is replaced by an eligible delegate). Empty at the top."""
    r = ApproverResolver(requester, directory, today=today)
    out: list[str] = []
    for pid in approvers:
        if directory.find(pid) is None:
            continue
        for boss in directory.chain_of(pid):
            if boss.id not in approvers and r.eligible(boss.id):
                target = r.present(boss.id, "") or boss.id
                if target not in out and target not in approvers and r.eligible(target):
                    out.append(target)
                break
    return out


__all__ = [
    "Adjustment",
    "ApproverResolver",
    "Resolution",
    "RoutingError",
    "Stage",
    "StageNeed",
    "department_heads",
    "next_level",
    "resolve_route",
]
