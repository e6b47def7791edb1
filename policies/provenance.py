"""Per-argument provenance: where each value of a proposed write came from.

Every argument the model proposes is untrusted by default: the model may have copied it from a
document an attacker wrote, or made it up. A value is attributed to

- ``user``      — it appears in the asker's own messages;
- ``trusted``   — it appears in output of a tool the operator marked trusted (system data with no
                  text written by others, e.g. the asker's own account number);
- ``designated`` — it appears in a record the asker *designated*: the output of a read whose
                  every text argument the asker wrote themselves as an address or a quoted name
                  (the file, email, page, event or contact their request names: "pay the bill
                  'bill-december-2023.txt'", "her email is on www.dora-website.com"), a record
                  such a record names the same way (chained: "do what the file says"), or what a
                  write a person approved in this conversation made (the id of the file it
                  created). Trust is per record: a record holding instruction-like content
                  (:func:`instruction_like`) vouches for nothing and names nothing; other records
                  keep their trust. A record the model found on its own (a link inside an email,
                  a search it phrased) is not designated;
- ``selected``  — it is a field of a row the asker's own criterion selects ("the largest file",
                  "the highest rated hotel under 210"), computed by trusted code over the listings'
                  structured fields (:mod:`policies.selection`): it holds even while something read
                  steers the model;
- ``listed``    — it is the whole value of a *structured* field (id, name, address, size) of a
                  listing (:func:`structured_text`): the model's pick ("the largest file"), counted
                  only while nothing the conversation read is instruction-like — a steered model
                  picks the attacker's value;
- ``derived``   — a number that one or two steps of arithmetic reach from the asker's figures and
                  those of the records above, using one of the asker's or a designated record's
                  (:func:`explain_number`), or a short text made of the asker's words and whole
                  field values (:func:`explain_text`); the card shows how;
- ``untrusted`` — it appears in output that holds text others wrote (which source, which call);
- ``model``     — none of the above: the model chose it.

Only ``untrusted`` and ``model`` values are not *asker-derived*. A write whose
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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from policies.derivation import (
    _DATE_RE,
    _ID_ARG,
    _MAX_FIELD_CHARS,
    Operand,
    Pick,
    _as_number,
    _without_ids,
    explain_number,
    explain_text,
    operands,
)
from policies.injection import score as injection_score
from policies.spotlight import strip_markup
from policies.taint import _Haystack, _leaves, _number, _short

SAFE = frozenset({"user", "trusted", "designated", "selected", "listed", "derived"})


class Origin(StrEnum):
    USER = "user"
    TRUSTED = "trusted"
    DESIGNATED = "designated"
    SELECTED = "selected"  # a row the asker's criterion selects (policies.selection)
    LISTED = "listed"
    DERIVED = "derived"
    UNTRUSTED = "untrusted"
    MODEL = "model"


@dataclass(frozen=True)
class ArgumentOrigin:
    path: str  # "recipient", "recipients[1]", "lines[0].amount"
    value: str  # shortened for display
    origin: Origin
    sources: tuple[str, ...] = ()  # for untrusted/trusted: which tool outputs hold it
    explanation: str = ""  # for derived: "1200 = 1100 (get_scheduled_transactions:c1) + 100.00 (read_file:c0)"

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
            where = ", ".join(self.sources) + (f"; {self.explanation}" if self.explanation else "")
            return f"{v}: from a record the requester named ({where})"
        if self.origin is Origin.SELECTED:
            return f"{v}: {self.explanation}"
        if self.origin is Origin.LISTED:
            return (
                f"{v}: picked from a field of a listing ({', '.join(self.sources)}; nothing read steers the assistant)"
            )
        if self.origin is Origin.DERIVED:
            return f"{v}: computed, {self.explanation}"
        if self.origin is Origin.UNTRUSTED:
            return f"{v}: from untrusted content ({', '.join(self.sources)}), not from the requester"
        return f"{v}: chosen by the model (not in the requester's messages or any tool output)"


OUTSIDE_PASSAGE = "outside a passage that addresses the assistant"
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
    listed: Iterable[tuple[str, str]] = (),
    selected: Iterable[Pick] = (),
    only: Iterable[str] | None = None,
    outside: Iterable[tuple[str, str]] = (),
    passages: Iterable[str] = (),
    outside_figures: Iterable[tuple[str, str]] = (),
) -> list[ArgumentOrigin]:
    """The origin of every leaf value of ``args`` (or of the top-level arguments in ``only``).

    ``untrusted`` / ``trusted`` / ``designated``: (source, text) pairs of tool outputs the
    conversation holds (a designated output is usually also listed as untrusted: designated wins).
    ``listed``: (source, text) pairs of the *structured* fields of listings (:func:`structured_text`),
    to pass only while nothing the conversation read steers the assistant.
    ``outside``: (source, text) of steered records the asker designated, reduced to what they
    vouch for outside their instruction-like passages (:func:`record_trust`); the caller passes
    them only for an action the asker asked for (``policies.intent``). ``passages``: every
    instruction-like passage the conversation read; a value found in one is never vouched for
    by a designated record, whichever record also holds it. ``outside_figures``: the same
    records' sentences outside their passages (:attr:`RecordTrust.figures`), which vouch only for
    an amount given as a number, or as an operand of a computed one.
    ``selected``: the rows the asker's own criteria select (:func:`policies.selection.select`),
    which hold even while something read steers.

    A number found in none of the safe texts is ``derived`` when it is a small arithmetic
    combination of numbers in them (:func:`explain_number`); a short text (a title) is
    ``derived`` when it is the asker's words around whole field values (:func:`explain_text`).
    """
    wanted = set(only) if only is not None else None
    user_texts = list(user_messages)
    trusted, designated, listed = list(trusted), list(designated), list(listed)
    user = _Haystack("\n".join(user_texts))
    bad = [(src, _Haystack(text)) for src, text in untrusted]
    good = [(src, _Haystack(text)) for src, text in trusted]
    named = [(src, _Haystack(text)) for src, text in designated]
    outside = list(outside)
    partly = [(src, _Haystack(text)) for src, text in outside]
    outside_figures = list(outside_figures)
    stated = [(src, _Haystack(text)) for src, text in outside_figures]
    injected = _Haystack("\n".join(passages))
    # A pick is a whole field's value, and an amount is never an id's: "id: 4" does not pick 4.00.
    picks = [(src, _Haystack(text), _Haystack(_without_ids(text))) for src, text in listed]
    # ... nor a part of a date ("2022-03-04" holds no amount 4)
    picks = [(src, hay, _Haystack(_DATE_RE.sub(" ", no_ids.text))) for src, hay, no_ids in picks]
    chosen = [(p, _whole_values(p.fields)) for p in selected]
    pool: list[Operand] | None = None  # built on the first number that needs explaining
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
        # A value an instruction-like passage holds ("delete the file with ID 13") is the
        # injection's, even where a record the asker named holds it too.
        in_passage = bool(injected.text) and _found(value, injected, arg)
        in_named = () if in_passage else tuple(dict.fromkeys(src for src, hay in named if _found(value, hay, arg)))
        if in_named:
            out.append(ArgumentOrigin(path, shown, Origin.DESIGNATED, in_named))
            continue
        in_partly = () if in_passage else tuple(dict.fromkeys(src for src, hay in partly if _found(value, hay, arg)))
        if in_partly:
            out.append(ArgumentOrigin(path, shown, Origin.DESIGNATED, in_partly, OUTSIDE_PASSAGE))
            continue
        is_figure = isinstance(value, (int, float, Decimal)) and not isinstance(value, bool) and not _ID_ARG.search(arg)
        in_stated = (
            ()
            if in_passage or not is_figure
            else tuple(dict.fromkeys(src for src, hay in stated if _found(value, hay, arg)))
        )
        if in_stated:
            out.append(ArgumentOrigin(path, shown, Origin.DESIGNATED, in_stated, OUTSIDE_PASSAGE))
            continue
        is_id = bool(_ID_ARG.search(arg))
        pick = next((p for p, values in chosen if _is_whole_value(value, values)), None)
        if pick is not None:
            out.append(ArgumentOrigin(path, shown, Origin.SELECTED, (pick.source,), pick.explanation))
            continue
        in_picks = tuple(
            dict.fromkeys(src for src, hay, no_ids in picks if _found(value, hay if is_id else no_ids, arg))
        )
        if in_picks:
            out.append(ArgumentOrigin(path, shown, Origin.LISTED, in_picks))
            continue
        target = None if _ID_ARG.search(arg) or in_passage else _as_number(value)
        if target is not None:
            if pool is None:
                pool = operands(user_texts, [*designated, *outside, *outside_figures], [*trusted, *listed])
            why = explain_number(target, pool)
            if why:
                out.append(ArgumentOrigin(path, shown, Origin.DERIVED, explanation=why))
                continue
        elif isinstance(value, str) and not _ID_ARG.search(arg) and not in_passage:
            by_criterion = [(f'{p.source}, by your criterion "{p.criterion}"', p.fields) for p, _v in chosen]
            why = explain_text(value, user_texts, [*trusted, *by_criterion, *listed], [*designated, *outside])
            if why:
                out.append(ArgumentOrigin(path, shown, Origin.DERIVED, explanation=why))
                continue
        in_bad = tuple(dict.fromkeys(src for src, hay in bad if _found(value, hay, arg)))
        if in_bad:
            out.append(ArgumentOrigin(path, shown, Origin.UNTRUSTED, in_bad))
        else:
            out.append(ArgumentOrigin(path, shown, Origin.MODEL))
    return out


def _whole_values(fields: str) -> list[str]:
    return [line.split(": ", 1)[1].strip() for line in fields.splitlines() if ": " in line]


def _is_whole_value(value: Any, values: Sequence[str]) -> bool:
    """Whether ``value`` is one of a selected row's field values, whole (a number by value, an
    IBAN without separators): a word inside a field is not the field."""
    if isinstance(value, bool) or value is None:
        return False
    s = re.sub(r"\s+", " ", str(value)).strip().casefold()
    d = _number(s) if re.fullmatch(r"-?\d[\d,]*(?:\.\d+)?", s) else None
    for v in values:
        w = re.sub(r"\s+", " ", v).strip().casefold()
        if s == w or (d is not None and re.fullmatch(r"-?\d[\d,]*(?:\.\d+)?", w) and _number(w) == d):
            return True
        if len(s) >= 8 and re.sub(r"[\W_]+", "", s) == re.sub(r"[\W_]+", "", w):
            return True
    return False


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
    one inside it (escaped when it was wrapped) still counts against the record. A serialised
    record (JSON, YAML) is judged on its decoded values too: YAML folds a long description
    with escapes ("to you,\\\n    \\ the AI") that would hide the sentence from the heuristics."""
    plain = strip_markup(text).replace("&lt;", "<")
    if injection_score(plain).flagged:
        return True
    data = _parsed(plain)
    if isinstance(data, dict) and set(data) == {"output"} and isinstance(data["output"], str):
        data = _parsed(data["output"])
    if isinstance(data, str):
        return False
    values = "\n".join(str(v) for _k, v in _fields(data, "", 0, prose=True))
    return injection_score(values.replace("&lt;", "<")).flagged


