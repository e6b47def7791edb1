"""Derivations: a computed amount or a composed title explained from the figures and words the
asker and the records they designated supplied (``derived`` in :mod:`policies.provenance`).

A model-chosen number is explained when one or two steps of + − × ÷ % reach it, to the cent, from
those figures, at least one of them the asker's or a designated record's; a short text when it is
the asker's words around whole field values. The card shows the explanation."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from policies.taint import _number


@dataclass(frozen=True)
class Operand:
    value: Decimal
    source: str  # "your message" or the tool output ("read_file:c0")
    anchor: bool = False  # the asker's own figure, or one in a record they designated

    def show(self) -> str:
        return f"{_fmt(self.value)} ({self.source})"


@dataclass(frozen=True)
class Pick:
    """The fields of a row the asker's criteria select, and how."""

    source: str  # the enumeration the row is in
    fields: str  # "field: value" lines: the row's name and structured fields, whole values
    explanation: str  # for the card
    criterion: str = ""  # the asker's words that decided it


_ID_ARG = re.compile(r"(?:^|_)ids?_?$|^id_", re.IGNORECASE)
_MAX_FIELD_CHARS = 64
_ASKER = "your message"
_DATE_RE = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?|\d{1,2}:\d{2}(?::\d{2})?|\d{1,2}/\d{1,2}/\d{2,4}"
)
_INDEX_RE = re.compile(r"\[\d+\]")
_CENT = Decimal("0.01")
_MAX_POOL = 150  # operands considered for a three-operand explanation (~N² partial results)


def _fmt(d: Decimal) -> str:
    return format(d.normalize(), "f")


def _numbers_in(text: str) -> list[Decimal]:
    """Amounts in a text: dates, times and list indexes are not operands."""
    from policies.taint import _NUMBER_RE

    clean = _INDEX_RE.sub(" ", _DATE_RE.sub(" ", text))
    out = []
    for m in _NUMBER_RE.finditer(clean):
        d = _number(m.group(0))
        if d is not None and d not in (0, 1):
            out.append(d)
    return out


def operands(
    user_messages: Sequence[str],
    designated: Sequence[tuple[str, str]] = (),
    others: Sequence[tuple[str, str]] = (),
) -> list[Operand]:
    """The numbers a computed amount may be built from, each value once with its first source:
    the asker's and those of records they designated (*anchors*), then those of trusted system
    data and of listings' structured fields."""
    seen: dict[Decimal, Operand] = {}
    for text in user_messages:
        for d in _numbers_in(text):
            seen.setdefault(d, Operand(d, _ASKER, anchor=True))
    for src, text in designated:
        for d in _numbers_in(text):
            seen.setdefault(d, Operand(d, src, anchor=True))
    for src, text in others:
        for d in _numbers_in(_without_ids(text)):
            seen.setdefault(d, Operand(d, src))
    return list(seen.values())


def _without_ids(fields: str) -> str:
    """``field: value`` lines without those of id fields (``id``, ``id_``, ``file_id``)."""
    return "\n".join(line for line in fields.splitlines() if not _ID_ARG.search(line.split(":", 1)[0].strip()))


def _as_number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, Decimal)):
        return _number(str(value))
    if isinstance(value, str) and re.fullmatch(r"\s*\d[\d,]*(?:\.\d+)?\s*", value):
        return _number(value.strip())
    return None


def _apply(op: str, a: Decimal, b: Decimal) -> Decimal | None:
    if op == "+":
        return a + b
    if op == "−":
        return a - b
    if op == "×":
        return a * b
    if op == "÷":
        return a / b if b else None
    return a * b / 100 if b <= 100 else None  # "b % of a" (a percentage is at most 100)


def _expr(op: str, a: str, b: str) -> str:
    return f"{b} % of {a}" if op == "%" else f"{a} {op} {b}"


_OPS = ("%", "+", "−", "×", "÷")  # "%" first: "19.5 % of 1000" reads better than "19.5 × 10"


def _q(d: Decimal) -> Decimal:
    return d.quantize(_CENT)


