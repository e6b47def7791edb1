"""Per-argument provenance of a proposed write, from the conversation's messages.

The gate asks :func:`sensitive_check` for every write whose tool declares sensitive arguments
(recipient, amount, IBAN, URL, share target). A sensitive value that the asker did not supply
(it came from untrusted tool output, or the model chose it) is shown on the card with its
source, and the tool's policy decides: ``flag`` (the approver sees it), ``second_approver`` (one
more independent person must approve) or ``deny``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, ToolMessage

from policies.provenance import ArgumentOrigin, argument_origins, not_asker_derived
from tools.base import Tool

_UNTRUSTED_MARK = "untrusted-data"


@dataclass(frozen=True)
class SensitiveCheck:
    origins: tuple[ArgumentOrigin, ...]  # every sensitive leaf, with its origin
    suspect: tuple[ArgumentOrigin, ...]  # those the asker did not supply
    mode: str  # flag | second_approver | deny

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(o.label() for o in self.suspect)

    @property
    def denial(self) -> str:
        names = ", ".join(dict.fromkeys(o.argument for o in self.suspect))
        return (
            f"policy refuses this call: its {names} did not come from the requester "
            f"({'; '.join(self.labels)}). Ask the requester to give the value themselves."
        )


def _texts(messages: Sequence[BaseMessage]) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    user: list[str] = []
    untrusted: list[tuple[str, str]] = []
    trusted: list[tuple[str, str]] = []
    for m in messages:
        if isinstance(m, HumanMessage) and isinstance(m.content, str):
            user.append(m.content)
        elif isinstance(m, ToolMessage) and isinstance(m.content, str) and m.status != "error":
            pair = (f"{m.name}:{m.tool_call_id}", m.content)
            (untrusted if _UNTRUSTED_MARK in m.content else trusted).append(pair)
        elif isinstance(m, ToolMessage) and isinstance(m.content, str):
            # Error texts quote remote records: never a trusted origin.
            untrusted.append((f"{m.name}:{m.tool_call_id}", m.content))
    return user, untrusted, trusted


def sensitive_check(tool: Tool[Any, Any], args: dict[str, Any], messages: Sequence[BaseMessage]) -> SensitiveCheck:
    if not tool.sensitive:
        return SensitiveCheck((), (), tool.on_untrusted_sensitive)
    user, untrusted, trusted = _texts(messages)
    origins = argument_origins(args, user_messages=user, untrusted=untrusted, trusted=trusted, only=tool.sensitive)
    return SensitiveCheck(tuple(origins), tuple(not_asker_derived(origins)), tool.on_untrusted_sensitive)


__all__ = ["SensitiveCheck", "sensitive_check"]
