"""A scripted model behind a provider's real wire protocol.

The scripted turns (``ScriptedChatModel``) are played by a local fake server — the fake OpenAI
Chat Completions API or the fake Anthropic Messages API — so everything between the graph and
the "model" is the real stack: langchain-openai / langchain-anthropic, the openai / anthropic
SDK, HTTP, JSON or SSE. Each request body is read back into LangChain messages (what the model
was sent), the next scripted turn is computed from them, and the turn goes back on the wire::

    with wire_model("openai", ScriptedChatModel.from_turns(turns)) as chat:
        build_runtime(settings, registry=..., chat_model=chat)

    with scripted_openai_server(turns) as server:   # or through settings, as a user would
        Settings(model_provider="openai", model_base_url=server.url, model_api_key=server.api_key)

Tool results travel as text, so a turn that reads ``ToolMessage.artifact`` gets it back from
the JSON inside the result's untrusted-data block (how the runtime wrote it).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from agent.fakes.anthropic_api import FakeAnthropicServer, Reply, ToolUse
from agent.fakes.openai_api import Completion, FakeOpenAIServer, ToolCall
from agent.models.chat.caching import turn_context_of
from agent.models.scripted import ScriptedChatModel, Turn

__all__ = [
    "PROVIDERS",
    "anthropic_messages",
    "openai_messages",
    "scripted_anthropic_server",
    "scripted_openai_server",
    "wire_model",
]

PROVIDERS = ("scripted", "anthropic", "openai")
WIRE_MODELS = {"anthropic": "claude-sonnet-4-6", "openai": "gpt-fake-1"}

_UNTRUSTED = re.compile(r"^<untrusted-data [^>]*>\n?(.*)\n?</untrusted-data [^>]*>$", re.S)


def _artifact(text: str) -> Any:
    match = _UNTRUSTED.match(text.strip())
    inner = match.group(1) if match else text
    try:
        return json.loads(inner)
    except ValueError:
        return None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) if isinstance(b, Mapping) else str(b) for b in content)
    return "" if content is None else str(content)


def openai_messages(body: Mapping[str, Any]) -> list[BaseMessage]:
    """The LangChain messages of a Chat Completions request body."""
    out: list[BaseMessage] = []
    names: dict[str, str] = {}
    for m in body.get("messages") or []:
        role = m.get("role")
        if role in ("system", "developer"):
            out.append(SystemMessage(content=_text(m.get("content"))))
        elif role == "user":
            out.append(HumanMessage(content=_text(m.get("content"))))
        elif role == "assistant":
            calls = []
            for c in m.get("tool_calls") or []:
                fn = c.get("function") or {}
                names[c.get("id", "")] = fn.get("name", "")
                calls.append(
                    {"name": fn.get("name", ""), "args": json.loads(fn.get("arguments") or "{}"), "id": c.get("id")}
                )
            out.append(AIMessage(content=_text(m.get("content")), tool_calls=calls))
        elif role == "tool":
            text = _text(m.get("content"))
            call_id = m.get("tool_call_id", "")
            out.append(
                ToolMessage(content=text, tool_call_id=call_id, name=names.get(call_id), artifact=_artifact(text))
            )
    return out


def anthropic_messages(body: Mapping[str, Any]) -> list[BaseMessage]:
    """The LangChain messages of a Messages API request body."""
    out: list[BaseMessage] = []
    system = body.get("system")
    if system:
        out.append(SystemMessage(content=_text(system)))
    names: dict[str, str] = {}
    latest: str | None = None  # the newest turn context
    for m in body.get("messages") or []:
        content = m.get("content")
        blocks: list[dict[str, Any]] = (
            [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
        )
        if m.get("role") == "assistant":
            text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
            calls = []
            for b in blocks:
                if b.get("type") == "tool_use":
                    names[b["id"]] = b["name"]
                    calls.append({"name": b["name"], "args": dict(b.get("input") or {}), "id": b["id"]})
            out.append(AIMessage(content=text, tool_calls=calls))
            continue
        texts = []
        for b in blocks:
            if b.get("type") == "tool_result":
                text = _text(b.get("content"))
                call_id = b.get("tool_use_id", "")
                status = "error" if b.get("is_error") else "success"
                out.append(
                    ToolMessage(
                        content=text,
                        tool_call_id=call_id,
                        name=names.get(call_id),
                        status=status,
                        artifact=_artifact(text),
                    )
                )
            elif b.get("type") == "text":
                context = turn_context_of(b.get("text", ""))
                if context is None:
                    texts.append(b.get("text", ""))
                else:
                    # Each turn's context ends the message that opened the turn on the wire;
                    # a scripted model sees the newest one where the other providers send it:
                    # in the system.
                    latest = context
        if texts:
            out.append(HumanMessage(content="".join(texts)))
    if latest is not None:
        out.insert(1 if system else 0, SystemMessage(content=latest))
    return out


def _play(model: ScriptedChatModel, messages: list[BaseMessage]) -> AIMessage:
    turn: Turn = model.state.next_turn(messages)
    return turn(messages) if callable(turn) else turn


def openai_responder(model: ScriptedChatModel) -> Any:
    def respond(body: Mapping[str, Any]) -> Completion:
        ai = _play(model, openai_messages(body))
        calls = [ToolCall(c["name"], dict(c["args"]), id=c.get("id") or None) for c in ai.tool_calls]
        return Completion(text=_text(ai.content), tool_calls=calls)

    return respond


_PENDING: dict[int, AIMessage] = {}
"""Per scripted model (by id): the turn held back while the wire first loads its deferred tools."""


def _anthropic_reply(model: ScriptedChatModel, body: Mapping[str, Any]) -> Reply:
    """The model's next scripted turn; if it calls a deferred tool nothing loaded yet, first a
    ``load_tools`` call for that tool's family, as Claude must (it cannot call a tool whose
    definition it was never shown), then the held-back turn on the next request."""
    from agent.fakes.anthropic_api import unloaded_calls

    ai = _PENDING.pop(id(model), None) or _play(model, anthropic_messages(body))
    unloaded = unloaded_calls(body, [c["name"] for c in ai.tool_calls])
    families = _families(body, unloaded)
    if families:
        _PENDING[id(model)] = ai
        return Reply(tool_uses=[ToolUse("load_tools", {"families": families})])
    uses = [ToolUse(c["name"], dict(c["args"]), id=c.get("id") or None) for c in ai.tool_calls]
    return Reply(text=_text(ai.content), tool_uses=uses)


def _families(body: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    """The load_tools families (from its description's "family: tool, tool; …") holding ``names``."""
    spec = next((t for t in body.get("tools") or [] if t.get("name") == "load_tools"), None)
    if spec is None or not names:
        return []
    listing = str(spec.get("description", "")).split("): ", 1)[-1].rstrip(".")
    out = []
    for part in listing.split("; "):
        family, _, tools = part.partition(": ")
        if set(tools.split(", ")) & set(names):
            out.append(family)
    return out


def anthropic_responder(model: ScriptedChatModel) -> Any:
    def respond(body: Mapping[str, Any]) -> Reply:
        return _anthropic_reply(model, body)

    return respond


def _as_model(turns: ScriptedChatModel | Sequence[Turn]) -> ScriptedChatModel:
    return turns if isinstance(turns, ScriptedChatModel) else ScriptedChatModel.from_turns(list(turns))


@contextlib.contextmanager
def scripted_openai_server(turns: ScriptedChatModel | Sequence[Turn], **kwargs: Any) -> Iterator[FakeOpenAIServer]:
    """A fake OpenAI-compatible server answering every request with the next scripted turn."""
    model = _as_model(turns)
    server = FakeOpenAIServer(cache_min_tokens=kwargs.pop("cache_min_tokens", 1024), **kwargs)
    server.push(_Repeating(openai_responder(model)))
    with server:
        yield server


@contextlib.contextmanager
def scripted_anthropic_server(
    turns: ScriptedChatModel | Sequence[Turn], **kwargs: Any
) -> Iterator[FakeAnthropicServer]:
    """A fake Anthropic Messages API answering every request with the next scripted turn."""
    model = _as_model(turns)
    server = FakeAnthropicServer(**kwargs)
    server.push(_Repeating(anthropic_responder(model)))
    with server:
        yield server


class _Repeating:
    """A responder that stays in the fake's script (it plays the whole conversation)."""

    repeat = True
    model = None

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, body: Mapping[str, Any]) -> Any:
        return self.fn(body)


