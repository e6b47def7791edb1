"""Provenance and taint: what untrusted content a conversation holds, and what follows from it.

- ``TaintState`` records which untrusted sources were read and keeps a bounded store of their
  text, so a proposed write can be traced: ``tainted_arguments`` says which argument values
  appear in untrusted content but not in the user's own messages (shown on the approval card).
- ``egress_check`` enforces the exfiltration rule: while tainted, data may go only back to the
  asker or to destinations the asker explicitly named in their own messages.
- ``extract_destinations`` finds those destinations inside tool arguments.

All pure: the caller decides when a conversation is tainted and which tools send data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from policies.pii import PiiKind, detect


@dataclass(frozen=True)
class Provenance:
    """Where a piece of content came from. ``source`` like ``crm:note/123``, ``doc:handbook/travel``."""

    source: str
    untrusted: bool


@dataclass(frozen=True)
class Fragment:
    source: str
    text: str


DEFAULT_MAX_CHARS = 200_000


@dataclass(frozen=True)
class TaintState:
    """Immutable record of the untrusted content a conversation holds.

    ``sources``: every untrusted source read, in first-read order (kept even when its text is
    evicted). ``fragments``: the most recent untrusted text, at most ``max_chars`` in total;
    older text is evicted first and counted in ``dropped_chars`` — eviction never untaints.
    """

    sources: tuple[str, ...] = ()
    fragments: tuple[Fragment, ...] = ()
    max_chars: int = DEFAULT_MAX_CHARS
    dropped_chars: int = 0

    @property
    def tainted(self) -> bool:
        return bool(self.sources)

    def add(self, provenance: Provenance, content: str) -> TaintState:
        """A new state including ``content``; trusted content leaves the state unchanged."""
        if not provenance.untrusted:
            return self
        sources = self.sources if provenance.source in self.sources else (*self.sources, provenance.source)
        dropped = self.dropped_chars
        if len(content) > self.max_chars:
            dropped += len(content) - self.max_chars
            content = content[-self.max_chars :]
        frags = [*self.fragments, Fragment(provenance.source, content)] if content else list(self.fragments)
        total = sum(len(f.text) for f in frags)
        while total > self.max_chars and frags:
            total -= len(frags[0].text)
            dropped += len(frags[0].text)
            frags.pop(0)
        return replace(self, sources=sources, fragments=tuple(frags), dropped_chars=dropped)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (for graph state / checkpoints)."""
        return {
            "sources": list(self.sources),
            "fragments": [[f.source, f.text] for f in self.fragments],
            "max_chars": self.max_chars,
            "dropped_chars": self.dropped_chars,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TaintState:
        return cls(
            sources=tuple(raw.get("sources", ())),
            fragments=tuple(Fragment(str(s), str(t)) for s, t in raw.get("fragments", ())),
            max_chars=int(raw.get("max_chars", DEFAULT_MAX_CHARS)),
            dropped_chars=int(raw.get("dropped_chars", 0)),
        )


# ---------------------------------------------------------------------------------------------
# Which argument values came from untrusted content


@dataclass(frozen=True)
class TaintedArgument:
    path: str  # "to", "lines[0].amount"
    value: str  # the value (or the part of it) found in untrusted content, shortened
    sources: tuple[str, ...]  # the untrusted sources it appears in


_MIN_STRING = 4
_MIN_DIGITS = 3
_EMAIL_RE = re.compile(r"(?<![\w.+\-])[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_URL_RE = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'|]+", re.IGNORECASE)
_NUMBER_RE = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.,])\d+(?:\.\d+)?(?![\w])")
_ID_RE = re.compile(r"(?<![\w\-])(?=[\w\-]*\d)(?=[\w\-]*[A-Za-z])[A-Za-z0-9][\w\-]{3,}(?<![\-_])")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).casefold().strip()


def _compact(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).casefold()


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", "")).normalize()
    except InvalidOperation:
        return None


def _digit_count(d: Decimal) -> int:
    return len(re.sub(r"\D", "", format(d, "f")).lstrip("0"))


class _Haystack:
    """One body of text prepared for the different ways a value can appear in it."""

    def __init__(self, text: str) -> None:
        self.text = _norm(text)
        self.compact = _compact(text)
        self.numbers = {n for m in _NUMBER_RE.finditer(text) if (n := _number(m.group(0))) is not None}

    def has_text(self, needle: str) -> bool:
        n = _norm(needle)
        if not n:
            return False
        pat = (r"(?<![\w])" if n[0].isalnum() else "") + re.escape(n) + (r"(?![\w])" if n[-1].isalnum() else "")
        return re.search(pat, self.text) is not None

    def has_number(self, value: Decimal) -> bool:
        return value in self.numbers

    def has_compact(self, needle: str) -> bool:
        c = _compact(needle)
        return len(c) >= 8 and c in self.compact


