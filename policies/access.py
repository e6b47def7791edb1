"""Role-based access to tools and the approval routes of the agent's writes.

Pure decisions: the caller supplies the principal, the tool's declared effect and facts about
the target; nothing here performs I/O beyond loading the YAML file it is given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from policies.approvers import StageNeed, resolve_route
from policies.defaults import DEFAULT_ACCESS
from policies.directory import Directory, Principal
from policies.errors import PolicyFileError
from policies.policy_file import read_policy_file
from policies.stages import Stage
from policies.write_sla import WriteSla


@dataclass(frozen=True)
class Decision:
    """What the gate decided about one proposed tool call."""

    kind: Literal["allow", "deny", "needs_approval"]
    reason: str
    stages: tuple[Stage, ...] = ()
    flags: tuple[str, ...] = ()

    @classmethod
    def allow(cls, reason: str = "allowed by role") -> Decision:
        return cls("allow", reason)

    @classmethod
    def deny(cls, reason: str) -> Decision:
        return cls("deny", reason)


@dataclass(frozen=True)
class AccessPolicy:
    version: str
    role_tools: Mapping[str, frozenset[str]]
    routes: Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]] = field(default_factory=dict)
    # Who approves when a stage empties and the asker's chain has nobody left (the CEO's writes).
    fallback_approvers: tuple[str, ...] = ("role:exec",)
    # Reminder / escalation times of the agent's writes, per tool and stake (policies/write_sla.py).
    write_sla: WriteSla = field(default_factory=WriteSla)

    @classmethod
    def load(cls, path: str | Path = DEFAULT_ACCESS) -> AccessPolicy:
        doc = read_policy_file(path, "access policy")
        raw = doc.raw if isinstance(doc.raw, dict) else {}
        roles = raw.get("roles")
        if not isinstance(roles, dict) or not roles:
            raise PolicyFileError(f"{doc.where('roles')}: expected a 'roles:' mapping of role -> {{tools: [...]}}")
        role_tools: dict[str, frozenset[str]] = {}
        for role, spec in roles.items():
            tools = (spec or {}).get("tools")
            if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
                raise PolicyFileError(f"{doc.where('roles', role)}: roles.{role}.tools must be a list of tool names")
            role_tools[str(role)] = frozenset(tools)
        routes: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {}
        for tool, stages in (raw.get("approvals") or {}).items():
            if not isinstance(stages, list) or not stages:
                raise PolicyFileError(
                    f"{doc.where('approvals', tool)}: approvals.{tool} must be a non-empty list of stages"
                )
            parsed = []
            for i, st in enumerate(stages):
                if not isinstance(st, dict) or "stage" not in st or not st.get("approvers"):
                    raise PolicyFileError(
                        f"{doc.where('approvals', tool, i)}: approvals.{tool}[{i}] needs 'stage' and 'approvers'"
                    )
                for spec_ in st["approvers"]:
                    _check_spec(str(spec_), f"{doc.where('approvals', tool, i)}: approvals.{tool}[{i}]")
                parsed.append((str(st["stage"]), tuple(str(a) for a in st["approvers"])))
            routes[str(tool)] = tuple(parsed)
        if "default" not in routes:
            raise PolicyFileError(
                f"{doc.where('approvals')}: approvals.default is required (the route for any other write)"
            )
        fallback = raw.get("fallback_approvers", ["role:exec"])
        if not isinstance(fallback, list) or not fallback:
            raise PolicyFileError(
                f"{doc.where('fallback_approvers')}: fallback_approvers must be a non-empty list of approver specs"
            )
        for spec_ in fallback:
            _check_spec(str(spec_), f"{doc.where('fallback_approvers')}: fallback_approvers")
        return cls(
            str(raw.get("version", "unversioned")),
            role_tools,
            routes,
            tuple(str(a) for a in fallback),
            WriteSla.from_raw(raw.get("write_sla"), str(path)),
        )

    def tools_for(self, principal: Principal) -> frozenset[str]:
        out: set[str] = set()
        for role in principal.roles:
            out |= self.role_tools.get(role, frozenset())
        return frozenset(out)

    def may_call(self, principal: Principal, tool: str) -> bool:
        return tool in self.tools_for(principal)


def _check_spec(spec: str, where: str) -> None:
    if spec in ("manager", "owner_manager") or spec.startswith(("role:", "person:", "department_head:")):
        return
    raise PolicyFileError(f"{where}: unknown approver spec {spec!r} (use manager, owner_manager, role:X, person:ID)")


def decide_call(
    principal: Principal,
    tool: str,
    effect: Literal["read", "write"] | None,
    policy: AccessPolicy,
) -> Decision:
    """RBAC for one call: unknown tools and tools outside the asker's roles are denied;
    reads are allowed; writes need approval (the route is computed by :func:`approval_route`)."""
    if effect is None:
        return Decision.deny(f"unknown tool {tool!r}; call only the tools you were given")
    if not policy.may_call(principal, tool):
        return Decision.deny(
            f"{principal.name} may not use {tool} (roles: {', '.join(sorted(principal.roles)) or 'none'}); "
            "tell the user this is outside their permissions"
        )
    if effect == "read":
        return Decision.allow()
    return Decision("needs_approval", "every write needs a person's approval")


def approval_route(
    principal: Principal,
    tool: str,
    facts: Mapping[str, Any],
    policy: AccessPolicy,
    directory: Directory,
    *,
    today: dt.date | None = None,
) -> tuple[Stage, ...]:
    """The approvers of an agent write, by the one approver resolution (policies/approvers.py):
    separation of duties, delegation, escalation up the asker's chain, then the fallback."""
    needs = [
        StageNeed(name=name, specs=specs, reason=f"{tool} is a write; {name} must approve")
        for name, specs in policy.routes.get(tool, policy.routes["default"])
    ]
    res = resolve_route(
        needs, principal, directory, today=today or dt.date.today(), fallback=policy.fallback_approvers, facts=facts
    )
    escalated = " (escalated: nobody independent of the asker held this stage)"
    return tuple(s.model_copy(update={"reason": s.reason + escalated}) if s.escalated else s for s in res.stages)


def may_change_deal(
    principal: Principal, owner_id: str | None, policy: AccessPolicy, directory: Directory
) -> str | None:
    """Why ``principal`` may not change a CRM deal owned by ``owner_id`` (None: they may).

    RBAC first (a role that may call ``crm_update_deal``), then ownership: the deal's owner, or
    someone the owner reports to."""
    if not policy.may_call(principal, "crm_update_deal"):
        return f"{principal.name} may not change CRM deals (roles: {', '.join(sorted(principal.roles)) or 'none'})"
    if owner_id is None:
        return "the deal has no owner in the directory, so nobody's right to change it can be checked"
    if owner_id != principal.id and not directory.is_above(principal.id, owner_id):
        owner = directory.find(owner_id)
        return (
            f"the deal belongs to {owner.name if owner else owner_id}; only its owner or their managers may change it"
        )
    return None


__all__ = ["DEFAULT_ACCESS", "AccessPolicy", "Decision", "Stage", "approval_route", "decide_call", "may_change_deal"]