@contextlib.contextmanager
def wire_model(
    provider: str, turns: ScriptedChatModel | Sequence[Turn], *, max_retries: int = 0
) -> Iterator[BaseChatModel]:
    """A real ``ChatOpenAI`` / ``ChatAnthropic`` whose server plays ``turns`` (``scripted``: the
    scripted model itself, no wire)."""
    from agent.models.chat import ModelConfig, build_chat_model

    model = _as_model(turns)
    if provider == "scripted":
        yield model
        return
    if provider not in WIRE_MODELS:
        raise ValueError(f"unknown provider {provider!r}: use one of {', '.join(PROVIDERS)}")
    serve = scripted_openai_server if provider == "openai" else scripted_anthropic_server
    with serve(model) as server:
        cfg = ModelConfig(
            provider=provider,
            model=WIRE_MODELS[provider],
            base_url=server.url,
            api_key=server.api_key,
            max_retries=max_retries,
            timeout_s=30,
        )
        yield build_chat_model(cfg)


_ASKER = re.compile(r"directory id ([A-Za-z0-9_.-]+)")


def conversation_key(user_id: str, message: str) -> str:
    """How :class:`ConversationRouter` names a conversation: who asks, and their first message."""
    return f"{user_id}\n{message}"


class ConversationRouter:
    """One fake server for many scripted conversations: each request is played by the script of
    the conversation it belongs to (told apart by the asker's directory id in the system prompt
    and the first user message, see :func:`conversation_key`), and a request with no assistant
    turn yet starts that script afresh (a new trial of the same case)."""

    repeat = True
    model = None

    def __init__(self, scripts: Mapping[str, Any], *, wire: str = "openai") -> None:
        self.scripts = dict(scripts)  # conversation_key(user, first message) -> () -> list of turns
        self.wire = wire
        self.playing: dict[str, ScriptedChatModel] = {}

    def __call__(self, body: Mapping[str, Any]) -> Any:
        messages = openai_messages(body) if self.wire == "openai" else anthropic_messages(body)
        first = next((m for m in messages if isinstance(m, HumanMessage)), None)
        system = "\n".join(_text(m.content) for m in messages if isinstance(m, SystemMessage))
        asker = _ASKER.search(system)
        key = conversation_key(asker.group(1) if asker else "", _text(first.content) if first is not None else "")
        if key not in self.scripts:
            raise KeyError(f"no scripted conversation for {key[:80]!r}")
        if key not in self.playing or not any(isinstance(m, AIMessage) for m in messages):
            self.playing[key] = ScriptedChatModel.from_turns(self.scripts[key]())
        if self.wire == "anthropic":
            return _anthropic_reply(self.playing[key], body)
        ai = _play(self.playing[key], messages)
        if self.wire == "openai":
            return Completion(
                text=_text(ai.content),
                tool_calls=[ToolCall(c["name"], dict(c["args"]), id=c.get("id") or None) for c in ai.tool_calls],
            )
        return Reply(
            text=_text(ai.content),
            tool_uses=[ToolUse(c["name"], dict(c["args"]), id=c.get("id") or None) for c in ai.tool_calls],
        )


