"""Per-argument provenance of a proposed write, from the conversation's messages.

The gate asks :func:`sensitive_check` for every write whose tool declares sensitive arguments
(recipient, amount, IBAN, URL, share target). A sensitive value that the asker did not supply
(it came from untrusted tool output, or the model chose it) is shown on the card with its
source, and the tool's policy decides: ``flag`` (the approver sees it), ``second_approver`` (one
more independent person must approve) or ``deny``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from policies.pii import PiiKind, detect
from policies.provenance import (
    ArgumentOrigin,
    Origin,
    argument_origins,
    designates,
    instruction_like,
    not_asker_derived,
)
from policies.spotlight import strip_markup
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


@dataclass(frozen=True)
class _Texts:
    user: list[str]
    untrusted: list[tuple[str, str]]
    trusted: list[tuple[str, str]]
    designated: list[tuple[str, str]]  # untrusted outputs of reads the asker designated

    def kw(self) -> dict[str, Any]:
        return {
            "user_messages": self.user,
            "untrusted": self.untrusted,
            "trusted": self.trusted,
            "designated": self.designated,
        }


def _readable(content: str) -> str:
    """A tool message's text as its reader understands it: without our delimiters, and with a
    JSON result decoded to its values (JSON escapes glue words together — "\\t98.70",
    "\\nIBAN" — so a value the record holds would not be found in it)."""
    text = strip_markup(content).strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if isinstance(data, str):
        return data
    return "\n".join(f"{path}: {value}" for path, value in _leaves(data))


def _executed_write(content: str) -> bool:
    """The graph's envelope of an approved, executed write (``agent.graph.execute._stored_result``)."""
    try:
        data = json.loads(strip_markup(content).strip())
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("status") == "executed" and "approved_by" in data


def _texts(messages: Sequence[BaseMessage]) -> _Texts:
    t = _Texts([], [], [], [])
    calls: dict[str, dict[str, Any]] = {}
    approved: set[str] = set()  # results of writes a person approved: the record made at the asker's request
    for m in messages:
        if isinstance(m, HumanMessage) and isinstance(m.content, str):
            t.user.append(m.content)
        elif isinstance(m, AIMessage):
            calls.update({str(c["id"]): dict(c["args"]) for c in m.tool_calls if c.get("id")})
        elif isinstance(m, ToolMessage) and isinstance(m.content, str) and m.status != "error":
            pair = (f"{m.name}:{m.tool_call_id}", _readable(m.content))
            if _executed_write(m.content):
                approved.add(pair[0])
            (t.untrusted if _UNTRUSTED_MARK in m.content else t.trusted).append(pair)
        elif isinstance(m, ToolMessage) and isinstance(m.content, str):
            # Error texts quote remote records: never a trusted origin.
            t.untrusted.append((f"{m.name}:{m.tool_call_id}", _readable(m.content)))
    # Once the conversation holds content that tries to steer the assistant, any later choice
    # may be the attacker's (which reads it makes, which value it picks from a list): only the
    # asker's own words and trusted system data count from then on.
    if any(instruction_like(text) for _src, text in t.untrusted):
        return t
    # Designation is judged against everything the asker said in the conversation, and only
    # for successful reads (an error text is not the record the asker named).
    for src, text in t.untrusted:
        args = calls.get(src.split(":", 1)[1]) if ":" in src else None
        if args is not None and (designates(args, t.user) or src in approved):
            t.designated.append((src, text))
    return t


def vouched_texts(messages: Sequence[BaseMessage]) -> list[str]:
    """Tool outputs whose destinations the egress rule accepts like the asker's own words:
    trusted system data (declared ``untrusted_output: false``) and records the asker designated
    (see ``policies.provenance``)."""
    t = _texts(messages)
    return [text for _src, text in (*t.trusted, *t.designated)]


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
    kw = _texts(messages).kw()
    origins = argument_origins(args, only=tool.sensitive, **kw)
    suspect = not_asker_derived(origins)
    embedded = _embedded(args)
    if embedded:
        tokens = {k: token for k, (_what, token) in embedded.items()}
        for o in argument_origins(tokens, **kw):
            what, _token = embedded[o.path]
            shown = replace(o, path=f"{o.path.split('~', 1)[0]} (contains {what})")
            origins.append(shown)
            # A secret leaves only when the asker typed it: system data holding it (a profile,
            # an account) is trusted to read, not to send on.
            is_secret = what != "a link or address"
            if not o.asker_derived or (is_secret and o.origin is not Origin.USER):
                suspect.append(shown)
    return SensitiveCheck(tuple(origins), tuple(suspect), tool.on_untrusted_sensitive)


__all__ = ["SensitiveCheck", "sensitive_check", "vouched_texts"]
