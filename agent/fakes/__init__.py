"""Local fakes of outside services for tests and offline demos (no network)."""

from agent.fakes.anthropic_api import (
    FakeAnthropicServer,
    Fault,
    RecordedRequest,
    Reply,
    ToolUse,
    overloaded,
    rate_limited,
    server_error,
)
from agent.fakes.openai_api import Completion, FakeOpenAIServer, OpenAIFault, ToolCall

__all__ = [
    "Completion",
    "FakeAnthropicServer",
    "FakeOpenAIServer",
    "Fault",
    "OpenAIFault",
    "RecordedRequest",
    "Reply",
    "ToolCall",
    "ToolUse",
    "overloaded",
    "rate_limited",
    "server_error",
]
