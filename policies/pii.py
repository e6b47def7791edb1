"""PII detection and redaction: emails, phones, payment cards, national ids, IBANs, sensitive values.

Detection is deliberately conservative about *shape* and strict about *checksums*: card numbers
must pass Luhn, IBANs mod-97 and their country's length, US SSNs the SSA's area/group/serial
rules, UK NI numbers HMRC's prefix rules, and phone numbers must look like dialable numbers
(NANP rules for US numbers, a ``+country`` prefix or a leading trunk ``0`` otherwise), so ISO
dates, prices, order numbers and SKUs stay readable.

Who sees what in *answers* (``redact_for``); logs and traces are always fully redacted:

============  ======  ========  ============  ==========
kind          public  internal  confidential  restricted
============  ======  ========  ============  ==========
email         no      yes       yes           yes
phone         no      yes       yes           yes
iban          no      no        yes           yes
card          no      no        no            yes
ssn, uk_nino  no      no        no            yes
sensitive     no      no        no            yes
============  ======  ========  ============  ==========

Emails and phones are work contacts, visible to every employee. IBANs are business bank
details that finance staff (confidential) work with. Card numbers, national ids and configured
sensitive values (salaries, home addresses, birth dates) are restricted.

Not detected: bare 10-digit numbers without separators as phones (indistinguishable from ids),
SSNs without separators, lowercase IBANs, emails with non-ASCII domains.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from policies.directory import Clearance
from policies.errors import PolicyFileError


class PiiKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    CARD = "card"
    SSN = "ssn"
    UK_NINO = "uk_nino"
    IBAN = "iban"
    SENSITIVE = "sensitive"  # a configured sensitive value (e.g. a salary or home address)


ALL: frozenset[PiiKind] = frozenset(PiiKind)
NATIONAL_IDS: frozenset[PiiKind] = frozenset({PiiKind.SSN, PiiKind.UK_NINO})
DEFAULT_PLACEHOLDER = "[REDACTED:{kind}]"

# The table in the module docstring: the lowest clearance that may see each kind in answers.
VISIBLE_FROM: Mapping[PiiKind, Clearance] = {
    PiiKind.EMAIL: Clearance.INTERNAL,
    PiiKind.PHONE: Clearance.INTERNAL,
    PiiKind.IBAN: Clearance.CONFIDENTIAL,
    PiiKind.CARD: Clearance.RESTRICTED,
    PiiKind.SSN: Clearance.RESTRICTED,
    PiiKind.UK_NINO: Clearance.RESTRICTED,
    PiiKind.SENSITIVE: Clearance.RESTRICTED,
}


@dataclass(frozen=True)
class PiiMatch:
    kind: PiiKind
    start: int
    end: int
    text: str


# ---------------------------------------------------------------------------------------------
# Validators


def luhn_valid(digits: str) -> bool:
    """True if the digit string passes the Luhn checksum."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# IBAN lengths by country (SWIFT IBAN registry).
