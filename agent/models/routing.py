"""Which model answers which kind of call, and who takes over when it keeps failing.

A *route* is one configured model (provider + model id + its connection). Settings map each
task kind to a chain of routes: the first is the primary, the rest are fallbacks tried in order
when the one before fails with a retryable error after its own SDK retries::

    routes = ModelRoutes({"answer": [claude, local_llama], "summarize": [local_llama, claude]})
    routes.chain("summarize")      # [local_llama, claude]
    routes.chain("sql")            # no entry: the "answer" chain

Task kinds of the agent loop's calls (:func:`task_kind_for`): ``answer`` (plan the turn or
answer it), ``sql`` (the model is reading warehouse results or errors, i.e. writing SQL next),
``summarize`` (it is reading retrieved documents). ``classify`` is the kind for classifying a
request; the loop itself never makes such a call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, ToolMessage

from agent.models.chat import ModelConfig

__all__ = ["DEFAULT_KIND", "TASK_KINDS", "ModelRoute", "ModelRoutes", "task_kind_for"]

TASK_KINDS = ("answer", "sql", "summarize", "classify")
DEFAULT_KIND = "answer"

# Tool family → the kind of the model call that reads its results.
_FAMILY_KIND = {"analytics": "sql", "documents": "summarize"}


@dataclass(frozen=True)
class ModelRoute:
    """One model the planner can call: its chat model and (for messages) its configuration."""

    chat: BaseChatModel
    config: ModelConfig | None = None
    label: str = ""

    @property
    def name(self) -> str:
        """``openai:llama-3.1-8b`` (or the chat model's own name for injected models)."""
        if self.label:
            return self.label
        if self.config is not None:
            return self.config.label
        model = getattr(self.chat, "model_name", None) or getattr(self.chat, "model", None) or type(self.chat).__name__
        return str(model)


@dataclass(frozen=True)
class ModelRoutes:
    """Route chains by task kind; kinds without an entry use the ``answer`` chain."""

    chains: Mapping[str, Sequence[ModelRoute]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.chains) - set(TASK_KINDS))
        if unknown:
            raise ValueError(f"unknown task kind(s) {', '.join(unknown)}: use {', '.join(TASK_KINDS)}")
        if not self.chains.get(DEFAULT_KIND):
            raise ValueError(f"the {DEFAULT_KIND!r} task kind needs at least one model")

    @classmethod
    def single(cls, primary: BaseChatModel, fallback: BaseChatModel | None = None) -> ModelRoutes:
        chain = [ModelRoute(primary)] + ([ModelRoute(fallback)] if fallback is not None else [])
        return cls({DEFAULT_KIND: chain})

    def chain(self, kind: str) -> list[ModelRoute]:
        return list(self.chains.get(kind) or self.chains[DEFAULT_KIND])


def task_kind_for(messages: Sequence[BaseMessage], family_of: Callable[[str], str] | None = None) -> str:
    """The kind of the next call, from the tool results it will read (none: ``answer``)."""
    kinds: set[str] = set()
    for message in reversed(messages):
        if not isinstance(message, ToolMessage):
            break
        family = family_of(message.name or "") if family_of else ""
        kinds.add(_FAMILY_KIND.get(family, DEFAULT_KIND))
    if len(kinds) == 1:
        return kinds.pop()
    return DEFAULT_KIND  # nothing read, or a mix: the general model plans the next step