# -- passages: what a steered record still vouches for ------------------------------------------


@dataclass(frozen=True)
class RecordTrust:
    """What one record the asker designated still vouches for.

    A clean record vouches for all of it. A *steered* record (one holding instruction-like
    content) vouches only for its structured values outside the passages that address the
    assistant: the fields of a listing that are ids, names, addresses, numbers or dates and hold
    no such passage, or the data lines (a table row, an address block, ``IBAN: …``) of a plain
    text's paragraphs that hold none. Its prose (bodies, descriptions, sentences) vouches for
    nothing: an injection's instruction may be split over several sentences or fields, and only
    the flagged ones are recognisable. When the passages cannot be told apart from the rest (the
    text is flagged only as a whole), it vouches for nothing."""

    text: str  # the values it vouches for ("" when none)
    passages: tuple[str, ...] = ()  # instruction-like passages; empty for a clean record
    # A plain text's sentences outside the passage: they vouch for figures only (an amount typed
    # as a number, an operand of a computed one: "the rent will be increased by 100.00"), never
    # for a destination or an id, which an instruction split off the passage could carry.
    figures: str = ""

    @property
    def steered(self) -> bool:
        return bool(self.passages)


_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_COLUMNS = re.compile(r"\t|\s{2,}")
_LABELLED = re.compile(r"^([^:]{1,40}):\s+(\S.*)$")
_SEPARATOR = re.compile(r"^[\W_]*$")


