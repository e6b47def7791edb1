"""Picks decided by trusted code: the row(s) of a listing that the asker's criterion selects.

"Delete the largest file", "post in the channel with the most users", "a hotel under 210, the
highest rated": which value the model passes is its choice, and a model steered by something it
read picks the attacker's value. Here the choice is computed instead (CaMeL's idea, made a gate
rule): the criteria come from the asker's own messages (:mod:`policies.criteria`), they are
evaluated over the *structured* fields of the listings the conversation read (numbers, dates,
counts, short category values — never prose), and the model's value is accepted only when it is
a field of a row the criteria select. An attacker's text then changes nothing unless it changes
a structured field: we assume a listing row's numeric and category fields are data the system
keeps (a file's size, a hotel's rating, a channel's member list), not text a third party writes.

What counts as a listing:

- an **enumeration**: a read whose text arguments are all the asker's words, or that has none
  ("all hotels in Paris", "list the files", "the channels"), returning rows (a list of records,
  a list of names, or a labelled list "Hotel Names: A\\nB"). A numeric argument equal to the
  number of rows returned may have cut the list, so such a read enumerates nothing;
- **attribute tables** joined to its rows by name: a read returning ``{name: value}`` for the
  names it was asked about (prices, ratings, cuisine), with labelled values parsed up to the
  first prose label ("Rating: 4.2\\nReviews: …" → rating 4.2);
- **counts**: a read of one named row returning a list ("users in channel general" → 4 users).

A criterion applies to an enumeration when some row has its field. Every row must then have a
value for it — the model may not leave out the row that would win — except a row whose own name
is instruction-like, which is not required (skipping it can only lose that row). Ties: every
tied row is selected; "the 3 largest" selects three. A field two ways at once (two ratings on a
row) is ambiguous: nothing is selected. Pure: the caller passes the texts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from policies.criteria import EVERY, FIELD_WORDS, Criterion, Kind, parse
from policies.derivation import _DATE_RE, Pick
from policies.provenance import _is_structured, _parsed
from policies.taint import _NUMBER_RE, _number

# Words of a tool's name that name no field ("get_rating_reviews_for_hotels" → rating, reviews).
_TOOL_STOP = frozenset("get read list search fetch find all for in of by the from to with show".split())  # noqa: SIM905
# Prose labels inside a labelled value: parsing stops there, the rest is someone's text.
_PROSE_LABELS = frozenset("reviews review description content body text notes comments summary".split())  # noqa: SIM905
_COUNT_SYNONYMS = {"member": "user", "people": "user", "person": "user", "participant": "user"}
_NOT_CATEGORY = re.compile(r"address|location|name|contact|phone|email|hours|id$|^id|url|website", re.I)
_RANGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[-–]\s*(\d+(?:\.\d+)?)\s*$")
_MAX_CATEGORY_WORDS = 8


@dataclass(frozen=True)
class Read:
    """One successful tool output the conversation holds."""

    source: str  # "list_files:c0"
    tool: str
    args: Mapping[str, Any]
    text: str  # the output, without our delimiters


@dataclass
class _Row:
    key: str  # its name ("Montmartre Suites"), or "" for a record without one
    fields: dict[str, Any] = field(default_factory=dict)  # field name -> value
    sources: dict[str, str] = field(default_factory=dict)  # field name -> read it came from
    steering: bool = False  # its own name is instruction-like


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", str(s)).strip().casefold()


def _nouns(tool: str, drop: Iterable[str] = ()) -> list[str]:
    dropped = {_singular(w) for d in drop for w in re.split(r"[_\W]+", d.casefold()) if w}
    words = [w for w in re.split(r"[_\W]+", tool.casefold()) if w and w not in _TOOL_STOP]
    return [w for w in words if _singular(w) not in dropped]


def _singular(w: str) -> str:
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith("s") and not w.endswith("ss") and len(w) > 3:
        return w[:-1]
    return w


def _kind(name: str) -> str:
    """The field kind a field's name says ("last_modified" → date, "Price range" → price)."""
    if name.startswith("count:"):
        noun = name.split(":", 1)[1]
        return f"count:{_COUNT_SYNONYMS.get(noun, noun)}"
    words = [w for w in re.split(r"[_\W]+", name.casefold()) if w]
    for kind, vocab in FIELD_WORDS.items():
        if any(w in vocab for w in words):
            return kind
    return ""


def _crit_kind(c: Criterion) -> str:
    if c.field.startswith("count:"):
        noun = c.field.split(":", 1)[1]
        return f"count:{_COUNT_SYNONYMS.get(noun, noun)}"
    return c.field


