"""Per-argument provenance of a proposed write, and whether its action was asked for, from the
conversation's messages.

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
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from agent.graph.tool_menu import FULL_TEXT_KEY
from policies.intent import IntentCheck, asked_for
from policies.pii import PiiKind, detect
from policies.provenance import (
    ArgumentOrigin,
    Origin,
    argument_origins,
    designates,
    instruction_like,
    not_asker_derived,
    record_trust,
    structured_text,
)
from policies.selection import Pick, Read, select
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
    intent: IntentCheck | None = None  # whether the asker asked for this action at all

    @property
    def not_asked(self) -> str:
        """The card's line when the tool declares verbs and none of them was asked for; else ""."""
        return self.intent.label() if self.intent is not None and not self.intent.asked else ""

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(o.label() for o in self.suspect)

    @property
    def notes(self) -> tuple[str, ...]:
        """How accepted values that the asker did not type are explained: a computed amount's
        arithmetic, a value picked from a listing's field (shown on the card all the same)."""
        shown = [
            o for o in self.origins if o.origin in (Origin.DERIVED, Origin.SELECTED, Origin.LISTED) or o.explanation
        ]
        # Trust in a steered record's values, or in a row the asker's criterion selected, holds
        # only because the asker asked for the action: say so.
        asked = (
            [self.intent.label()]
            if self.intent is not None
            and any(o.origin is Origin.SELECTED or (o.explanation and o.origin is Origin.DESIGNATED) for o in shown)
            else []
        )
        return tuple([*(o.label() for o in shown), *asked])

    @property
    def denial(self) -> str:
        asked = f"{self.not_asked}. " if self.not_asked else ""
        if not self.suspect:
            return f"policy refuses this call: {asked}Ask the requester whether they want it."
        names = ", ".join(dict.fromkeys(o.argument for o in self.suspect))
        return (
            f"policy refuses this call: {asked}its {names} did not come from the requester "
            f"({'; '.join(self.labels)}). Ask the requester to give the value themselves."
        )


