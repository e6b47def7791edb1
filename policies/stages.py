"""One stage of an approval route: who may approve it, in which mode, and why.

The one ``Stage`` of the policy layer: the approver resolution (:mod:`policies.approvers`)
produces it, business routing (:mod:`policies.routing`) returns it in a ``RouteDecision`` and
the agent's writes (:func:`policies.access.approval_route`) get it too. What the app database
stores of a stage is ``connectors.appdb.StageSpec`` (connectors import nothing of ours).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from policies.directory import Directory


class Stage(BaseModel):
    """One step of the route: ``any`` one of the approvers, or ``all`` of them, must approve."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Stage name from the policy: manager, finance, cfo, ...")
    mode: Literal["any", "all"] = Field(default="any", description="'any': one approval suffices; 'all': everyone.")
    approvers: tuple[str, ...] = Field(description="Directory ids of the people who may approve.")
    reason: str = Field(default="", description="Which rules required this stage and why.")
    required_by: tuple[str, ...] = Field(default=(), description="Ids of the rules that required it.")
    covers: tuple[str, ...] = Field(
        default=(),
        description="Stage names this stage satisfies (itself; stages are never merged: one person, one stage).",
    )
    sla_hours: int | None = Field(default=None, description="Hours before reminding/escalating, from the policy.")
    escalated: bool = Field(default=False, description="True when approvers came from escalation, not the rule.")
    notes: tuple[str, ...] = Field(default=(), description="Delegation and separation-of-duties adjustments.")

    @model_validator(mode="before")
    @classmethod
    def _covers_itself(cls, data: Any) -> Any:
        # A stage always satisfies itself: callers that do not say so get ``(name,)``.
        if isinstance(data, dict) and not data.get("covers") and "name" in data:
            data = {**data, "covers": (data["name"],)}
        return data


SECOND_APPROVER_REASON = (
    "a sensitive argument did not come from the requester: a second, independent approver must agree"
)


def second_approver_stage(directory: Directory, requester_id: str, stages: Sequence[Stage]) -> Stage:
    """One more independent approver when a sensitive argument did not come from the requester
    (the graph's gate and a person's direct call, e.g. over MCP): the first person up the
    requester's chain who holds no earlier stage. Fails closed: with nobody left the stage has no
    approver and the request cannot be approved."""
    taken = {a for s in stages for a in s.approvers} | {requester_id}
    nxt = next((p.id for p in directory.chain_of(requester_id) if p.id not in taken), None)
    return Stage(name="second approver", approvers=(nxt,) if nxt else (), mode="any", reason=SECOND_APPROVER_REASON)


__all__ = ["Stage", "second_approver_stage"]