@dataclass(frozen=True)
class _Candidate:
    kind: str  # "text" | "number" | "compact"
    value: str
    number: Decimal | None = None

    def found_in(self, hay: _Haystack) -> bool:
        if self.kind == "number":
            return self.number is not None and hay.has_number(self.number)
        if self.kind == "compact":
            return hay.has_compact(self.value)
        return hay.has_text(self.value)


def _candidates(value: Any) -> list[_Candidate]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (int, float, Decimal)):
        d = _number(str(value))
        if d is not None and _digit_count(d) >= _MIN_DIGITS:
            return [_Candidate("number", str(value), d)]
        return []
    if not isinstance(value, str):
        return []
    s = value.strip()
    out: list[_Candidate] = []
    if len(s) >= _MIN_STRING:
        out.append(_Candidate("text", s))
    out += [_Candidate("text", m.group(0).rstrip(".")) for m in _EMAIL_RE.finditer(s)]
    out += [_Candidate("text", m.group(0).rstrip(".,;:)")) for m in _URL_RE.finditer(s)]
    out += [_Candidate("text", m.group(0)) for m in _ID_RE.finditer(s)]
    for m in _NUMBER_RE.finditer(s):
        d = _number(m.group(0))
        if d is not None and _digit_count(d) >= _MIN_DIGITS:
            out.append(_Candidate("number", m.group(0), d))
    out += [
        _Candidate("compact", m.text)
        for m in detect(s)
        if m.kind in (PiiKind.IBAN, PiiKind.CARD, PiiKind.PHONE, PiiKind.SSN, PiiKind.UK_NINO)
    ]
    return out