@dataclass(frozen=True)
class _Texts:
    user: list[str]
    untrusted: list[tuple[str, str]]
    trusted: list[tuple[str, str]]
    designated: list[tuple[str, str]]  # untrusted outputs of reads the asker designated
    listed: list[tuple[str, str]]  # structured fields of listings, while nothing read steers
    # Steered records the asker designated, reduced to what they vouch for outside their
    # instruction-like passages: counted only for an action the asker asked for.
    outside: list[tuple[str, str]] = field(default_factory=list)
    outside_figures: list[tuple[str, str]] = field(default_factory=list)  # their sentences: figures only
    passages: list[str] = field(default_factory=list)  # every instruction-like passage read
    asked_records: list[tuple[str, str]] = field(default_factory=list)  # clean designated records
    selected: list[Pick] = field(default_factory=list)  # rows the asker's criteria select

    def kw(self, intent: IntentCheck | None = None) -> dict[str, Any]:
        # Trust in a steered record's values would let its injection act on the record itself
        # (delete or share the very file it sits in): only for an action the asker asked for,
        # and never for a tool that declares no verbs to check.
        partial = intent is not None and intent.checked and intent.asked
        return {
            "user_messages": self.user,
            "untrusted": self.untrusted,
            "trusted": self.trusted,
            "designated": self.designated,
            "listed": self.listed,
            "outside": self.outside if partial else [],
            "outside_figures": self.outside_figures if partial else [],
            "passages": self.passages,
            # A row the asker's criterion selected was selected for the action the asker asked for,
            # not for another one a steered model makes with it (book the hotel asked to be
            # recommended): the same intent check.
            "selected": self.selected if partial else [],
        }

    def intent(self, tool: Tool[Any, Any]) -> IntentCheck:
        return asked_for(tool.name, tool.verbs, self.user, self.asked_records)


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
    t = _Texts([], [], [], [], [])
    calls: dict[str, dict[str, Any]] = {}
    approved: set[str] = set()  # results of writes a person approved: the record made at the asker's request
    reads: list[tuple[str, str]] = []  # successful untrusted outputs, in conversation order
    for m in messages:
        if isinstance(m, HumanMessage) and isinstance(m.content, str):
            t.user.append(m.content)
        elif isinstance(m, AIMessage):
            calls.update({str(c["id"]): dict(c["args"]) for c in m.tool_calls if c.get("id")})
        elif isinstance(m, ToolMessage) and isinstance(m.content, str) and m.status != "error":
            pair = (f"{m.name}:{m.tool_call_id}", _readable(m.content))
            if _executed_write(m.content):
                approved.add(pair[0])
            if _UNTRUSTED_MARK in m.content:
                t.untrusted.append(pair)
                reads.append((pair[0], strip_markup(m.content)))
            else:
                t.trusted.append(pair)
        elif isinstance(m, ToolMessage) and isinstance(m.content, str):
            # Error texts quote remote records: never a trusted origin.
            t.untrusted.append((f"{m.name}:{m.tool_call_id}", _readable(m.content)))
    # Trust is per record: a record holding content that tries to steer the assistant vouches
    # for nothing, whoever named it, and cannot name other records; a clean record the asker
    # designated keeps vouching for its values. Designation reads no model choice (the asker's
    # words name the record), so a compromised model cannot use it to pick the attacker's value.
    raws = dict(reads)
    steering = {
        src for src, text in t.untrusted if instruction_like(text) or (src in raws and instruction_like(raws[src]))
    }
    trust = {src: record_trust(raws.get(src, text)) for src, text in t.untrusted if src in steering}
    t.passages.extend(p for tr in trust.values() for p in tr.passages)
    readable = dict(t.untrusted)
    for src, _raw in reads:
        args = calls.get(src.split(":", 1)[1]) if ":" in src else None
        if args is None:
            continue
        # Chained: a clean designated record can designate the records it names by address or
        # quoted name ("do what the file says"), as the asker's words do.
        is_named = designates(args, t.user) or any(designates(args, [d]) for _s, d in t.designated)
        if src in steering:
            # A steered record the asker named still vouches for its values outside the passages
            # that address the assistant; it names nothing and asks for nothing.
            if is_named and trust[src].text:
                t.outside.append((src, trust[src].text))
            if is_named and trust[src].figures:
                t.outside_figures.append((src, trust[src].figures))
            continue
        if is_named:
            t.designated.append((src, readable[src]))  # the asker named it (a page fetch is a write too)
            t.asked_records.append((src, readable[src]))
        elif src in approved:
            made = _made(_raw, args)
            if made:
                t.designated.append((src, made))
    # Picks from a listing (the largest file, the channel with most users) are the model's
    # choice among values: only while nothing read steers it (a steered model would pick the
    # file the injection names), and only from structured fields (ids, names, addresses,
    # sizes), never from bodies or descriptions, where other people's prose lives.
    if not steering:
        named = {src for src, _text in t.designated}
        for src, raw in reads:
            fields = structured_text(raw) if src not in named and src not in approved else ""
            if fields:
                t.listed.append((src, fields))
    # Picks the asker's own criterion decides ("the largest file"), computed here rather than
    # taken from the model: they hold even while something read steers it.
    # The whole of a long listing, not only the head the model was shown.
    whole = {
        f"{m.name}:{m.tool_call_id}": str(m.response_metadata[FULL_TEXT_KEY])
        for m in messages
        if isinstance(m, ToolMessage) and m.response_metadata.get(FULL_TEXT_KEY)
    }
    t.selected.extend(
        select(
            [
                Read(src, src.split(":", 1)[0], calls.get(src.split(":", 1)[1], {}), whole.get(src, raw))
                for src, raw in reads
            ],
            t.user,
            instruction_like,
        )
    )
    return t


def _made(raw: str, call_args: dict[str, Any]) -> str:
    """What an approved write produced: the structured fields of its result (the new file's id)
    that are not its own arguments echoed back. An echo of what the model wrote into the write
    (an email's subject, a hotel named in a message body) vouches for nothing: a steered model
    wrote it."""
    try:
        data = json.loads(raw.strip())
    except ValueError:
        return ""
    result = data.get("result") if isinstance(data, dict) else None
    fields = structured_text(json.dumps(result, default=str)) if result is not None else ""
    echoed = {str(v).strip().casefold() for _p, v in _leaves(call_args) if not isinstance(v, bool)}
    keep = [line for line in fields.splitlines() if line.split(": ", 1)[-1].strip().casefold() not in echoed]
    return "\n".join(keep)


def vouched_texts(messages: Sequence[BaseMessage], tool: Tool[Any, Any] | None = None) -> list[str]:
    """Tool outputs whose destinations the egress rule accepts like the asker's own words:
    trusted system data (declared ``untrusted_output: false``) and records the asker designated
    (see ``policies.provenance``); for ``tool``'s action, when the asker asked for it, also what
    a steered designated record vouches for outside its instruction-like passages."""
    t = _texts(messages)
    kw = t.kw(t.intent(tool)) if tool is not None else {"outside": [], "selected": []}
    return [text for _src, text in (*t.trusted, *t.designated, *t.listed, *kw["outside"])] + [
        p.fields for p in kw["selected"]
    ]


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
    texts = _texts(messages)
    intent = texts.intent(tool)
    if not tool.sensitive:
        return SensitiveCheck((), (), tool.on_untrusted_sensitive, intent)
    kw = texts.kw(intent)
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
    return SensitiveCheck(tuple(origins), tuple(suspect), tool.on_untrusted_sensitive, intent)


__all__ = ["SensitiveCheck", "sensitive_check", "vouched_texts"]