def explain_number(target: Decimal, pool: Sequence[Operand]) -> str:
    """How ``target`` follows from the operands by one or two steps of +, −, ×, ÷ or "b % of a"
    (to the cent), e.g. ``200.29 = 19.5 % of 1000 (get_most_recent_transactions:c0) + 5.29
    (your message)``; "" when it does not.

    Every explanation uses an *anchor*: a figure from the asker's own message ("19.5 %", "a fee
    of 5.29") or from a record they designated ("increased by 100.00"). Figures of listings and
    system data alone explain nothing: with a few dozen of them, some pair divides or sums to
    almost any small amount (200 ÷ 50 = 4), which is coincidence, not the asker's computation."""
    if target <= 0 or not pool or not any(o.anchor for o in pool):
        return ""
    goal = _q(target)
    ops = list(pool)
    for op in _OPS:
        for a in ops:
            for b in ops:
                if a is b or not (a.anchor or b.anchor):
                    continue
                r = _apply(op, a.value, b.value)
                if r is not None and _q(r) == goal:
                    return f"{_fmt(goal)} = {_expr(op, a.show(), b.show())}"
    if len(ops) > _MAX_POOL:
        return ""
    # (a op1 b) ± c — a percentage, product or sum, then a fee or amount added or taken off —
    # with three distinct operands, an anchor among them.
    partial: dict[Decimal, list[tuple[str, bool, Operand, Operand]]] = {}
    for op in _OPS:
        for a in ops:
            for b in ops:
                if a is b:
                    continue
                r = _apply(op, a.value, b.value)
                if r is not None:
                    partial.setdefault(_q(r), []).append((_expr(op, a.show(), b.show()), a.anchor or b.anchor, a, b))
    for c in ops:
        for op, x in (("+", goal - c.value), ("−", goal + c.value)):
            for shown, anchored, a, b in partial.get(_q(x), ()):
                if c is not a and c is not b and (anchored or c.anchor):
                    return f"{_fmt(goal)} = ({shown}) {op} {c.show()}"
    return ""


_FILLER = frozenset(
    ["a", "an", "the", "at", "in", "on", "of", "for", "to", "with", "and", "-", "–", "—", ":", ",", "&", "@", "/", "|"]
)
_WORD_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")


def explain_text(
    value: str,
    user_messages: Sequence[str],
    field_records: Sequence[tuple[str, str]],
    designated: Sequence[tuple[str, str]] = (),
) -> str:
    """Whether a short text (an event title) is the asker's own words around whole field values
    of trusted records, listings or designated records ("Dinner at New Israeli Restaurant" = the
    asker's "dinner" + the restaurant's name from the listing); "" when any word is neither.
    Links and addresses never qualify: they must be found whole."""
    s = re.sub(r"\s+", " ", value).strip()
    if not s or len(s) > 120 or _ADDRESS_LIKE.search(s):
        return ""
    parts: list[tuple[str, str]] = []
    for src, text in [*field_records, *designated]:
        for line in text.splitlines():
            v = line.split(": ", 1)[1] if ": " in line else line
            v = v.strip()
            if 3 <= len(v) <= _MAX_FIELD_CHARS and not v.replace(".", "").isdigit():
                parts.append((v, src))
    parts.sort(key=lambda p: -len(p[0]))
    rest = s.casefold()
    used: list[str] = []
    for v, src in parts:
        pat = rf"(?<![\w]){re.escape(v.casefold())}(?![\w])"
        if re.search(pat, rest):
            rest = re.sub(pat, " ", rest)
            used.append(f"“{v}” ({src})")
    if not used:
        return ""
    words = {w.casefold() for text in user_messages for w in _WORD_RE.findall(text)}
    left = [w for w in _WORD_RE.findall(rest) if w not in _FILLER]
    if any(w not in words for w in left):
        return ""
    mine = " ".join(left)
    return " + ".join(([f"“{mine}” ({_ASKER})"] if mine else []) + list(dict.fromkeys(used)))


_ADDRESS_LIKE = re.compile(r"@|https?://|www\.|\.[a-z]{2,4}/", re.IGNORECASE)


__all__ = ["Operand", "Pick", "explain_number", "explain_text", "operands"]