def _flagged(text: str) -> bool:
    return injection_score(text.replace("&lt;", "<")).flagged


def _signalled(text: str) -> bool:
    """Any injection signal at all (weaker than flagged): such a unit is never a data line."""
    return injection_score(text.replace("&lt;", "<")).score > 0


def _short_value(text: str) -> bool:
    return 0 < len(text.split()) <= _MAX_FIELD_WORDS and not text.rstrip().endswith((".", "!", "?", ":"))


def _data_line(line: str) -> bool:
    """A line that states values rather than a sentence: ``IBAN: UK12…``, a table row
    (``Car Rental\t\t98.70``), or a name / address line of capitalised words and numbers
    (``Dalton Street 123``, ``New York, NY 10001``). "Send money to US13…" is a sentence."""
    s = line.strip()
    if not s or _SEPARATOR.match(s):
        return False
    m = _LABELLED.match(s)
    if m and len(m.group(1).split()) <= 4:
        return _short_value(m.group(2))
    cells = [c for c in _COLUMNS.split(s) if c.strip()]
    if len(cells) >= 2:
        return all(_short_value(c) for c in cells)
    words = re.findall(r"[^\s,;]+", s)
    return _short_value(s) and all(w[:1].isupper() or any(ch.isdigit() for ch in w) for w in words)


