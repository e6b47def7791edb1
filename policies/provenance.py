"""Per-argument provenance: where each value of a proposed write came from.

Every argument the model proposes is untrusted by default: the model may have copied it from a
document an attacker wrote, or made it up. A value is attributed to

- ``user``      — it appears in the asker's own messages;
- ``trusted``   — it appears in output of a tool the operator marked trusted (system data with no
                  text written by others, e.g. the asker's own account number);
- ``designated`` — it appears in a record the asker *designated*: the output of a read whose
                  every text argument the asker wrote themselves (the file, email, page, event or
                  contact their request names: "pay the bill 'bill-december-2023.txt'", "her email
                  is on www.dora-website.com"), or the result of a write a person approved in
                  this conversation (the id of the file it created). Only while nothing the
                  conversation read holds instruction-like content (:func:`instruction_like`):
                  after text that tries to steer the assistant, its choices (which reads it
                  makes, which value it picks from a list) may be the attacker's. A record the
                  model found on its own (a link inside an email, a search it phrased) is not
                  designated, and designation does not chain (a page linked from one is not);
- ``untrusted`` — it appears in output that holds text others wrote (which source, which call);
- ``model``     — none of the above: the model chose it.

Only ``user``, ``trusted`` and ``designated`` values are *asker-derived*. A write whose
*sensitive* arguments (recipient, amount, IBAN, URL, share target — declared per tool) are not
asker-derived is shown as such on the card, and policy may require a second approver or deny it.

A short identifier (``file_id="13"``) counts as found only where a text introduces it as one
("file 13", "the event with ID '24'", ``id_: '13'``): "June 13" in the asker's message is not
the asker naming file 13.

Pure: the caller passes the texts; matching reuses the taint tracer's rules (whole tokens,
case-insensitive, numbers compared by value, card/IBAN/phone numbers without separators).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from policies.injection import score as injection_score
from policies.spotlight import strip_markup
from policies.taint import _Haystack, _leaves, _number, _short

SAFE = frozenset({"user", "trusted", "designated"})


class Origin(StrEnum):
    USER = "user"
    TRUSTED = "trusted"
    DESIGNATED = "designated"
    UNTRUSTED = "untrusted"
    MODEL = "model"


@dataclass(frozen=True)
class ArgumentOrigin:
    path: str  # "recipient", "recipients[1]", "lines[0].amount"
    value: str  # shortened for display
    origin: Origin
    sources: tuple[str, ...] = ()  # for untrusted/trusted: which tool outputs hold it

    @property
    def argument(self) -> str:
        """The top-level argument name this leaf belongs to."""
        return self.path.split(".", 1)[0].split("[", 1)[0]

    @property
    def asker_derived(self) -> bool:
        return self.origin.value in SAFE

    def label(self) -> str:
        """One line for an approval card; the value is quoted, never shown as the system's words."""
        v = f"{self.path} = “{self.value}”"
        if self.origin is Origin.USER:
            return f"{v}: from the requester's own message"
        if self.origin is Origin.TRUSTED:
            return f"{v}: from trusted system data ({', '.join(self.sources)})"
        if self.origin is Origin.DESIGNATED:
            return f"{v}: from a record the requester named ({', '.join(self.sources)})"
        if self.origin is Origin.UNTRUSTED:
            return f"{v}: from untrusted content ({', '.join(self.sources)}), not from the requester"
        return f"{v}: chosen by the model (not in the requester's messages or any tool output)"


_ID_ARG = re.compile(r"(?:^|_)ids?_?$|^id_", re.IGNORECASE)
_SHORT_ID = 4  # an identifier this short also occurs by coincidence ("June 13", "2 hours")


def _id_words(arg: str) -> list[str]:
    """The nouns a person uses to introduce an identifier argument: "file" and "id" for file_id."""
    return [w for w in re.split(r"[_\W]+", arg.casefold()) if w] + ["id", "ids", "no", "number", "#"]


def _found_id(value: str, arg: str, hay: _Haystack) -> bool:
    """A short identifier counts as found only where the text introduces it as one ("file 13",
    "the event with ID '24'", "id_: '13'"), not where the same digits mean something else."""
    words = "|".join(re.escape(w) for w in _id_words(arg))
    pat = (
        rf"(?:(?<![\w])(?:{words})s?_?)(?:\W{{0,3}}|\W+with (?:the )?(?:id|number)\W{{0,3}})"
        + re.escape(value.casefold())
        + r"(?![\w])"
    )
    return re.search(pat, hay.text) is not None


