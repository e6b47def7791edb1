"""Errors raised by tools.

Two kinds, kept apart on purpose:

    ToolError
    ├── ToolInputError    the model should fix its call (bad id, impossible value); the message
    │   │                 goes back to the model as a tool error it can act on
    │   └── NeedsInformation   a write needs fields only the user can give; nothing was filed
    └── ToolFailure       the call was fine but could not be done (system down, record gone);
                          also reported to the model, marked final, and audited

Anything else (auth errors, programming errors) propagates: it is never turned into a string
for the model.
"""

from __future__ import annotations


class ToolError(Exception):
    """Base class for errors a tool reports about one call."""


class ToolInputError(ToolError):
    """The call's arguments are wrong; the model can correct them and try again."""


class NeedsInformation(ToolInputError):
    """A write cannot be proposed yet: the user must supply what the message names (nothing was
    filed). The message is the tool's own words, never text from a remote system."""


class ToolFailure(ToolError):
    """The call was valid but failed; retrying the same call is unlikely to help right now."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


__all__ = ["NeedsInformation", "ToolError", "ToolFailure", "ToolInputError"]
