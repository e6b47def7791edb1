"""The conversation graph: its routing and builder. The state is in ``state.py``, the nodes beside
it: ``call_model`` and ``respond`` in ``turn.py``, ``gate`` in ``gate.py``, ``approve`` and
``execute`` in ``execute.py``.

    START → call_model ─(tool calls)→ gate ─(needs approval)→ approve ─→ execute ─→ call_model
                 │                      └─(all decided: reads ran here)──────────→ call_model
                 ├─(answer: output guard ran here)→ END
                 └─(refused / budget / error)→ respond → END

A turn costs as few graph steps (checkpoints) as a bare ReAct agent: ``call_model`` admits the
turn (input guard, budgets) when it opens it, and guards the answer when the model gives one;
``gate`` runs the calls it allowed in the same step when none needs a person. Each node's audit
entries and usage records commit in one transaction, and a read-only turn's steps hand theirs on
to the step that ends it: a plain read turn commits twice, at its admission and at its end
(agent/graph/step_writes.py).

Side effects never run in a node that interrupts: ``gate`` proposes every write on the one approval
lifecycle (agent/approvals.py; idempotent on thread + tool-call id), business requests included;
``approve`` only waits (for agent writes; a business request is filed and decided over days);
``execute`` hands each approved write to the lifecycle's one executor (compare-and-set claim,
the approval's idempotency key, the target re-checked) and reports its stored outcome. Writes
never run in ``gate``: a write is always ``needs_approval`` or denied there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent.graph import step_writes
from agent.graph.deps import Deps
from agent.graph.execute import approve, execute, still_pending
from agent.graph.gate import gate
from agent.graph.state import AgentState
from agent.graph.turn import call_model, respond

# -- routing -------------------------------------------------------------------------------------


def _after_model(state: AgentState) -> str:
    if state.get("error"):
        return "respond"
    last = state["messages"][-1]
    if isinstance(last, AIMessage) and last.tool_calls:
        return "gate"
    return "respond" if state.get("final") is None else END  # answered: guarded in call_model


def _after_gate(state: AgentState) -> str:
    gated = state.get("gated", [])
    if any(g["decision"] == "needs_approval" for g in gated):
        return "approve"
    # The calls ran in gate (they left ``gated`` empty); a checkpoint written by an older
    # version, stopped between gate and execute, still holds them: execute runs them.
    return "execute" if gated else "call_model"


def _after_approve(state: AgentState, runtime: Runtime[Deps]) -> str:
    # Resumed early (a stage decided, others pending): wait again, in a fresh interrupt.
    return "approve" if still_pending(state, runtime.context) else "execute"


def _changes_only(node: Callable[[AgentState, Runtime[Deps]], dict[str, Any]]) -> Any:
    """A node that returns only the keys it changes: a key written with the value it already has
    is still a checkpoint write (a row and a serialised value per key per step). Messages are
    always kept (their reducer appends)."""

    @functools.wraps(node)
    def run(state: AgentState, runtime: Runtime[Deps]) -> dict[str, Any]:
        update = node(state, runtime)
        return {k: v for k, v in update.items() if k == "messages" or k not in state or state[k] != v}  # type: ignore[literal-required]

    return run


def _then(state: AgentState, update: dict[str, Any]) -> AgentState:
    """The state after ``update`` as routing sees it (only the last message matters there)."""
    return {**state, **update, "messages": [*state.get("messages", []), *update.get("messages", [])]}  # type: ignore[typeddict-item]


def _to_gate(state: AgentState, update: dict[str, Any]) -> bool:
    return _after_model(_then(state, update)) == "gate"


def _reads_done(state: AgentState, update: dict[str, Any]) -> bool:
    return _after_gate(_then(state, update)) == "call_model"


def build_graph(checkpointer: Any = None) -> Any:
    g = StateGraph(AgentState, context_schema=Deps)

    # Each node's audit entries and usage records commit in one transaction; from one read-only
    # step to the next (the model asks for reads; the gate ran them) they ride in the state and
    # the step that ends the turn commits them all (agent/graph/step_writes.py).
    def stepped(node: Any, hands_on: Any = None) -> Any:
        return _changes_only(step_writes.in_one_transaction(lambda rt: rt.context.audit, hands_on)(node))

    g.add_node("call_model", stepped(call_model, _to_gate))
    g.add_node("gate", stepped(gate, _reads_done))
    g.add_node("approve", approve)
    g.add_node("execute", stepped(execute))
    g.add_node("respond", stepped(respond))
    g.add_edge(START, "call_model")
    g.add_conditional_edges("call_model", _after_model, ["gate", "respond", END])
    g.add_conditional_edges("gate", _after_gate, ["approve", "execute", "call_model"])
    g.add_conditional_edges("approve", _after_approve, ["approve", "execute"])
    g.add_edge("execute", "call_model")
    g.add_edge("respond", END)
    return g.compile(checkpointer=checkpointer)


__all__ = ["AgentState", "build_graph"]