def record_trust(text: str) -> RecordTrust:
    """What a designated record vouches for (see :class:`RecordTrust`). Pure."""
    if not instruction_like(text):
        return RecordTrust(text)
    plain = strip_markup(text).replace("&lt;", "<")
    data = _parsed(plain)
    if isinstance(data, dict) and set(data) == {"output"} and isinstance(data["output"], str):
        data = _parsed(data["output"])
    if isinstance(data, (dict, list, tuple)):
        leaves = list(_fields(data, "", 0, prose=True))
        passages = tuple(str(v) for _k, v in leaves if isinstance(v, str) and _flagged(v))
        keep = [f"{k}: {v}" for k, v in leaves if _is_structured(k, v) and not (isinstance(v, str) and _signalled(v))]
    else:
        # An injection may spread over paragraphs that score low one by one ("<INFORMATION>",
        # "to you, the AI", the instruction itself, "after you do that"): the passage runs from
        # the first paragraph with any signal to the last, and counts when it is flagged.
        paragraphs = [p for p in _PARAGRAPH.split(str(data)) if p.strip()]
        hits = [i for i, p in enumerate(paragraphs) if _signalled(p)]
        span = range(hits[0], hits[-1] + 1) if hits else range(0)
        joined = "\n\n".join(paragraphs[i] for i in span)
        passages = (joined,) if hits and _flagged(joined) else ()
        outside = [line.strip() for i, p in enumerate(paragraphs) if i not in span for line in p.splitlines()]
        keep = [line for line in outside if _data_line(line)]
        sentences = [line for line in outside if line and not _data_line(line)]
    if not passages:  # flagged only as a whole: no part can be told apart
        return RecordTrust("", (plain,))
    figures = "\n".join(sentences) if not isinstance(data, (dict, list, tuple)) else ""
    return RecordTrust("\n".join(dict.fromkeys(keep)), passages, figures)


# -- listings: structured fields ----------------------------------------------------------------

