"""Finding personal data in text and redacting it for an audience."""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from decimal import Decimal
from typing import Any

from policies.directory import Clearance
from policies.pii.kinds import (
    ALL,
    DEFAULT_PLACEHOLDER,
    IBAN_LENGTHS,
    VISIBLE_FROM,
    PiiKind,
    PiiMatch,
    iban_valid,
    luhn_valid,
)

# ---------------------------------------------------------------------------------------------
# Patterns. Each candidate pattern is followed by a validator that may trim or reject it.

# Not glued to a word, an id ("ORD-...") or a decimal ("1.5...") on either side.
_NB = r"(?<![\w\-.+/])"
_NA = r"(?![\w\-]|[.,]\d)"

_EMAIL = re.compile(r"(?<![\w.%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@(?:[A-Za-z0-9\-]+\.)+[A-Za-z]{2,24}\b")
_DIGIT_RUN = re.compile(_NB + r"\d+(?:[ \-]\d+)*" + _NA)
_MAX_CARD_GROUPS = 5  # 4-4-4-4-3 is the most groups a printed card number has
_SSN = re.compile(_NB + r"(?!000|666|9\d\d)\d{3}([\- ])(?!00)\d{2}\1(?!0000)\d{4}" + _NA)
_NINO = re.compile(
    r"(?<![\w\-])(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r"( ?)\d{2}\1\d{2}\1\d{2}\1[A-D](?![\w\-])",
    re.IGNORECASE,
)
_IBAN = re.compile(r"(?<![\w\-])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,34}(?![\w\-])")
# Separators are required between groups, so there is one way to split the digits (no
# catastrophic backtracking on long digit runs).
_PHONE_INTL = re.compile(r"(?<![\w+])\+(?:\d{7,15}|\d{1,4}(?:[ .\-]?\(\d{1,5}\))?(?:[ .\-]\d{1,8}){1,6})" + _NA)
_PHONE_US = re.compile(_NB + r"(?:1[ .\-])?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}([ .\-]))[2-9]\d{2}[ .\-]\d{4}" + _NA)
_PHONE_TRUNK = re.compile(_NB + r"(?:0\d{2,4}[ \-]\d{3,4}[ \-]?\d{3,4}|0\d(?:[ .]\d{2}){4})" + _NA)


def _digits(s: str) -> str:
    return "".join(ch for ch in s if ch.isdigit())


def _cards(text: str) -> Iterable[tuple[int, int]]:
    # A run of digit groups joined by single spaces/dashes; inside it, every non-overlapping
    # stretch of whole groups that is printed like a card and passes Luhn ("paid 4111 1111 1111
    # 1111 2 units", two cards separated by a space).
    for m in _DIGIT_RUN.finditer(text):
        raw = m.group(0)
        if len(raw) < 13:
            continue
        groups = [(g.start(), g.end()) for g in re.finditer(r"\d+", raw)]
        seps = [raw[e] for _, e in groups[:-1]]
        i = 0
        while i < len(groups):
            taken = 0
            first = groups[i][1] - groups[i][0]
            if first != 4 and not 13 <= first <= 19:
                i += 1  # every card starts with a 4-digit group or is one 13-19 digit run
                continue
            for length in range(min(_MAX_CARD_GROUPS, len(groups) - i), 0, -1):
                if len(set(seps[i : i + length - 1])) > 1:
                    continue  # "4111 1111-1111 1111": not how anyone writes a card number
                run = groups[i : i + length]
                if not _card_grouping([e - s for s, e in run]):
                    continue
                s, e = run[0][0], run[-1][1]
                digits = _digits(raw[s:e])
                if 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits):
                    yield m.start() + s, m.start() + e
                    taken = length
                    break
            i += taken or 1


def _card_grouping(lengths: list[int]) -> bool:
    """How card numbers are printed: one run, 4-4-4-4(-n), or Amex/Diners 4-6-5 / 4-6-4."""
    if len(lengths) == 1:
        return True
    if lengths in ([4, 6, 5], [4, 6, 4]):
        return True
    return lengths[0] == 4 and all(n == 4 for n in lengths[1:-1]) and 1 <= lengths[-1] <= 4