def _found(value: Any, hay: _Haystack, arg: str = "") -> bool:
    if (
        arg
        and _ID_ARG.search(arg)
        and not isinstance(value, bool)
        and value is not None
        and 0 < len(str(value).strip()) <= _SHORT_ID
    ):
        return _found_id(str(value).strip(), arg, hay)
    if isinstance(value, bool) or value is None:
        return True  # flags carry no destination or amount of their own
    if isinstance(value, (int, float, Decimal)):
        d = _number(str(value))
        return d is not None and hay.has_number(d)
    s = str(value).strip()
    if not s:
        return True
    if hay.has_text(s) or hay.has_compact(s):
        return True
    d = _number(s)
    return d is not None and hay.has_number(d)


def argument_origins(
    args: Mapping[str, Any],
    *,
    user_messages: Sequence[str],
    untrusted: Iterable[tuple[str, str]] = (),
    trusted: Iterable[tuple[str, str]] = (),
    designated: Iterable[tuple[str, str]] = (),
    only: Iterable[str] | None = None,
) -> list[ArgumentOrigin]:
    """The origin of every leaf value of ``args`` (or of the top-level arguments in ``only``).

    ``untrusted`` / ``trusted`` / ``designated``: (source, text) pairs of tool outputs the
    conversation holds (a designated output is usually also listed as untrusted: designated wins).
    """
    wanted = set(only) if only is not None else None
    user = _Haystack("\n".join(user_messages))
    bad = [(src, _Haystack(text)) for src, text in untrusted]
    good = [(src, _Haystack(text)) for src, text in trusted]
    named = [(src, _Haystack(text)) for src, text in designated]
    out: list[ArgumentOrigin] = []
    for path, value in _leaves(args):
        arg = path.split(".", 1)[0].split("[", 1)[0]
        if wanted is not None and arg not in wanted:
            continue
        shown = _short(str(value))
        if _found(value, user, arg):
            out.append(ArgumentOrigin(path, shown, Origin.USER))
            continue
        in_good = tuple(dict.fromkeys(src for src, hay in good if _found(value, hay, arg)))
        if in_good:
            out.append(ArgumentOrigin(path, shown, Origin.TRUSTED, in_good))
            continue
        in_named = tuple(dict.fromkeys(src for src, hay in named if _found(value, hay, arg)))
        if in_named:
            out.append(ArgumentOrigin(path, shown, Origin.DESIGNATED, in_named))
            continue
        in_bad = tuple(dict.fromkeys(src for src, hay in bad if _found(value, hay, arg)))
        if in_bad:
            out.append(ArgumentOrigin(path, shown, Origin.UNTRUSTED, in_bad))
        else:
            out.append(ArgumentOrigin(path, shown, Origin.MODEL))
    return out


def designates(call_args: Mapping[str, Any], user_messages: Sequence[str]) -> bool:
    """Whether a read's arguments designate a record the asker named: it has at least one text
    argument, and every text argument appears (whole words) in the asker's own messages as the
    name of one record (an address, or a name they quoted), not merely a topic.

    Numbers and flags (a page size, a date range flag) select nothing by themselves and are
    ignored; a read with no text argument (list every email) designates nothing."""
    joined = "\n".join(user_messages)
    user = _Haystack(joined)
    texts = [str(v).strip() for _p, v in _leaves(dict(call_args)) if isinstance(v, str) and str(v).strip()]
    return bool(texts) and all((user.has_text(t) or user.has_compact(t)) and _names_a_record(t, joined) for t in texts)


_ADDRESS = re.compile(r"[@/\d]|^www\.|\.[a-z0-9]{2,5}$", re.IGNORECASE)
_QUOTES = "'\"‘’“”`"


def _names_a_record(value: str, text: str) -> bool:
    """Whether the asker names one record by this value, not a topic: an address (a file name
    with its extension, a URL, an email address, an id or date) or a name they quoted
    ("the 'Introductory meeting' event"). "Check the weather in Oslo" names a topic: a
    third party's forecast for Oslo does not get to choose an amount."""
    if _ADDRESS.search(value):
        return True
    pat = rf"[{_QUOTES}]\s*{re.escape(value)}\s*[{_QUOTES}]"
    return re.search(pat, text, re.IGNORECASE) is not None


def instruction_like(text: str) -> bool:
    """Whether a record holds content addressed to the reader as instructions (the injection
    heuristics of ``policies.injection``): such a record is never a designated origin, whoever
    named it. Our own ``<untrusted-data>`` delimiters are not the record's content; a forged
    one inside it (escaped when it was wrapped) still counts against the record."""
    return injection_score(strip_markup(text).replace("&lt;", "<")).flagged


def not_asker_derived(origins: Iterable[ArgumentOrigin]) -> list[ArgumentOrigin]:
    return [o for o in origins if not o.asker_derived]


__all__ = [
    "SAFE",
    "ArgumentOrigin",
    "Origin",
    "argument_origins",
    "designates",
    "instruction_like",
    "not_asker_derived",
]