def _leaves(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, obj


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def trace_arguments(
    args: Mapping[str, Any], taint_state: TaintState, user_messages: Sequence[str]
) -> list[TaintedArgument]:
    """Arguments whose values appear in untrusted content but not in the user's own messages.

    Considered values: whole strings of ≥ 4 characters, and inside strings the emails, URLs,
    ids (letters + digits), numbers of ≥ 3 digits and card/IBAN/phone/national-id numbers
    (compared without separators); numeric arguments of ≥ 3 digits (``12500`` matches
    ``12,500``). Matching is case-insensitive on whole tokens.
    """
    if not taint_state.fragments:
        return []
    hays = [(f.source, _Haystack(f.text)) for f in taint_state.fragments]
    user = _Haystack("\n".join(user_messages))
    out: list[TaintedArgument] = []
    for path, value in _leaves(args):
        for cand in _candidates(value):
            if cand.found_in(user):
                continue
            sources = tuple(dict.fromkeys(src for src, hay in hays if cand.found_in(hay)))
            if sources:
                out.append(TaintedArgument(path, _short(cand.value), sources))
                break
    return out


def tainted_arguments(args: Mapping[str, Any], taint_state: TaintState, user_messages: Sequence[str]) -> list[str]:
    """Paths of the arguments whose values came from untrusted content (see ``trace_arguments``)."""
    return [t.path for t in trace_arguments(args, taint_state, user_messages)]


# ---------------------------------------------------------------------------------------------
# Egress: where data may be sent while the conversation is tainted


class DestinationKind(StrEnum):
    EMAIL = "email"
    SLACK_USER = "slack_user"
    SLACK_CHANNEL = "slack_channel"
    CHANNEL_NAME = "channel_name"
    MENTION = "mention"
    URL = "url"
    PHONE = "phone"
    NAME = "name"


@dataclass(frozen=True)
class Destination:
    kind: DestinationKind
    value: str  # normalised: lower-case email, upper-case Slack id, digits of a phone, ...
    raw: str


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    denied: tuple[str, ...] = field(default_factory=tuple)


_SLACK_USER_RE = re.compile(r"^(?:<@|@)?([UW](?=[A-Z0-9]*\d)[A-Z0-9]{8,12})(?:\|[^>]*)?>?$")
_SLACK_CHANNEL_RE = re.compile(r"^(?:<#)?([CGD](?=[A-Z0-9]*\d)[A-Z0-9]{8,12})(?:\|[^>]*)?>?$")
_CHANNEL_NAME_RE = re.compile(r"^#([a-z0-9][a-z0-9_\-.]{0,79})$", re.IGNORECASE)
_MENTION_RE = re.compile(r"^@([\w.\-]{2,80})$")
_EMAIL_FULL = re.compile(r"^(?:mailto:)?([\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+)$", re.IGNORECASE)
_URL_FULL = re.compile(r"^(?:[a-z][a-z0-9+.\-]{0,20}://|www\.)\S+$", re.IGNORECASE)
_HOST = r"[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,24}(?::\d+)?(?:/[^\s<>|\"']*)?"
_HOST_FULL = re.compile(rf"^{_HOST}$", re.IGNORECASE)
_PHONE_FULL = re.compile(r"^(?:tel:)?\+?[\d ()./\-]{7,}$")


def classify(destination: str) -> Destination:
    """What kind of destination a string names, normalised for comparison."""
    raw = destination
    d = destination.strip()
    if d.startswith("<") and d.endswith(">") and not d.startswith(("<@", "<#")):
        d = d[1:-1].split("|", 1)[0]  # Slack-formatted <mailto:x|x> / <https://..|..>
    if m := _SLACK_USER_RE.match(d):
        return Destination(DestinationKind.SLACK_USER, m.group(1), raw)
    if m := _SLACK_CHANNEL_RE.match(d):
        return Destination(DestinationKind.SLACK_CHANNEL, m.group(1), raw)
    if m := _EMAIL_FULL.match(d):
        return Destination(DestinationKind.EMAIL, m.group(1).lower(), raw)
    if _URL_FULL.match(d) or _HOST_FULL.match(d):
        return Destination(DestinationKind.URL, _url_key(d), raw)
    if m := _CHANNEL_NAME_RE.match(d):
        return Destination(DestinationKind.CHANNEL_NAME, m.group(1).lower(), raw)
    if m := _MENTION_RE.match(d):
        return Destination(DestinationKind.MENTION, m.group(1).lower(), raw)
    if _PHONE_FULL.match(d) and len(re.sub(r"\D", "", d)) >= 7:
        return Destination(DestinationKind.PHONE, re.sub(r"\D", "", d), raw)
    return Destination(DestinationKind.NAME, _norm(d), raw)


def _url_key(url: str) -> str:
    """host + path + query, lower-cased host, no scheme, no trailing slash, no fragment."""
    if "://" not in url:
        url = "https://" + url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.lower()
    host = (parts.hostname or "").lower()
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # "host:notaport": compare the raw text instead
        return url.lower()
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return f"{userinfo}{host}{port}{path}{query}"


_MSG_URL_RE = re.compile(
    rf"(?:\b[a-z][a-z0-9+.\-]{{0,20}}://|\bwww\.)[^\s<>|\"']+|(?<![\w@.\-/:]){_HOST}", re.IGNORECASE
)
_MSG_PHONE_RE = re.compile(r"\+?\d[\d ()./\-]{5,}\d")


def _named_in(dest: Destination, text: str) -> bool:
    if not dest.value:
        return False
    v = re.escape(dest.value)
    if dest.kind is DestinationKind.EMAIL:
        return re.search(rf"(?<![\w.+\-]){v}(?![\w\-]|\.\w)", text, re.IGNORECASE) is not None
    if dest.kind in (DestinationKind.SLACK_USER, DestinationKind.SLACK_CHANNEL):
        return re.search(rf"(?<![A-Za-z0-9]){v}(?![A-Za-z0-9])", text, re.IGNORECASE) is not None
    if dest.kind is DestinationKind.CHANNEL_NAME:
        # "#sales" or Slack's "<#C0123ABCD|sales>"
        return re.search(rf"(?:#|\|){v}(?![\w\-])", text, re.IGNORECASE) is not None
    if dest.kind is DestinationKind.MENTION:
        return re.search(rf"@{v}(?![\w\-]|\.\w)", text, re.IGNORECASE) is not None
    if dest.kind is DestinationKind.URL:
        return any(_url_key(u) == dest.value for m in _MSG_URL_RE.finditer(text) for u in _url_readings(m.group(0)))
    if dest.kind is DestinationKind.PHONE:
        for m in _MSG_PHONE_RE.finditer(text):
            digits = re.sub(r"\D", "", m.group(0))
            short, long_ = sorted((digits, dest.value), key=len)
            if len(short) >= 7 and long_.endswith(short) and len(long_) - len(short) <= 3:
                return True
        return False
    return re.search(rf"(?<![\w]){v}(?![\w])", _norm(text)) is not None


def _url_readings(found: str) -> list[str]:
    """A URL as written in a message, and — when a sentence runs on without a space
    ("see www.x.com.Then …") — the URL before the dot that starts the next sentence: host
    names are written in lower case, so ".<Capital>" is a sentence break, not a subdomain."""
    url = found.rstrip(".,;:!?)")
    out = [url]
    if m := re.search(r"\.(?=[A-Z])", url):
        out.append(url[: m.start()])
    return out


def egress_check(destinations: Sequence[str], user_messages: Sequence[str], *, asker: Iterable[str] = ()) -> Decision:
    """Allow sending only to the asker or to destinations the asker named in their own messages.

    ``asker``: the asker's own addresses (email, Slack user id), always allowed. Emails must
    appear verbatim (case-insensitive); a Slack id matches ``<@U123…>`` or the bare id; a
    channel name matches ``#name``; a URL must match host, path and query exactly (scheme and
    trailing slash aside) — a URL with extra query data is a different destination; phone
    numbers compare by digits (a country-code prefix may differ).
    """
    own = {(d.kind, d.value) for d in map(classify, asker)}
    text = "\n".join(user_messages)
    denied: list[str] = []
    for raw in destinations:
        dest = classify(raw)
        if (dest.kind, dest.value) in own or _named_in(dest, text):
            continue
        denied.append(raw.strip())
    if not denied:
        return Decision(True)
    denied = list(dict.fromkeys(denied))
    them = "that destination" if len(denied) == 1 else "those destinations"
    return Decision(
        False,
        f"Blocked sending to {', '.join(denied)}: this conversation contains untrusted data "
        f"(documents, CRM text, query results or other people's messages) and you did not name "
        f"{them} in your own messages. If you do want to send there, say so explicitly, "
        f"naming the recipient (e.g. 'send it to {denied[0]}').",
        tuple(denied),
    )


# Argument names that hold a destination (compared lower-case, '-' as '_').
DESTINATION_FIELDS: frozenset[str] = frozenset(
    {
        "to", "cc", "bcc", "recipient", "recipients", "channel", "channels", "channel_id",
        "email", "emails", "email_address", "url", "urls", "webhook", "webhook_url",
        "callback_url", "endpoint", "destination", "destinations", "dm", "send_to", "share_with",
        "reply_to", "forward_to", "notify", "phone_number",
    }
)  # fmt: skip
DESTINATION_SUFFIXES: tuple[str, ...] = (
    "_email",
    "_emails",
    "_url",
    "_webhook",
    "_channel",
    "_recipients",
    "_to",
)

_IN_TEXT = re.compile(
    r"<@[UW][A-Z0-9]{8,12}(?:\|[^>]*)?>|<#[CGD][A-Z0-9]{8,12}(?:\|[^>]*)?>"
    r"|(?:mailto:)?(?<![\w.+\-])[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+"
    r"|\b[a-z][a-z0-9+.\-]{0,20}://[^\s<>|\"',]+"
    r"|(?<![\w])#[a-z0-9][a-z0-9_\-.]*"
    r"|(?<![\w])@[\w.\-]{2,80}",
    re.IGNORECASE,
)


def _is_destination_field(key: str) -> bool:
    k = key.lower().replace("-", "_")
    return k in DESTINATION_FIELDS or k.endswith(DESTINATION_SUFFIXES)


def _from_destination_value(value: str) -> list[str]:
    found = [m.group(0).rstrip(".,;:") for m in _IN_TEXT.finditer(value)]
    if found:
        return found
    parts = [p.strip() for p in re.split(r"[,;\n]", value)]
    return [p for p in parts if p]


def _shaped_like_destination(value: str) -> bool:
    kind = classify(value).kind
    if kind is DestinationKind.URL:
        # Only real URLs: a bare "report.pdf" or "acme.example" in a non-destination field is data.
        return _URL_FULL.match(value.strip("<>")) is not None
    return kind in (DestinationKind.EMAIL, DestinationKind.SLACK_USER, DestinationKind.SLACK_CHANNEL)


def extract_destinations(args: Mapping[str, Any]) -> list[str]:
    """Every destination inside tool arguments, in order, without duplicates.

    Destination-named fields (``to``, ``recipient``, ``channel``, ``email``, ``url``, ``webhook``,
    ... and ``*_email``/``*_url``/...) contribute every address they contain, or their whole
    value; any other string whose whole value is an email, a URL, a Slack user/channel id or
    mention counts too. Free text (an email body that mentions an address) does not.
    """
    out: list[str] = []

    def walk(obj: Any, dest_field: bool) -> None:
        if isinstance(obj, Mapping):
            for k, v in obj.items():
                walk(v, dest_field or (isinstance(k, str) and _is_destination_field(k)))
        elif isinstance(obj, (list, tuple, set, frozenset)):
            for v in obj:
                walk(v, dest_field)
        elif isinstance(obj, str) and obj.strip():
            if dest_field:
                out.extend(_from_destination_value(obj))
            elif _shaped_like_destination(obj.strip()):
                out.append(obj.strip())

    walk(args, False)
    return list(dict.fromkeys(out))


__all__ = [
    "DESTINATION_FIELDS",
    "Decision",
    "Destination",
    "DestinationKind",
    "Fragment",
    "Provenance",
    "TaintState",
    "TaintedArgument",
    "classify",
    "egress_check",
    "extract_destinations",
    "tainted_arguments",
    "trace_arguments",
]
