"""A chat model that plays a script: for tests, evals and the demo when no API key is set.

Each turn is an ``AIMessage`` (text and/or tool calls) or a callable ``(messages) -> AIMessage``
that can read what the model was sent (e.g. the latest tool result)::

    model = ScriptedChatModel.from_turns([
        tool_turn("search_documents", {"query": "hotel cap"}),
        lambda messages: text_turn(f"Found: {messages[-1].content}"),
    ])

The script position is shared by every copy made by :meth:`ScriptedChatModel.bind_tools`
(the agent binds tools on each call) and is safe across threads. ``invoke`` and ``stream``
deliver the same message, tool calls intact.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import InputTokenDetails, UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field

__all__ = [
    "SCRIPTED_MODEL_NAME",
    "ScriptExhausted",
    "ScriptState",
    "ScriptedChatModel",
    "Turn",
    "text_turn",
    "tool_turn",
]

SCRIPTED_MODEL_NAME = "scripted"

Turn = AIMessage | Callable[[list[BaseMessage]], AIMessage]

_ids = itertools.count(1)
_id_lock = threading.Lock()


def _next_id(prefix: str) -> str:
    with _id_lock:
        return f"{prefix}_{next(_ids):05d}"


class ScriptExhausted(RuntimeError):
    """The scripted model was called more times than it has turns."""


def tool_turn(name: str, args: Mapping[str, Any], id: str | None = None, text: str = "") -> AIMessage:
    """A turn that calls one tool (optionally with some text before the call)."""
    return AIMessage(
        content=text,
        tool_calls=[{"name": name, "args": dict(args), "id": id or _next_id("call_scripted"), "type": "tool_call"}],
    )


def text_turn(text: str) -> AIMessage:
    """A turn that answers with text only."""
    return AIMessage(content=text)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_text(part.get("text", "") if isinstance(part, dict) else part) for part in content)
    return str(content)


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class ScriptState:
    """Script position and call log, shared by a model and its tool-bound copies."""

    def __init__(self, turns: Sequence[Turn]) -> None:
        self.turns: list[Turn] = list(turns)
        self.position = 0
        self.calls: list[list[BaseMessage]] = []
        self.bound_tools: list[tuple[str, ...]] = []
        self.lock = threading.Lock()

    def next_turn(self, messages: list[BaseMessage]) -> Turn:
        with self.lock:
            self.calls.append(list(messages))
            if self.position >= len(self.turns):
                raise ScriptExhausted(
                    f"scripted model has no turn left: all {len(self.turns)} turns were played "
                    f"and it was called again (call #{len(self.calls)})"
                )
            turn = self.turns[self.position]
            self.position += 1
            return turn


class ScriptedChatModel(BaseChatModel):
    """Plays scripted turns in order; see the module docstring."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    state: ScriptState = Field(exclude=True)
    model_name: str = SCRIPTED_MODEL_NAME

    @classmethod
    def from_turns(cls, turns: Sequence[Turn], **kwargs: Any) -> ScriptedChatModel:
        return cls(state=ScriptState(turns), **kwargs)

    # --- inspection ---------------------------------------------------------------------------

    @property
    def calls(self) -> list[list[BaseMessage]]:
        """The message lists the model received, one per call (shared across bound copies)."""
        with self.state.lock:
            return list(self.state.calls)

    @property
    def played(self) -> int:
        with self.state.lock:
            return self.state.position

    @property
    def remaining(self) -> int:
        with self.state.lock:
            return len(self.state.turns) - self.state.position

    @property
    def bind_history(self) -> list[tuple[str, ...]]:
        """Tool names of each ``bind_tools`` call, in order."""
        with self.state.lock:
            return list(self.state.bound_tools)

    def add_turns(self, *turns: Turn) -> None:
        with self.state.lock:
            self.state.turns.extend(turns)

    # --- BaseChatModel ------------------------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "scripted-chat-model"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def bind_tools(
        self,
        tools: Sequence[Mapping[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: Any = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """This model with the tool names bound (a ``RunnableBinding``, as real chat models return:
        binding per call copies no model and re-serialises nothing), recorded in :attr:`bind_history`."""
        names = tuple(_tool_name(tool) for tool in tools)
        with self.state.lock:
            self.state.bound_tools.append(names)
        return self.bind(tools=names, tool_choice=tool_choice)

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        turn = self.state.next_turn(messages)
        reply = turn(list(messages)) if callable(turn) else turn
        if not isinstance(reply, AIMessage):
            raise TypeError(f"a scripted turn must produce an AIMessage, got {type(reply).__name__}")
        return reply

    def _usage(self, messages: list[BaseMessage], reply: AIMessage) -> UsageMetadata:
        prompt = sum(_estimate_tokens(_text(m.content)) for m in messages)
        output = _estimate_tokens(_text(reply.content) + "".join(json.dumps(tc["args"]) for tc in reply.tool_calls))
        return UsageMetadata(
            input_tokens=prompt,
            output_tokens=output,
            total_tokens=prompt + output,
            input_token_details=InputTokenDetails(cache_read=0, cache_creation=0),
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._reply(messages)
        message = AIMessage(
            content=reply.content,
            tool_calls=list(reply.tool_calls),
            id=reply.id or _next_id("msg_scripted"),
            usage_metadata=self._usage(messages, reply),
            response_metadata={
                "model_name": self.model_name,
                "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        reply = self._reply(messages)
        message_id = reply.id or _next_id("msg_scripted")
        text = _text(reply.content)
        chunks: list[AIMessageChunk] = [
            AIMessageChunk(content="", id=message_id, response_metadata={"model_name": self.model_name})
        ]
        for start in range(0, len(text), 16):
            chunks.append(AIMessageChunk(content=text[start : start + 16], id=message_id))
        for index, call in enumerate(reply.tool_calls):
            raw = json.dumps(call["args"])
            half = len(raw) // 2
            # Name and id first, the arguments in two pieces: like a real provider stream.
            chunks.append(
                AIMessageChunk(
                    content="",
                    id=message_id,
                    tool_call_chunks=[tool_call_chunk(name=call["name"], args=raw[:half], id=call["id"], index=index)],
                )
            )
            chunks.append(
                AIMessageChunk(
                    content="",
                    id=message_id,
                    tool_call_chunks=[tool_call_chunk(name=None, args=raw[half:], id=None, index=index)],
                )
            )
        chunks.append(
            AIMessageChunk(
                content="",
                id=message_id,
                usage_metadata=self._usage(messages, reply),
                response_metadata={"stop_reason": "tool_use" if reply.tool_calls else "end_turn"},
                chunk_position="last",
            )
        )
        for chunk in chunks:
            if run_manager is not None and isinstance(chunk.content, str) and chunk.content:
                run_manager.on_llm_new_token(chunk.content, chunk=ChatGenerationChunk(message=chunk))
            yield ChatGenerationChunk(message=chunk)


def _tool_name(tool: Any) -> str:
    if isinstance(tool, Mapping) and isinstance(tool.get("name"), str):
        return str(tool["name"])
    name = getattr(tool, "name", None)
    if isinstance(name, str):
        return name
    return str(convert_to_openai_tool(tool)["function"]["name"])