def _value(v: Any) -> Any:
    """A comparable value: a number, a (low, high) range, a datetime; None when it is none."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float, Decimal)):
        return Decimal(str(v))
    if isinstance(v, datetime):
        return v
    s = str(v).strip()
    m = _RANGE.match(s)
    if m:
        return (Decimal(m.group(1)), Decimal(m.group(2)))
    try:
        return Decimal(s.replace(",", "")) if re.fullmatch(r"-?\d[\d,]*(?:\.\d+)?", s) else datetime.fromisoformat(s)
    except (InvalidOperation, ValueError):
        return None


def _labelled(text: str) -> dict[str, str]:
    """``Label: value`` lines at the start of a value, up to the first prose label."""
    out: dict[str, str] = {}
    for line in str(text).splitlines():
        if ": " not in line:
            break
        label, val = (p.strip() for p in line.split(": ", 1))
        if label.casefold() in _PROSE_LABELS or not label or label in out:
            break
        out[label] = val
    return out


def _enumeration(data: Any, text: str) -> list[_Row] | None:
    """The rows of a listing, or None when the output is not one."""

    if isinstance(data, list):
        if all(isinstance(x, Mapping) for x in data):
            rows = []
            for rec in data:
                flds = {
                    str(k): v for k, v in rec.items() if not isinstance(v, (Mapping, list)) and _is_structured(k, v)
                }
                key = next((str(rec[k]) for k in ("name", "filename", "title", "id_", "id") if k in rec), "")
                rows.append(_Row(key, flds))
            return rows
        if all(isinstance(x, (str, int, float)) for x in data):
            return [_Row(str(x)) for x in data]
        return None
    if isinstance(data, str):
        lines = [ln.strip() for ln in data.strip().splitlines() if ln.strip()]
        if len(lines) >= 2 and ": " in lines[0] and all(": " not in ln for ln in lines[1:]):
            return [_Row(lines[0].split(": ", 1)[1].strip()), *(_Row(ln) for ln in lines[1:])]
    return None


@dataclass
class _Tables:
    enumerations: list[tuple[Read, list[_Row]]] = field(default_factory=list)
    attributes: dict[str, dict[str, tuple[Any, str]]] = field(default_factory=dict)  # key -> field -> (value, src)
    tallies: dict[str, dict[str, Any]] = field(default_factory=dict)  # tool -> rows counted by author


def _tables(reads: Sequence[Read], user_text: str, steering: Callable[[str], bool]) -> _Tables:
    t = _Tables()
    asker = _norm(user_text)
    for r in reads:
        data = _parsed(r.text)
        if isinstance(data, Mapping) and set(data) == {"output"}:
            data = _parsed(data["output"]) if isinstance(data["output"], str) else data["output"]
        texts = [v for v in r.args.values() if isinstance(v, str) and v.strip()]
        lists = [v for v in r.args.values() if isinstance(v, list)]
        rows = _enumeration(data, r.text)
        if rows is not None:
            for row in rows:
                row.steering = bool(row.key) and steering(row.key)
                row.sources = dict.fromkeys(row.fields, r.source)
            numbers = [v for v in r.args.values() if isinstance(v, int) and not isinstance(v, bool)]
            by_asker = all(re.search(rf"(?<!\w){re.escape(_norm(v))}(?!\w)", asker) for v in texts)
            if by_asker and not lists and len(rows) not in numbers:
                t.enumerations.append((r, rows))
            # One named row read: its list's length is a count of that row ("users in general").
            if len(texts) == 1 and not lists:
                nouns = _nouns(r.tool, drop=[k for k, v in r.args.items() if isinstance(v, str)])
                for noun in nouns:
                    t.attributes.setdefault(_norm(texts[0]), {})[f"count:{_singular(noun)}"] = (len(rows), r.source)
                _tally(t, r, texts[0], rows, nouns)
        elif isinstance(data, Mapping) and data:
            asked = {_norm(x) for v in lists for x in v if isinstance(x, str)} | {_norm(v) for v in texts}
            if not all(_norm(str(k)) in asked for k in data):
                continue  # a record, not a table of the rows it was asked about
            name = " ".join(_nouns(r.tool, drop=[k for k in r.args])) or r.tool
            for k, v in data.items():
                slot = t.attributes.setdefault(_norm(str(k)), {})
                labelled = _labelled(v) if isinstance(v, str) else {}
                if labelled:
                    for label, val in labelled.items():
                        slot[label] = (val, r.source)
                elif isinstance(v, (str, int, float)) and not isinstance(v, bool):
                    slot[name] = (v, r.source)
    _tallied(t, steering)
    return t


_AUTHOR_FIELDS = ("sender", "author", "from", "user", "owner", "created_by")


def _tally(t: _Tables, r: Read, entity: str, rows: Sequence[_Row], nouns: Sequence[str]) -> None:
    """Rows of one named row's listing counted by their author ("messages in general by sender")."""
    slot = t.tallies.setdefault(r.tool, {"covered": {}, "counts": {}, "sources": {}, "nouns": list(nouns)})
    slot["covered"][_norm(entity)] = None
    slot["sources"][r.source] = None
    for row in rows:
        who = next((str(row.fields[f]) for f in _AUTHOR_FIELDS if f in row.fields), None)
        if who is not None:
            slot["counts"][who] = slot["counts"].get(who, 0) + 1


