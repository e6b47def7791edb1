"""What a tool is: a name, a model-facing description, pydantic arguments and result, and a
declared effect (``read`` or ``write``).

Tool families are built by factories that close over their connectors, e.g.
``crm_tools(crm) -> list[Tool]``; the agent puts them in one :class:`ToolRegistry`.

A tool function has the signature ``fn(args: ArgsModel, ctx: ToolContext) -> ResultModel``.
Write tools also provide ``plan(args, ctx) -> WritePlan``: a side-effect-free read of the target
that says what will change (current vs proposed) and the target's version, so that an approval
binds to exactly that.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar, get_type_hints

from pydantic import BaseModel, ConfigDict

from policies.directory import Principal


class Effect(StrEnum):
    READ = "read"
    WRITE = "write"


class ToolArgs(BaseModel):
    """Base for tool argument models: unknown fields are an error the model can read."""

    model_config = ConfigDict(extra="forbid")


class ToolResult(BaseModel):
    """Base for tool result models."""

    model_config = ConfigDict(extra="forbid")

    def for_model(self) -> str:
        """The result as the model reads it: JSON of the fields that are set. A result type may
        render itself more compactly (the structured result stays the tool message's artifact,
        for the policy layer and the output guard)."""
        return self.model_dump_json(exclude_none=True)


@dataclass(frozen=True)
class ToolContext:
    """Run-time facts a tool may use. Built per call by the agent; never global."""

    principal: Principal
    thread_id: str = ""
    # Set for writes: derived from the approval, so a retried execution reuses it.
    idempotency_key: str | None = None
    # Where a tool may write files for the user (CSV exports, charts). None: no files.
    artifacts_dir: Path | None = None
    # Extra, tool-family-specific facts (e.g. the asker's warehouse allow-list).
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WritePlan:
    """What a write will do, shown to the approver and bound into the approval's hash."""

    target: str  # "deal 123", "contact 42", ...
    summary: str  # one line: "Move deal 'Acme renewal' from Negotiation to Closed won"
    current: Mapping[str, Any] = field(default_factory=dict)
    proposed: Mapping[str, Any] = field(default_factory=dict)
    # Opaque version of the target as read now (e.g. updatedAt); None for creates.
    target_version: str | None = None
    # Hints for routing (e.g. {"owner": "u_alice", "amount": 12000}); not shown verbatim.
    facts: Mapping[str, Any] = field(default_factory=dict)
    # A business request's complete proposal (agent.approvals.Proposal: its own route, kind and
    # follow-up), built by the workflow layer; None for an agent write routed by access.yaml.
    proposal: Any = None
    # Called once with the stored approval record when the proposal was filed (audit hooks).
    on_proposed: Callable[[Any], None] | None = None


@functools.cache
def _json_schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


A = TypeVar("A", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class Tool(Generic[A, R]):
    name: str
    description: str
    args_model: type[A]
    result_model: type[R]
    effect: Effect
    fn: Callable[[A, ToolContext], R]
    # Human-readable progress line, e.g. "searching the CRM…".
    progress: str = ""
    # True when the result carries content written by someone other than the asker
    # (documents, CRM free text, SQL values): it is wrapped as untrusted data.
    untrusted_output: bool = False
    plan: Callable[[A, ToolContext], WritePlan] | None = None
    family: str = ""
    # Writes: argument names whose value must come from the asker (recipient, amount, IBAN,
    # URL, share target); see policies.provenance. What happens when one does not:
    # "flag" (shown on the card), "second_approver" or "deny".
    sensitive: tuple[str, ...] = ()
    on_untrusted_sensitive: str = "flag"
    # Writes: the words an asker uses to ask for this action ("delete", "remove"); a card none
    # of them asks for is shown as not asked for (policies.intent). Empty: not checked.
    verbs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.effect is Effect.WRITE and self.plan is None:
            raise TypeError(f"write tool {self.name!r} must provide plan(args, ctx)")
        if not self.description.strip():
            raise TypeError(f"tool {self.name!r} needs a description (its docstring)")

    def parse_args(self, raw: Mapping[str, Any]) -> A:
        """Validate raw model-supplied arguments (raises pydantic.ValidationError)."""
        return self.args_model.model_validate(dict(raw))

    def input_schema(self) -> dict[str, Any]:
        # Generated once per model class (pydantic rebuilds it on every call, ~1 ms a tool);
        # a copy, so a caller trimming it for the model cannot change the next one.
        return copy.deepcopy(_json_schema(self.args_model))

    def spec(self) -> dict[str, Any]:
        """Anthropic tool definition: name, description, input_schema."""
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema()}


def tool(
    *,
    effect: Effect | str,
    progress: str = "",
    untrusted_output: bool = False,
    plan: Callable[[Any, ToolContext], WritePlan] | None = None,
    family: str = "",
    name: str | None = None,
) -> Callable[[Callable[[A, ToolContext], R]], Tool[A, R]]:
    """Build a :class:`Tool` from a typed function; its docstring is the model's description.

    >>> @tool(effect="read", progress="looking up the weather…")
    ... def get_weather(args: WeatherArgs, ctx: ToolContext) -> WeatherResult:
    ...     '''Current weather for a city.'''
    """

    def wrap(fn: Callable[[A, ToolContext], R]) -> Tool[A, R]:
        hints = get_type_hints(fn)
        params = list(inspect.signature(fn).parameters)
        if len(params) != 2:
            raise TypeError(f"{fn.__name__}: a tool takes (args, ctx)")
        args_model = hints[params[0]]
        result_model = hints["return"]
        return Tool(
            name=name or fn.__name__,
            description=inspect.cleandoc(fn.__doc__ or ""),
            args_model=args_model,
            result_model=result_model,
            effect=Effect(effect),
            fn=fn,
            progress=progress,
            untrusted_output=untrusted_output,
            plan=plan,
            family=family,
        )

    return wrap


class ToolRegistry:
    """The tools the model can see, by name."""

    def __init__(self, tools: Iterable[Tool[Any, Any]] = ()) -> None:
        self._tools: dict[str, Tool[Any, Any]] = {}
        for t in tools:
            self.add(t)

    def add(self, t: Tool[Any, Any]) -> None:
        if t.name in self._tools:
            raise ValueError(f"tool {t.name!r} registered twice")
        self._tools[t.name] = t

    def get(self, name: str) -> Tool[Any, Any] | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Tool definitions in a stable order (stable order keeps the prompt cache warm)."""
        chosen = sorted(self._tools) if names is None else sorted(set(names) & set(self._tools))
        return [self._tools[n].spec() for n in chosen]

    def __iter__(self) -> Iterator[Tool[Any, Any]]:
        return iter(self._tools[n] for n in sorted(self._tools))

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools


__all__ = [
    "Effect",
    "Tool",
    "ToolArgs",
    "ToolContext",
    "ToolRegistry",
    "ToolResult",
    "WritePlan",
    "tool",
]
