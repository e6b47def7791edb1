"""One stage of an approval route: who may approve it, in which mode, and why.

The one ``Stage`` of the policy layer: the approver resolution (:mod:`policies.approvers`)
produces it, business routing (:mod:`policies.routing`) returns it in a ``RouteDecision`` and
the agent's writes (:func:`policies.access.approval_route`) get it too. What the app database
stores of a stage is ``connectors.appdb.StageSpec`` (connectors import nothing of ours).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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


__all__ = ["Stage"]