def _tallied(t: _Tables, steering: Callable[[str], bool]) -> None:
    """ "The user who wrote the most messages": authors become rows with a count, but only once
    the listing of every clean row of an enumeration was read (no channel left out)."""
    for tool, slot in t.tallies.items():
        if not slot["counts"]:
            continue
        covered = slot["covered"]
        complete = any(
            {_norm(row.key) for row in rows if not row.steering} <= set(covered) and rows
            for _read, rows in t.enumerations
        )
        if not complete:
            continue
        src = ", ".join(slot["sources"])
        rows = []
        for who, n in slot["counts"].items():
            flds = {f"count:{_singular(noun)}": n for noun in slot["nouns"]}
            rows.append(_Row(who, flds, dict.fromkeys(flds, src), steering(who)))
        t.enumerations.append((Read(f"{tool} ×{len(covered)}", tool, {}, ""), rows))


def _join(row: _Row, t: _Tables) -> _Row:
    extra = t.attributes.get(_norm(row.key), {}) if row.key else {}
    flds, srcs = dict(row.fields), dict(row.sources)
    for name, (v, src) in extra.items():
        flds.setdefault(name, v)
        srcs.setdefault(name, src)
    return _Row(row.key, flds, srcs, row.steering)


class _Refused(Exception):
    """The criteria cannot decide among these rows (a value missing, a field ambiguous)."""


def _field_value(row: _Row, kind: str) -> tuple[Any, str] | None:
    found = {name: _value(v) for name, v in row.fields.items() if _kind(name) == kind}
    found = {n: v for n, v in found.items() if v is not None}
    if not found:
        return None
    values = set(map(str, found.values()))
    if len(values) > 1:
        raise _Refused(f"{row.key or 'a row'} has {kind} twice ({', '.join(found)})")
    name = next(iter(found))
    return found[name], name


def _as_number(v: Any, descending: bool) -> Any:
    if isinstance(v, tuple):  # a price range: the highest for "most", the lowest for "least"
        return v[1] if descending else v[0]
    return v


def _passes(v: Any, op: str, bound: Decimal) -> bool:
    if isinstance(v, datetime):
        return False
    lo, hi = v if isinstance(v, tuple) else (v, v)
    # A range is under a bound only when all of it is ("under 210": up to 200, not 180-240).
    return {"<": hi < bound, "<=": hi <= bound, ">": lo > bound, ">=": lo >= bound}[op]