def _ibans(text: str) -> Iterable[tuple[int, int]]:
    for m in _IBAN.finditer(text):
        raw = m.group(0)
        expected = IBAN_LENGTHS.get(raw[:2])
        if expected is None:
            continue
        # Walk the raw text until `expected` alphanumerics are consumed: trailing words
        # ("... 7654 32 PAID") are not part of the IBAN.
        count, end = 0, 0
        for i, ch in enumerate(raw):
            if ch != " ":
                count += 1
            if count == expected:
                end = i + 1
                break
        if count != expected:
            continue
        rest = raw[end:]
        if rest and not rest.startswith(" "):
            continue  # glued to more characters: not a whole IBAN
        if iban_valid(raw[:end].replace(" ", "")):
            yield m.start(), m.start() + end


def _phones(text: str) -> Iterable[tuple[int, int]]:
    for m in _PHONE_INTL.finditer(text):
        raw = m.group(0)
        if 8 <= len(_digits(raw)) <= 15:
            yield m.start(), m.end()
    for m in _PHONE_US.finditer(text):
        yield m.start(), m.end()
    for m in _PHONE_TRUNK.finditer(text):
        if 10 <= len(_digits(m.group(0))) <= 11:
            yield m.start(), m.end()


def _regex(pattern: re.Pattern[str]) -> Callable[[str], Iterable[tuple[int, int]]]:
    return lambda text: ((m.start(), m.end()) for m in pattern.finditer(text))


# Order = priority when matches overlap: checksum-validated kinds beat shape-only kinds.
_DETECTORS: tuple[tuple[PiiKind, Callable[[str], Iterable[tuple[int, int]]]], ...] = (
    (PiiKind.IBAN, _ibans),
    (PiiKind.CARD, _cards),
    (PiiKind.SSN, _regex(_SSN)),
    (PiiKind.UK_NINO, _regex(_NINO)),
    (PiiKind.EMAIL, _regex(_EMAIL)),
    (PiiKind.PHONE, _phones),
)

_MIN_SENSITIVE_LEN = 3

# Every pattern above needs a digit or an "@": text with neither has nothing for them to find
# (most audit and log strings: names, decisions, tool names), checked in one C-speed scan.
_MAY_MATCH = re.compile(r"[\d@]")


_TOKEN = re.compile(r"\w+|[^\w\s]")


@functools.lru_cache(maxsize=64)
def _sensitive_index(values: tuple[str, ...]) -> dict[str, list[str]]:
    """Values (lower-cased, longest first) by their first token; cached because a log filter or
    a result set reuses the same values for every record. A token index instead of one big
    alternation keeps thousands of values (a column of salaries) linear in the text length."""
    index: dict[str, list[str]] = {}
    for v in {v.strip().lower() for v in values}:
        if len(v) < _MIN_SENSITIVE_LEN:
            continue  # "0" or "NY" would redact half the text
        first = _TOKEN.match(v)
        if first is not None:
            index.setdefault(first.group(0), []).append(v)
    for vs in index.values():
        vs.sort(key=len, reverse=True)
    return index


def _sensitive(text: str, values: tuple[str, ...]) -> Iterable[tuple[int, int]]:
    index = _sensitive_index(values)
    if not index:
        return
    for tok in _TOKEN.finditer(text):
        candidates = index.get(tok.group(0).lower())
        if not candidates:
            continue
        start = tok.start()
        for v in candidates:
            end = start + len(v)
            # Whole tokens only: a salary of 85000 is not inside 1850000 (the first token must
            # equal a whole text token; the last must not run on into a word).
            if text[start:end].lower() == v and not (v[-1].isalnum() and end < len(text) and _is_word(text[end])):
                yield start, end
                break


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def detect(text: str, *, sensitive_values: Iterable[Any] = ()) -> list[PiiMatch]:
    """All PII in ``text``, non-overlapping, in order of position.

    ``sensitive_values`` are literal values (e.g. from configured sensitive columns) reported
    as ``sensitive`` wherever they occur as whole tokens (case-insensitive, ≥ 3 characters).
    """
    if not text:
        return []
    candidates: list[tuple[PiiKind, int, int]] = []
    values = tuple(str(v) for v in sensitive_values if v is not None)
    if values:
        candidates += [(PiiKind.SENSITIVE, s, e) for s, e in _sensitive(text, values)]
    if _MAY_MATCH.search(text) is not None:
        for kind, find in _DETECTORS:
            candidates += [(kind, s, e) for s, e in find(text)]
    if not candidates:
        return []
    # Candidates arrive in priority order; for the same kind, longer first.
    priority = {kind: i for i, kind in enumerate([PiiKind.SENSITIVE, *(k for k, _ in _DETECTORS)])}
    candidates.sort(key=lambda c: (priority[c[0]], -(c[2] - c[1]), c[1]))
    # Accepted spans never overlap, so sorted by start they are sorted by end too: a bisect
    # finds the only two neighbours that could overlap a candidate.
    starts: list[int] = []
    ends: list[int] = []
    out: list[PiiMatch] = []
    for kind, s, e in candidates:
        i = bisect.bisect_left(starts, s)
        if (i > 0 and ends[i - 1] > s) or (i < len(starts) and starts[i] < e):
            continue
        starts.insert(i, s)
        ends.insert(i, e)
        out.append(PiiMatch(kind, s, e, text[s:e]))
    out.sort(key=lambda m: m.start)
    return out


