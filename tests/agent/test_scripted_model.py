"""The scripted chat model: same messages through invoke, stream and LangGraph's streaming."""

from __future__ import annotations

import asyncio
import operator
import threading
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableBinding
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, Field

from agent.models.chat import bind_tools_cached, invoke_model
from agent.models.scripted import ScriptedChatModel, ScriptExhausted, text_turn, tool_turn
from agent.models.usage import usage_from_message

TOOL_SPECS: list[dict[str, Any]] = [
    {"name": "crm_find", "description": "Find a company.", "input_schema": {"type": "object"}},
    {"name": "sql_query", "description": "Run analytics.", "input_schema": {"type": "object"}},
]

ARGS = {"question": "revenue by region", "filters": {"year": 2025, "regions": ["EMEA", "APAC"]}}


def two_calls() -> AIMessage:
    return AIMessage(
        content="Running two lookups.",
        tool_calls=[
            {"name": "crm_find", "args": {"name": "Acme Corporation"}, "id": "call_a", "type": "tool_call"},
            {"name": "sql_query", "args": ARGS, "id": "call_b", "type": "tool_call"},
        ],
    )


def test_invoke_returns_tool_calls_usage_and_model_name() -> None:
    model = ScriptedChatModel.from_turns([tool_turn("crm_find", {"name": "Acme"}, id="call_1", text="Looking.")])
    reply = model.invoke([HumanMessage("Who owns Acme?")])
    assert isinstance(reply, AIMessage)
    assert reply.text == "Looking."
    assert reply.tool_calls == [{"name": "crm_find", "args": {"name": "Acme"}, "id": "call_1", "type": "tool_call"}]
    assert reply.response_metadata["model_name"] == "scripted"
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] > 0 and reply.usage_metadata["output_tokens"] > 0
    assert reply.usage_metadata["input_token_details"] == {"cache_read": 0, "cache_creation": 0}


def test_stream_delivers_the_same_message_as_invoke() -> None:
    invoked = ScriptedChatModel.from_turns([two_calls()]).invoke([HumanMessage("q")])
    streamed_model = ScriptedChatModel.from_turns([two_calls()])
    chunks = list(streamed_model.stream([HumanMessage("q")]))
    assert len(chunks) > 3, "a real stream arrives in pieces"
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert isinstance(merged, AIMessageChunk)
    assert merged.text == invoked.text == "Running two lookups."
    assert merged.tool_calls == invoked.tool_calls
    assert merged.tool_calls[1]["args"] == ARGS
    assert not merged.invalid_tool_calls
    assert merged.usage_metadata == invoked.usage_metadata
    assert merged.response_metadata["model_name"] == "scripted"


def test_invoke_model_streaming_and_usage_cost_nothing() -> None:
    model = ScriptedChatModel.from_turns([text_turn("The hotel cap is $250 per night [1].")])
    deltas: list[str] = []
    reply = invoke_model(model, [HumanMessage("hotel cap?")], on_text=deltas.append)
    assert "".join(deltas) == "The hotel cap is $250 per night [1]."
    usage = usage_from_message(reply)
    assert usage.model == "scripted" and usage.cost_usd == 0.0 and usage.output_tokens > 0


def test_bind_tools_records_names_and_shares_the_script() -> None:
    class LookupArgs(BaseModel):
        """Look something up."""

        key: str = Field(description="what to look up")

    model = ScriptedChatModel.from_turns([text_turn("one"), text_turn("two"), text_turn("three")])
    first = bind_tools_cached(model, TOOL_SPECS)
    second = model.bind_tools([LookupArgs], tool_choice="any")
    assert first.invoke("a").text == "one"
    assert second.invoke("b").text == "two"
    assert model.invoke("c").text == "three"
    assert model.bind_history == [("crm_find", "sql_query"), ("LookupArgs",)]
    # Bound like a real chat model: a binding over the same model, not a copy of it.
    assert isinstance(first, RunnableBinding) and first.bound is model
    assert first.kwargs["tools"] == ("crm_find", "sql_query") and second.kwargs["tool_choice"] == "any"
    assert model.played == 3 and model.remaining == 0
    assert [[m.text for m in call] for call in model.calls] == [["a"], ["b"], ["c"]]


def test_callable_turn_reads_the_latest_tool_result() -> None:
    def answer(messages: list[BaseMessage]) -> AIMessage:
        last = messages[-1]
        assert isinstance(last, ToolMessage), f"expected a tool result, got {type(last).__name__}"
        return text_turn(f"Approval {last.content} is waiting for Dana.")

    model = ScriptedChatModel.from_turns([tool_turn("crm_update", {"stage": "won"}, id="call_9"), answer])
    call = model.invoke([HumanMessage("mark Acme won")])
    reply = model.invoke([HumanMessage("mark Acme won"), call, ToolMessage("apr_123", tool_call_id="call_9")])
    assert reply.text == "Approval apr_123 is waiting for Dana."


def test_exhausted_script_names_how_many_turns_were_played() -> None:
    model = ScriptedChatModel.from_turns([text_turn("only one")])
    model.invoke("first")
    with pytest.raises(ScriptExhausted, match="all 1 turns were played"):
        model.invoke("second")
    with pytest.raises(ScriptExhausted):
        list(model.stream("third"))


def test_each_turn_is_played_once_across_threads() -> None:
    count = 60
    model = ScriptedChatModel.from_turns([text_turn(str(i)) for i in range(count)])
    bound = model.bind_tools(TOOL_SPECS)
    seen: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(count // 6):
            text = bound.invoke("go").text
            with lock:
                seen.append(text)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen, key=int) == [str(i) for i in range(count)]
    assert len(model.calls) == count


def test_async_invoke_plays_the_script() -> None:
    model = ScriptedChatModel.from_turns([tool_turn("crm_find", {"name": "Acme"}, id="c1"), text_turn("done")])

    async def run() -> list[AIMessage]:
        return [await model.ainvoke("a"), await model.ainvoke("b")]

    first, second = asyncio.run(run())
    assert first.tool_calls[0]["id"] == "c1"
    assert second.text == "done"


class _State(TypedDict):
    messages: Annotated[list[BaseMessage], operator.add]


def test_langgraph_message_streaming_keeps_tool_calls_intact() -> None:
    # stream_mode="messages" makes invoke() run the model's _stream under the hood.
    model = ScriptedChatModel.from_turns([two_calls()])
    bound = bind_tools_cached(model, TOOL_SPECS)

    def call_model(state: _State) -> dict[str, list[BaseMessage]]:
        return {"messages": [bound.invoke(state["messages"])]}

    graph = StateGraph(_State)
    graph.add_node("call_model", call_model)
    graph.add_edge(START, "call_model")
    graph.add_edge("call_model", END)
    app = graph.compile()

    streamed: list[AIMessageChunk] = []
    final: dict[str, Any] = {}
    parts: list[Any] = list(app.stream({"messages": [HumanMessage("q")]}, stream_mode=["messages", "values"]))
    for mode, payload in parts:
        if mode == "messages":
            chunk, _meta = payload
            streamed.append(chunk)
        else:
            final = payload
    assert len(streamed) > 3
    assert "".join(c.text for c in streamed) == "Running two lookups."
    reply = final["messages"][-1]
    assert isinstance(reply, AIMessage)
    assert [tc["name"] for tc in reply.tool_calls] == ["crm_find", "sql_query"]
    assert reply.tool_calls[1]["args"] == ARGS
    assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] > 0
