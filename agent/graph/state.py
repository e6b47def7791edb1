"""The conversation graph's state: what a turn carries between nodes, and each gated tool call."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.config import get_stream_writer
from langgraph.graph.message import add_messages

from agent.graph.deps import Deps
from policies.directory import Principal

TURN_CONTEXT_KEY = "chamberlain_turn_context"
"""``additional_kwargs`` key of the person's message that opened a turn: the context the model
was given for that turn (who asks, the date, the untrusted-data boundary), kept with the message
so every later call sends the same bytes there and reads them from the prompt cache
(agent/graph/planner.py). No model API sends ``additional_kwargs`` of a person's message."""


class GatedCall(TypedDict, total=False):
    id: str
    name: str
    args: dict[str, Any]
    decision: Literal["allow", "deny", "needs_approval"]
    reason: str
    approval_id: str
    reason_untrusted: bool
    waits: bool  # the turn waits for this approval (agent writes); business requests do not
    filed_before: bool  # a business request identical to one filed earlier in this conversation
    provenance: list[str]  # sensitive arguments the asker did not supply, with their origin
    provenance_notes: list[str]  # accepted values the asker did not type: computed or picked, and how
    second_approver: bool
    suspect: bool  # a sensitive argument did not come from the requester
    not_asked: bool  # the tool declares verbs and none of them was asked for (policies.intent)


class AgentState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    user_id: str
    thread_id: str
    turn_id: str
    boundary: str  # spotlight boundary for this turn's untrusted data
    steps: int  # model calls this turn
    tool_calls: int  # tool calls this turn
    conversation_steps: int  # model calls in the whole conversation
    conversation_tool_calls: int  # tool calls in the whole conversation
    gated: list[GatedCall]
    untrusted_sources: list[str]  # every untrusted source read in this conversation
    error: str | None  # a user-facing failure that ended the turn
    final: str | None  # the answer text shown to the user
    citations: list[dict[str, Any]]  # what the answer's [n] markers point at (from the output guard)
    # This turn's audit entries and usage records that read-only steps handed on, not yet
    # committed (prepared: redacted and serialised); the step that ends the turn commits them.
    unlogged: dict[str, Any] | None


_EVENTS: ContextVar[Callable[[dict[str, Any]], None] | None] = ContextVar("chamberlain_graph_events", default=None)


@contextlib.contextmanager
def events_to(sink: Callable[[dict[str, Any]], None]) -> Iterator[None]:
    """Hand what the nodes :func:`emit` (progress, approval requests) to ``sink`` directly, in
    the node's own thread. The runtime streams without LangGraph's "custom" mode: with it, every
    step's node runs in a worker thread while another thread waits for its output — two thread
    hand-offs per step, which a bare agent does not pay."""
    token = _EVENTS.set(sink)
    try:
        yield
    finally:
        _EVENTS.reset(token)


def emit(event: Mapping[str, Any]) -> None:
    sink = _EVENTS.get()
    if sink is not None:
        sink(dict(event))
        return
    with contextlib.suppress(RuntimeError):  # not inside a streaming run
        get_stream_writer()(dict(event))


def principal_of(state: AgentState, deps: Deps) -> Principal:
    return deps.directory.get(state["user_id"])