def redact(
    text: str,
    *,
    kinds: Collection[PiiKind] = ALL,
    placeholder: str = DEFAULT_PLACEHOLDER,
    sensitive_values: Iterable[Any] = (),
) -> str:
    """``text`` with every match of ``kinds`` replaced by ``placeholder.format(kind=...)``."""
    matches = [m for m in detect(text, sensitive_values=sensitive_values) if m.kind in kinds]
    if not matches:
        return text
    parts: list[str] = []
    pos = 0
    for m in matches:
        parts.append(text[pos : m.start])
        parts.append(placeholder.format(kind=m.kind.value))
        pos = m.end
    parts.append(text[pos:])
    return "".join(parts)


def hidden_kinds(clearance: Clearance) -> frozenset[PiiKind]:
    """The kinds an audience with ``clearance`` may not see in answers."""
    return frozenset(k for k, need in VISIBLE_FROM.items() if clearance < need)


def redact_for(clearance: Clearance, text: str, *, sensitive_values: Iterable[Any] = ()) -> str:
    """Redact what an audience with ``clearance`` may not see (table in the module docstring)."""
    kinds = hidden_kinds(clearance)
    if not kinds:
        return text
    return redact(text, kinds=kinds, sensitive_values=sensitive_values)


# Audit payloads and log extras repeat the same short strings (field values, tool names,
# decisions, reasons) record after record: each is scanned once, not once per record.
_CACHED_LEN = 512


@functools.lru_cache(maxsize=4096)
def _redact_every_kind(text: str, placeholder: str) -> str:
    return redact(text, placeholder=placeholder)


def redact_obj(
    obj: Any,
    *,
    kinds: Collection[PiiKind] = ALL,
    placeholder: str = DEFAULT_PLACEHOLDER,
    sensitive_values: Iterable[Any] = (),
) -> Any:
    """A copy of a dict/list/tuple/set structure with PII redacted from every string.

    Keys are redacted too (an email used as a key is still an email). Integers whose digits
    form a card number or similar are replaced by a placeholder string. Other objects are
    returned unchanged: convert models to dicts first (``model_dump()``/``asdict``).
    """
    values = tuple(str(v) for v in sensitive_values if v is not None)
    every_kind = not values and (kinds is ALL or frozenset(kinds) == ALL)

    def walk(o: Any) -> Any:
        if isinstance(o, str):
            if every_kind and len(o) <= _CACHED_LEN:
                return _redact_every_kind(o, placeholder)
            return redact(o, kinds=kinds, placeholder=placeholder, sensitive_values=values)
        if isinstance(o, bool) or o is None:
            return o
        if isinstance(o, (int, float, Decimal)):
            s = str(o)
            if len(s) >= 9 or values:
                found = [m for m in detect(s, sensitive_values=values) if m.kind in kinds]
                if found:  # a number is redacted whole, never "[REDACTED:sensitive].5"
                    return placeholder.format(kind=found[0].kind.value)
            return o
        if isinstance(o, Mapping):
            return {walk(k): walk(v) for k, v in o.items()}
        if isinstance(o, list):
            return [walk(v) for v in o]
        if isinstance(o, tuple):
            return tuple(walk(v) for v in o)
        if isinstance(o, (set, frozenset)):
            return type(o)(walk(v) for v in o)
        return o

    return walk(obj)
