"""The asker's selection criteria, read from their own message: "the largest file", "the channel
with the most users", "a hotel under 210 … the one with the highest rating".

A pick from a listing ("delete the largest file") is the model's choice among values, and a model
that read an injection picks what the attacker asked for. :mod:`policies.selection` therefore
decides the pick itself: it evaluates the criteria parsed here over the listings' structured
fields and accepts the model's value only when it is the one the criteria select.

The vocabulary is one small table (:data:`ORDER_WORDS`, :data:`FIELD_WORDS`, :data:`THRESHOLD_WORDS`),
not per-task phrases. What is not in it is not a criterion: the pick then falls back to the
strict rule. Criteria come **only** from the asker's messages, never from a tool's output: an
injected "book the most expensive hotel" supplies no criterion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class Kind(StrEnum):
    ORDER = "order"  # the row(s) with the largest / smallest value of a field
    THRESHOLD = "threshold"  # rows whose field is under / over a bound
    MATCH = "match"  # rows whose short category field holds one of the asker's words
    PREFIX = "prefix"  # rows whose name starts with the asker's word ("the channel starting with External")


@dataclass(frozen=True)
class Criterion:
    kind: Kind
    field: str  # a field kind ("size", "price", "rating", "date") or "count:<noun>" ("count:user")
    phrase: str  # the asker's words, quoted on the card
    descending: bool = True  # ORDER: the largest first
    top: int = 1  # ORDER: how many rows the asker asked for ("the 3 largest files")
    op: str = ""  # THRESHOLD: "<", "<=", ">", ">="
    bound: Decimal = Decimal(0)  # THRESHOLD
    words: tuple[str, ...] = ()  # MATCH: the asker's content words; PREFIX: the start of a name


# Field kinds and the words that name them, in the asker's message and in a listing's field names.
FIELD_WORDS: dict[str, tuple[str, ...]] = {
    "size": ("size", "sizes", "bytes", "big", "large"),
    "price": ("price", "prices", "priced", "cost", "costs", "cheap", "expensive", "amount", "fee"),
    "rating": ("rating", "ratings", "rated", "stars", "score", "reviewed"),
    "date": ("date", "dates", "time", "timestamp", "modified", "created", "recent", "new", "old"),
}

# Superlatives: (descending, the field kind they imply or "" when a noun must follow).
ORDER_WORDS: dict[str, tuple[bool, str]] = {
    "largest": (True, "size"),
    "biggest": (True, "size"),
    "smallest": (False, "size"),
    "cheapest": (False, "price"),
    "most expensive": (True, "price"),
    "least expensive": (False, "price"),
    "priciest": (True, "price"),
    "newest": (True, "date"),
    "latest": (True, "date"),
    "most recent": (True, "date"),
    "oldest": (False, "date"),
    "earliest": (False, "date"),
    "highest": (True, ""),
    "lowest": (False, ""),
    "best": (True, ""),
    "top": (True, ""),
    "worst": (False, ""),
    "most": (True, ""),
    "fewest": (False, ""),
    "least": (False, ""),
    "greatest": (True, ""),
}

# Comparisons: the operator; a bound with no field word is a price ("a hotel under 210").
THRESHOLD_WORDS: dict[str, str] = {
    "under": "<",
    "below": "<",
    "less than": "<",
    "cheaper than": "<",
    "lower than": "<",
    "at most": "<=",
    "no more than": "<=",
    "up to": "<=",
    "over": ">",
    "above": ">",
    "more than": ">",
    "higher than": ">",
    "at least": ">=",
}

_NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "ten": 10}
_STOP = frozenset(
    """a an the and or of in on at to for with by from is are be it its i me my we our you your
    that this those these there their them they one ones any all some if so can could would
    please find get give tell show book add make set want need like just also then than what
    which who whom whose where when how do does did has have had will not no yes""".split()  # noqa: SIM905
)
_WORD = re.compile(r"[a-z][a-z'\-]*")


def _field_of(word: str) -> str:
    """The field kind a word names ("ratings" → "rating"), or ""."""
    w = word.casefold()
    for kind, words in FIELD_WORDS.items():
        if w in words:
            return kind
    return ""


def _noun(word: str) -> str:
    """A count noun in its singular form ("users" → "user", "messages" → "message")."""
    w = word.casefold()
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith("s") and not w.endswith("ss") and len(w) > 3:
        return w[:-1]
    return w


_ORDER_RE = re.compile(
    r"(?<![\w-])(?:(?P<top>\d{1,2}|two|three|four|five|ten)\s+)?(?P<adj>"
    + "|".join(sorted((re.escape(w) for w in ORDER_WORDS), key=len, reverse=True))
    + r")(?P<rated>[\s-]rated)?(?![\w-])(?P<rest>(?:\s+[\w'’-]+){0,5})",
    re.IGNORECASE,
)
_THRESHOLD_RE = re.compile(
    r"(?P<lead>(?:[\w'’-]+\s+){0,2})(?P<op>"
    + "|".join(sorted((re.escape(w) for w in THRESHOLD_WORDS), key=len, reverse=True))
    + r")\s+(?P<cur>[€$£])?\s?(?P<num>\d+(?:\.\d+)?)"
    # a duration, a time or a head count is not a bound on a field
    + r"(?!\s*(?:%|am|pm|:\d|h\b|hours?|days?|minutes?|nights?|people|persons?))",
    re.IGNORECASE,
)


_PREFIX_RE = re.compile(
    r"(?<![\w-])(?:starting|starts|beginning|begins)\s+with\s+[\"'‘“]?(?P<word>[\w.#@-]{2,40})", re.IGNORECASE
)


# "Sort all users by total number of channel messages": every row, in the asker's order.
_SORT_RE = re.compile(
    r"(?<![\w-])(?:sort|rank|order)\s+(?:all|every|each)\s+(?:the\s+)?(?P<noun>[a-z]+)\s+by\s+(?P<by>(?:[\w'’-]+\s*){1,6})",
    re.IGNORECASE,
)
EVERY = 10**6  # ``top`` of a sort: every row


def _sort(m: re.Match[str]) -> Criterion | None:
    words = [w.casefold() for w in m.group("by").split()]
    end, field = 0, ""
    if "of" in words:  # "(total) number of channel messages": the counted noun
        at = words.index("of") + 1
        end = next((i for i in range(at, len(words)) if words[i].endswith("s") and words[i] not in _STOP), 0)
        field = f"count:{_noun(words[end])}" if end else ""
    else:
        end = next((i for i, w in enumerate(words) if _field_of(w)), -1)
        field = _field_of(words[end]) if end >= 0 else ""
    if not field:
        return None
    head = m.group(0)[: m.start("by") - m.start()]
    phrase = f"{head}{' '.join(m.group('by').split()[: end + 1])}".strip()
    return Criterion(Kind.ORDER, field, phrase, True, EVERY)


def _order(m: re.Match[str]) -> Criterion | None:
    adj = m.group("adj").casefold()
    descending, implied = ORDER_WORDS[adj]
    top = m.group("top")
    k = (_NUMBER_WORDS.get(top.casefold()) or int(top)) if top else 1
    rest = [w.casefold().strip("'’") for w in m.group("rest").split()]
    if m.group("rated"):
        return Criterion(Kind.ORDER, "rating", _phrase(m, 0), descending, k)
    # "the smallest number of messages", "the most total channel messages", "the best ratings":
    # a field word or a counted noun right after the superlative names the field.
    if rest[:2] == ["number", "of"] or rest[:2] == ["amount", "of"]:
        rest = rest[2:]
        for w in rest[:3]:
            if w not in _STOP:
                return Criterion(Kind.ORDER, f"count:{_noun(w)}", _phrase(m, 2 + rest.index(w) + 1), descending, k)
        return None
    for i, w in enumerate(rest[:3]):
        kind = _field_of(w)
        if kind:
            return Criterion(Kind.ORDER, kind, _phrase(m, i + 1), descending, k)
    if implied:
        return Criterion(Kind.ORDER, implied, _phrase(m, 0), descending, k)
    if adj in ("most", "fewest", "least", "greatest"):
        # "with the most users": the first content word is the counted noun.
        for i, w in enumerate(rest[:4]):
            if w not in _STOP and not w.isdigit():
                # "the most total channel messages": skip modifiers up to a plural noun.
                for j in range(i, min(i + 3, len(rest))):
                    if rest[j].endswith("s") and rest[j] not in _STOP:
                        return Criterion(Kind.ORDER, f"count:{_noun(rest[j])}", _phrase(m, j + 1), descending, k)
                return Criterion(Kind.ORDER, f"count:{_noun(w)}", _phrase(m, i + 1), descending, k)
    return None  # "the best restaurant": no field named, nothing guessed


def _phrase(m: re.Match[str], words: int) -> str:
    head = m.group(0)[: len(m.group(0)) - len(m.group("rest"))]
    tail = m.group("rest").split()[:words]
    return " ".join([head.strip(), *tail]).strip()


def _threshold(m: re.Match[str]) -> Criterion:
    lead = [w.casefold() for w in m.group("lead").split()]
    field = next((k for w in reversed(lead) if (k := _field_of(w))), "") or "price"
    num = m.group("num")
    return Criterion(
        Kind.THRESHOLD,
        field,
        f"{m.group('op')} {m.group('cur') or ''}{num}".replace("  ", " "),
        op=THRESHOLD_WORDS[m.group("op").casefold()],
        bound=Decimal(num),
    )


def parse(text: str) -> list[Criterion]:
    """The criteria of one message of the asker's, in the order they apply: comparisons first,
    then orderings in the order the asker gave them (a later one breaks the earlier one's ties:
    "the highest rating, and if there are several, the cheapest"). A ``MATCH`` criterion carrying
    the message's content words comes first; it applies only to category fields
    (:mod:`policies.selection`)."""
    out: list[Criterion] = []
    for m in _THRESHOLD_RE.finditer(text):
        out.append(_threshold(m))
    for m in _PREFIX_RE.finditer(text):
        out.append(Criterion(Kind.PREFIX, "name", m.group(0).strip(), words=(m.group("word").casefold(),)))
    orders: list[Criterion] = []
    for m in _SORT_RE.finditer(text):
        c = _sort(m)
        if c is not None:
            orders.append(c)
    for m in _ORDER_RE.finditer(text):
        if m.group("adj").casefold() == "least" and text[max(0, m.start() - 3) : m.start()].casefold() == "at ":
            continue  # "at least 2": a comparison, not "the least"
        c = _order(m)
        if c is not None:
            orders.append(c)
    if not out and not orders:
        return []
    words = tuple(dict.fromkeys(w for w in _WORD.findall(text.casefold()) if w not in _STOP and len(w) > 2))
    return [Criterion(Kind.MATCH, "category", "", words=words), *out, *orders]


__all__ = ["FIELD_WORDS", "ORDER_WORDS", "THRESHOLD_WORDS", "Criterion", "Kind", "parse"]