IBAN_LENGTHS: Mapping[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_valid(iban: str) -> bool:
    """True for a compact (no spaces) IBAN with the right country length and mod-97 check."""
    iban = iban.upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", iban):
        return False
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


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
    for kind, find in _DETECTORS:
        candidates += [(kind, s, e) for s, e in find(text)]
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

    def walk(o: Any) -> Any:
        if isinstance(o, str):
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


# ---------------------------------------------------------------------------------------------
# Sensitive columns in tabular results


@dataclass(frozen=True)
class SensitiveColumn:
    """``table.column`` whose values only ``visible_from`` and above may see."""

    table: str
    column: str
    visible_from: Clearance = Clearance.RESTRICTED

    @property
    def qualified(self) -> str:
        return f"{self.table}.{self.column}"


@dataclass(frozen=True)
class RedactedTable:
    rows: list[list[Any]]
    redacted_columns: list[str]  # result column names whose values were replaced


@dataclass(frozen=True)
class SensitiveColumns:
    """Configured sensitive columns, e.g. ``employees.salary``.

    Result columns are matched by name, case-insensitively: ``employees.salary`` matches a
    qualified result column exactly; a bare ``salary`` matches when ``tables`` (the tables the
    query read) includes ``employees`` or when ``tables`` is not given (fail closed). A column
    renamed by an alias (``salary AS pay``) is NOT recognised here: the SQL guard must resolve
    aliases to source columns (sqlglot lineage) and pass those names.
    """

    columns: tuple[SensitiveColumn, ...] = ()

    @classmethod
    def default(cls) -> SensitiveColumns:
        return cls(
            (
                SensitiveColumn("employees", "salary", Clearance.RESTRICTED),
                SensitiveColumn("employees", "home_address", Clearance.RESTRICTED),
                SensitiveColumn("employees", "date_of_birth", Clearance.RESTRICTED),
            )
        )

    @classmethod
    def from_mapping(cls, raw: Any, *, where: str = "sensitive columns") -> SensitiveColumns:
        """From ``{"columns": [{"column": "employees.salary", "visible_from": "restricted"}]}``
        or a plain list of ``"table.column"`` strings."""
        items = raw.get("columns") if isinstance(raw, Mapping) else raw
        if not isinstance(items, list):
            raise PolicyFileError(f"{where}: expected a 'columns:' list")
        out: list[SensitiveColumn] = []
        for i, item in enumerate(items):
            spec = item if isinstance(item, Mapping) else {"column": item}
            name = str(spec.get("column", ""))
            if name.count(".") != 1 or not all(name.split(".")):
                raise PolicyFileError(f"{where}: columns[{i}]: {name!r} is not 'table.column' (e.g. employees.salary)")
            table, column = name.lower().split(".")
            try:
                clearance = Clearance.parse(str(spec.get("visible_from", "restricted")))
            except ValueError as exc:
                raise PolicyFileError(f"{where}: columns[{i}]: {exc}") from None
            out.append(SensitiveColumn(table, column, clearance))
        return cls(tuple(out))

    @classmethod
    def load(cls, path: str | Path) -> SensitiveColumns:
        """Load from a YAML (or JSON) file in the ``from_mapping`` format."""
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PolicyFileError(f"{path}: sensitive columns file not found") from None
        except yaml.YAMLError as exc:
            raise PolicyFileError(f"{path}: not valid YAML: {exc}") from exc
        return cls.from_mapping(raw, where=str(path))

    def match(self, column: str, tables: Iterable[str] | None = None) -> SensitiveColumn | None:
        """The configured column a result column name refers to, if any."""
        name = column.strip().strip('"`[]').lower()
        table_set = None if tables is None else {t.lower().rsplit(".", 1)[-1] for t in tables}
        bare = name.rsplit(".", 1)[-1]
        for sc in self.columns:
            if "." in name and name.rsplit(".", 2)[-2:] == [sc.table, sc.column]:
                return sc
            # A bare name, or a qualifier that may be an alias ("e.salary"): match on the column
            # name when the table was read, or when we cannot tell (fail closed).
            if bare == sc.column and (table_set is None or sc.table in table_set):
                return sc
        return None

    def hidden_columns(
        self, columns: Sequence[str], clearance: Clearance, tables: Iterable[str] | None = None
    ) -> list[int]:
        """Indexes of result columns ``clearance`` may not see."""
        tables = None if tables is None else list(tables)
        out = []
        for i, col in enumerate(columns):
            sc = self.match(col, tables)
            if sc is not None and clearance < sc.visible_from:
                out.append(i)
        return out

    def redact_table(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        clearance: Clearance,
        *,
        tables: Iterable[str] | None = None,
        placeholder: str = DEFAULT_PLACEHOLDER,
    ) -> RedactedTable:
        """Replace the values of sensitive columns the audience may not see.

        NULLs stay NULL (absence is not sensitive); other values become
        ``placeholder.format(kind=<column name>)``.
        """
        hidden = self.hidden_columns(columns, clearance, tables)
        out: list[list[Any]] = [list(r) for r in rows]
        for r in out:
            for i in hidden:
                if i < len(r) and r[i] is not None:
                    r[i] = placeholder.format(kind=columns[i])
        return RedactedTable(out, [columns[i] for i in hidden])

    def values(
        self, columns: Sequence[str], rows: Iterable[Sequence[Any]], tables: Iterable[str] | None = None
    ) -> set[str]:
        """The raw values of every sensitive column in a result, as strings.

        Feed them to ``detect``/``redact``/``redact_obj(sensitive_values=...)`` so the same
        values are also caught when they reappear in free text, logs or answers.
        """
        idx = self.hidden_columns(columns, Clearance.PUBLIC, tables)
        out: set[str] = set()
        for r in rows:
            for i in idx:
                if i < len(r) and r[i] is not None and str(r[i]).strip():
                    out.update(_value_forms(r[i]))
        return out


def _value_forms(value: Any) -> set[str]:
    """How a value may be written in text: 98000.0 also as 98000 and 98,000."""
    forms = {str(value).strip()}
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        if value == int(value):
            forms |= {str(int(value)), f"{int(value):,}"}
        else:
            forms.add(f"{value:,}")
    return forms


__all__ = [
    "ALL",
    "DEFAULT_PLACEHOLDER",
    "IBAN_LENGTHS",
    "NATIONAL_IDS",
    "VISIBLE_FROM",
    "PiiKind",
    "PiiMatch",
    "RedactedTable",
    "SensitiveColumn",
    "SensitiveColumns",
    "detect",
    "hidden_kinds",
    "iban_valid",
    "luhn_valid",
    "redact",
    "redact_for",
    "redact_obj",
]
