"""Local fakes of outside services, shipped for your tests and the offline demo (no network).

A fake Anthropic Messages API (``anthropic_api``) and OpenAI-compatible server (``openai_api``)
that the real SDKs talk to, the scripted wire that plays a demo through them
(``scripted_wire``), and a scripted stand-in for the runtime behind the Slack app
(``slack_runtime``). Nothing here runs in production."""

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