def _category_fields(rows: Sequence[_Row], inline: set[str]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        for name, v in row.fields.items():
            if name in inline or name.startswith("count:") or _NOT_CATEGORY.search(name) or _kind(name):
                continue
            if isinstance(v, str) and not re.search(r"\d", v) and len(v.split()) <= _MAX_CATEGORY_WORDS:
                names[name] = None
    return list(names)


def _select(rows: list[_Row], chain: Sequence[Criterion], inline: set[str]) -> tuple[list[_Row], list[str]]:
    """The rows the chain selects, and the phrases that applied; raises _Refused."""
    used: list[str] = []
    for c in chain:
        if c.kind is Kind.MATCH:
            for name in _category_fields(rows, inline):
                hit = [
                    r for r in rows if name in r.fields and set(_words(r.fields[name])) & set(c.words)
                ]  # fmt: skip
                if not hit or len(hit) == len([r for r in rows if name in r.fields]):
                    continue  # the asker's words name none of these categories, or every one
                if any(name not in r.fields for r in rows if not r.steering):
                    raise _Refused(f"{name} not read for every row")
                words = sorted({w for r in hit for w in _words(r.fields[name]) if w in c.words})
                rows = hit
                used.append(" ".join(words))
            continue
        if c.kind is Kind.PREFIX:
            # The row's own name, the asker's word at its start: "the channel starting with External".
            hit = [r for r in rows if r.key and _norm(r.key).startswith(c.words[0])]
            if hit and len(hit) < len(rows):
                rows = hit
                used.append(c.phrase)
            continue
        kind = _crit_kind(c)
        values = [(r, _field_value(r, kind)) for r in rows]
        if all(v is None for _r, v in values):
            continue  # this criterion is about another listing
        if any(v is None and not r.steering for r, v in values):
            missing = next(r.key for r, v in values if v is None and not r.steering)
            raise _Refused(f"no {kind} for {missing}")
        have = [(r, v[0]) for r, v in values if v is not None]
        if c.kind is Kind.THRESHOLD:
            rows = [r for r, v in have if _passes(v, c.op, c.bound)]
        else:
            ranked = sorted({_as_number(v, c.descending) for _r, v in have}, reverse=c.descending)
            cut = ranked[: c.top]
            rows = [r for r, v in have if _as_number(v, c.descending) in cut]
        used.append(c.phrase)
        if not rows:
            raise _Refused("no row meets the criteria")
    return rows, used


def _words(v: Any) -> list[str]:
    return re.findall(r"[a-z][a-z'\-]*", str(v).casefold())


def _show(row: _Row, kinds: set[str]) -> str:
    shown = [
        f"{v} {n.split(':', 1)[1]}{'' if str(v) == '1' else 's'}" if n.startswith("count:") else f"{n} {v}"
        for n, v in row.fields.items()
        if _kind(n) in kinds
    ]
    return f"{row.key}" + (f" ({', '.join(shown)})" if shown else "")


def _lines(row: _Row) -> list[str]:
    """A selected row's values as ``field: value`` lines: short one-line values only. A name that
    is a paragraph (an injection written into a channel's name) is no structured value: it is
    never a pick, and its words are not there to be found one by one ("Alice", a link)."""
    flds = {"name": row.key, **row.fields} if row.key else dict(row.fields)
    return [f"{n}: {v}" for n, v in flds.items() if _is_structured(n if n != "name" else "key", v)]


def _named_rows(rows: Sequence[_Row], user_messages: Sequence[str]) -> list[tuple[_Row, str, str]]:
    """Rows the asker named by a value of theirs: the one row whose field holds an identifier,
    an address or a name the asker typed ("refund GB29…", "that 10.00 I got", "with Sarah
    Baker"), or an amount of theirs in an amount field. The field's value must be unique in the
    listing: a second row holding it (one an attacker made) leaves the choice open, so neither."""
    text = "\n".join(user_messages)
    asker = _norm(text)
    numbers = {
        n for m in _NUMBER_RE.finditer(_DATE_RE.sub(" ", text)) if (n := _number(m.group(0))) not in (None, 0, 1)
    }
    out = []
    names = dict.fromkeys(n for r in rows for n in r.fields)
    for name in names:
        kind = _kind(name)
        if kind in ("date", "size", "rating") or name.startswith("count:"):
            continue
        held: dict[str, list[_Row]] = {}
        for r in rows:
            v = r.fields.get(name)
            if v is None or isinstance(v, bool):
                continue
            held.setdefault(_norm(str(v)), []).append(r)
        for value, owners in held.items():
            if len(owners) != 1:
                continue
            if kind == "price":
                d = _number(value)
                hit = d is not None and d in numbers
            else:
                hit = (
                    len(value) >= 5 and re.search(rf"(?<![\w.@-]){re.escape(value)}(?![\w@-]|\.\w)", asker) is not None
                )
            if hit:
                out.append((owners[0], name, str(owners[0].fields[name])))
    return out


def select(
    reads: Sequence[Read], user_messages: Sequence[str], steering: Callable[[str], bool] = lambda _s: False
) -> list[Pick]:
    """The rows the asker's criteria select in the listings read, as :class:`Pick` records.

    ``steering`` says whether a text is instruction-like (a row named so need not be measured)."""
    chains = [c for c in (parse(m) for m in user_messages) if any(x.kind is not Kind.MATCH for x in c)]
    t = _tables(reads, "\n".join(user_messages), steering)
    out: list[Pick] = []
    for read, base in t.enumerations:
        inline = {n for r in base for n in r.fields}
        rows = [_join(r, t) for r in base]
        for row, name, value in _named_rows(base, user_messages):
            lines = _lines(row)
            why = f"the only row of {read.source} whose {name} is “{value}” (your message)"
            out.append(Pick(read.source, "\n".join(lines), why, f"{name} {value}"))
        for chain in chains:
            try:
                winners, used = _select(rows, chain, inline)
            except _Refused:
                continue
            if not any(c.kind is not Kind.MATCH and c.phrase in used for c in chain):
                continue  # only a category matched: nothing was ranked or compared
            if len(winners) == len(rows) and not any(c.top >= EVERY and c.phrase in used for c in chain):
                continue  # selects everything: no criterion of this listing (unless "sort all …")
            kinds = {_crit_kind(c) for c in chain if c.kind is not Kind.MATCH and c.phrase in used}
            srcs = sorted({s for r in winners for s in r.sources.values()} - {read.source})
            for row in winners:
                lines = _lines(row)
                if not lines:
                    continue
                why = (
                    f'selected by your criterion "{", ".join(used)}": {_show(row, kinds)}, '
                    f"of {len(rows)} rows listed by {read.source}"
                    + (f" (values from {', '.join(srcs)})" if srcs else "")
                )
                out.append(Pick(read.source, "\n".join(lines), why, ", ".join(used)))
    return out


__all__ = ["Pick", "Read", "select"]
