"""What routing returns (pydantic, frozen: serialisable for ``simulate --json`` and the tool) and its errors."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from policies.errors import PolicyError, PolicyFileError
from policies.stages import Stage

DEFAULT_POLICY = Path(__file__).parents[1] / "routing.yaml"

_CENT = Decimal("0.01")


# --------------------------------------------------------------------------------------------
# Errors


class RoutingFileError(PolicyFileError):
    """A routing policy file is invalid. ``problems`` holds ``(line, message)`` pairs."""

    def __init__(self, path: str, problems: Sequence[tuple[int, str]]) -> None:
        self.path = path
        self.problems = sorted(problems)
        super().__init__("\n".join(f"{path}:{line}: {msg}" for line, msg in self.problems))


class UnsupportedCurrency(PolicyError):
    """The request's currency is not in the policy's FX table; ask for another currency."""


# --------------------------------------------------------------------------------------------
# What routing returns (pydantic, frozen: serialisable for ``simulate --json`` and the tool)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Flag(_Out):
    """An exception an approver should see (or the reason a request was not auto-approved)."""

    code: str = Field(description="Stable machine code, e.g. 'missing_receipt'.")
    message: str = Field(description="Why, in words, e.g. 'receipt required above $25'.")
    rule: str | None = Field(default=None, description="Id of the rule that raised it, if any.")
    stage: str | None = Field(default=None, description="Stage it concerns (delegation, separation of duties).")


class FiredRule(_Out):
    id: str = Field(description="Rule id.")
    why: str = Field(description="The conditions that held, with the request's values.")
    effect: str = Field(description="What the rule did: auto-approve, requires ..., flag ...")


class RouteDecision(_Out):
    """The full, explained outcome of routing one request. Nothing is stored by routing."""

    policy_version: str
    kind: str
    requester: str = Field(description="Directory id of the requester.")
    auto_approved: bool
    stages: tuple[Stage, ...]
    flags: tuple[Flag, ...]
    fired: tuple[FiredRule, ...]
    default_route_used: bool
    amount_usd: Decimal | None = Field(description="Amount at stake in USD (static FX), if any.")
    facts: dict[str, Any] = Field(description="Every fact rules could test, as computed.")
    notes: tuple[str, ...] = Field(default=(), description="E.g. how the amount was converted to USD.")

    @property
    def approvers(self) -> frozenset[str]:
        return frozenset(a for s in self.stages for a in s.approvers)

    def flag_codes(self) -> list[str]:
        return [f.code for f in self.flags]


# --------------------------------------------------------------------------------------------