class SharedWire:
    """One fake server of ``provider`` for many scripted models in turn (a red-team suite): each
    :meth:`model` call points the server at a new script and returns a real client for it."""

    def __init__(self, provider: str, *, max_retries: int = 0) -> None:
        if provider not in WIRE_MODELS:
            raise ValueError(f"unknown provider {provider!r}: use one of {', '.join(WIRE_MODELS)}")
        self.provider = provider
        self.max_retries = max_retries
        self._stack = contextlib.ExitStack()
        self._server: FakeOpenAIServer | FakeAnthropicServer | None = None
        self._current: ScriptedChatModel | None = None

    def __enter__(self) -> SharedWire:
        server: FakeOpenAIServer | FakeAnthropicServer
        if self.provider == "openai":
            server = FakeOpenAIServer()
            server.push(_Repeating(lambda body: openai_responder(self._playing())(body)))
        else:
            server = FakeAnthropicServer()
            server.push(_Repeating(lambda body: anthropic_responder(self._playing())(body)))
        self._stack.enter_context(server)
        self._server = server
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _playing(self) -> ScriptedChatModel:
        if self._current is None:
            raise RuntimeError("SharedWire: no scripted model is playing")
        return self._current

    @contextlib.contextmanager
    def model(self, turns: ScriptedChatModel | Sequence[Turn]) -> Iterator[BaseChatModel]:
        from agent.models.chat import ModelConfig, build_chat_model

        if self._server is None:
            raise RuntimeError("SharedWire is not running; use it as a context manager")
        self._current = _as_model(turns)
        cfg = ModelConfig(
            provider=self.provider,
            model=WIRE_MODELS[self.provider],
            base_url=self._server.url,
            api_key=self._server.api_key,
            max_retries=self.max_retries,
            timeout_s=30,
        )
        try:
            yield build_chat_model(cfg)
        finally:
            self._current = None