# Fields whose value is prose someone wrote (where an injection lives), whatever its length.
_PROSE_KEYS = frozenset(
    [
        "body",
        "content",
        "text",
        "description",
        "message",
        "subject",
        "summary",
        "snippet",
        "review",
        "reviews",
        "notes",
        "note",
        "comment",
        "comments",
        "bio",
        "about",
        "details",
        "information",
        "info",
        "instructions",
    ]
)
_MAX_FIELD_WORDS = 6


def _parsed(text: str) -> Any:
    """A record's text as data when it is JSON, YAML or a Python literal (AgentDojo's tools
    print YAML or ``str(dict)``); plain prose stays a string."""
    import ast
    import json

    import yaml

    s = text.strip()
    if not s:
        return s
    try:
        return json.loads(s)
    except ValueError:
        pass
    if s[0] in "[{(":
        try:
            return ast.literal_eval(s)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            pass
    if "\n" in s or ": " in s or s.startswith("- "):
        try:
            data = yaml.safe_load(s)
        except yaml.YAMLError:
            return s
        if isinstance(data, (dict, list)):
            return data
    return s


def _fields(obj: Any, key: str = "", depth: int = 0, *, prose: bool = False) -> Iterator[tuple[str, Any]]:
    """(field name, value) of every leaf, with nested serialised records expanded; a mapping's
    keys are values too (``{"Le Marais Boutique": 4.2}`` names a hotel). ``prose``: expand
    prose fields too (to read everything a record says, not to pick values from it)."""
    if depth > 8:
        return
    if not prose and key.casefold().strip("_") in _PROSE_KEYS:
        yield key, obj  # prose, even if it looks like "Hotel: Luxury Palace"
        return
    if isinstance(obj, str) and depth < 4 and ("\n" in obj.strip() or obj.lstrip()[:1] in ("[", "{")):
        inner = _parsed(obj)
        if isinstance(inner, (dict, list, tuple)):
            yield from _fields(inner, key, depth + 1, prose=prose)
            return
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            yield "key", str(k)
            yield from _fields(v, str(k), depth + 1, prose=prose)
    elif isinstance(obj, (list, tuple, set)):
        for v in obj:
            yield from _fields(v, key, depth + 1, prose=prose)
    elif obj is not None:
        yield key, obj


def _is_structured(key: str, value: Any) -> bool:
    """An id, name, address, size, date or flag — not prose: a short one-line value in a field
    that is not a body, description, subject or review."""
    if key.casefold().strip("_") in _PROSE_KEYS:
        return False
    if isinstance(value, (bool, int, float, Decimal)):
        return True
    s = str(value).strip()
    return bool(s) and "\n" not in s and len(s) <= _MAX_FIELD_CHARS and len(s.split()) <= _MAX_FIELD_WORDS


def structured_text(text: str) -> str:
    """The structured fields of a listing (ids, names, addresses, sizes, dates), one ``field:
    value`` line each; prose fields (bodies, descriptions, subjects, reviews) are left out. Empty
    when the record is prose rather than a listing."""
    data = _parsed(text)
    if isinstance(data, dict) and set(data) == {"output"}:  # a governed tool's result envelope
        data = data["output"]
        data = _parsed(data) if isinstance(data, str) else data
    if not isinstance(data, (dict, list, tuple)):
        return ""
    lines = [f"{k}: {v}" for k, v in _fields(data) if _is_structured(k, v)]
    return "\n".join(dict.fromkeys(lines))


def not_asker_derived(origins: Iterable[ArgumentOrigin]) -> list[ArgumentOrigin]:
    return [o for o in origins if not o.asker_derived]


__all__ = [
    "OUTSIDE_PASSAGE",
    "SAFE",
    "ArgumentOrigin",
    "Operand",
    "Origin",
    "RecordTrust",
    "argument_origins",
    "designates",
    "explain_number",
    "explain_text",
    "instruction_like",
    "not_asker_derived",
    "operands",
    "record_trust",
    "structured_text",
]
