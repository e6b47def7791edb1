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

__all__ = [
    "FakeAnthropicServer",
    "Fault",
    "RecordedRequest",
    "Reply",
    "ToolUse",
    "overloaded",
    "rate_limited",
    "server_error",
]
