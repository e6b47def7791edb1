"""Run-time dependencies of the graph, passed as LangGraph context (never globals)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from langchain_core.messages import AIMessage, BaseMessage

from agent.approvals import Lifecycle
from agent.notify import Notifier, NullNotifier
from connectors.appdb import ApprovalStore, AuditLog, UsageStore
from policies.access import AccessPolicy
from policies.directory import Directory
from policies.prompt_leak import PromptLeakGuard
from tools.base import ToolRegistry


class Planner(Protocol):
    """One model call: system prompt + conversation + tool definitions → the model's turn."""

    def __call__(
        self, *, system: str, messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]]
    ) -> AIMessage: ...


@dataclass(frozen=True)
class Limits:
    max_steps: int = 8  # model calls per turn
    max_tool_calls: int = 24  # tool calls per turn
    max_writes_per_turn: int = 5  # writes one model step may propose (each becomes an approval)
    max_input_chars: int = 8000
    max_steps_per_conversation: int = 40
    max_tool_calls_per_conversation: int = 100
    approval_wait_s: float = 10.0  # how long a second worker waits for a write another one runs
    approval_ttl_hours: float = 72.0  # an approval request expires after this long


@dataclass(frozen=True)
class Deps:
    registry: ToolRegistry
    access: AccessPolicy
    directory: Directory
    approvals: ApprovalStore
    audit: AuditLog
    usage: UsageStore
    planner: Planner
    lifecycle: Lifecycle  # the one approval lifecycle (propose, decide, execute)
    notifier: Notifier = field(default_factory=NullNotifier)
    limits: Limits = field(default_factory=Limits)
    artifacts_dir: Path | None = None
    # Admits a turn against the asker's budgets and counts it; returns a refusal message or None.
    admit_request: Callable[[str], str | None] | None = None
    # Withholds verbatim copies of the system prompt from answers (policies.prompt_leak).
    leak_guard: PromptLeakGuard | None = None
    on_model_usage: Callable[[str, str, AIMessage], None] | None = None
