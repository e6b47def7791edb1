"""Per-argument provenance of a proposed write, from the conversation's messages.

The gate asks :func:`sensitive_check` for every write whose tool declares sensitive arguments
(recipient, amount, IBAN, URL, share target). A sensitive value that the asker did not supply
(it came from untrusted tool output, or the model chose it) is shown on the card with its
source, and the tool's policy decides: ``flag`` (the approver sees it), ``second_approver`` (one
more independent person must approve) or ``deny``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, ToolMessage

from policies.pii import PiiKind, detect
from policies.provenance import ArgumentOrigin, Origin, argument_origins, not_asker_derived
from policies.taint import _leaves
from tools.base import Tool

_UNTRUSTED_MARK = "untrusted-data"
_SECRET_NAMES = {
    PiiKind.CARD: "card number",
    PiiKind.IBAN: "bank account number",
    PiiKind.SSN: "national id number",
    PiiKind.UK_NINO: "national id number",
}
_LINK_RE = re.compile(
    r"\b(?:https?|ftp)://[^\s<>\"'|]+|\bwww\.[^\s<>\"'|]+|(?<![\w.+\-])[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+",
    re.IGNORECASE,
)


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


def _embedded(args: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Links, addresses and card/account/national-id numbers inside free-text arguments (a
    message body, a title): each one is a destination or a secret in its own right.
    Returns path~n -> (what it is, the token)."""
    out: dict[str, tuple[str, str]] = {}
    for path, value in _leaves(args):
        if not isinstance(value, str):
            continue
        found = [("a link or address", m.group(0).rstrip(".,;:)")) for m in _LINK_RE.finditer(value)]
        found += [(f"a {_SECRET_NAMES[m.kind]}", m.text) for m in detect(value) if m.kind in _SECRET_NAMES]
        for i, (what, token) in enumerate(dict.fromkeys(found)):
            if token.strip() != value.strip():
                out[f"{path}~{i}"] = (what, token)
    return out


def sensitive_check(tool: Tool[Any, Any], args: dict[str, Any], messages: Sequence[BaseMessage]) -> SensitiveCheck:
    """Origins of the tool's sensitive arguments, and of every link, email address or
    card/IBAN/national-id number embedded in any of its text arguments."""
    if not tool.sensitive:
        return SensitiveCheck((), (), tool.on_untrusted_sensitive)
    user, untrusted, trusted = _texts(messages)
    kw = {"user_messages": user, "untrusted": untrusted, "trusted": trusted}
    origins = argument_origins(args, only=tool.sensitive, **kw)  # type: ignore[arg-type]
    suspect = not_asker_derived(origins)
    embedded = _embedded(args)
    if embedded:
        tokens = {k: token for k, (_what, token) in embedded.items()}
        for o in argument_origins(tokens, **kw):  # type: ignore[arg-type]
            what, _token = embedded[o.path]
            shown = replace(o, path=f"{o.path.split('~', 1)[0]} (contains {what})")
            origins.append(shown)
            # A secret leaves only when the asker typed it: system data holding it (a profile,
            # an account) is trusted to read, not to send on.
            is_secret = what != "a link or address"
            if not o.asker_derived or (is_secret and o.origin is not Origin.USER):
                suspect.append(shown)
    return SensitiveCheck(tuple(origins), tuple(suspect), tool.on_untrusted_sensitive)


__all__ = ["SensitiveCheck", "sensitive_check"]
