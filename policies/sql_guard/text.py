"""From model output to a parse: normalization (fences, markdown escapes, trailing prose) and parse errors in words."""

from __future__ import annotations

import re
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from policies.sql_guard.rules import _FENCE_TAG, _MD_ESCAPE, _QUOTED, _STATEMENT_WORDS

# --------------------------------------------------------------------------------------------
# Normalization


def normalize_sql(text: str) -> str:
    """Strip what models wrap SQL in: markdown fences, markdown escapes, trailing semicolons."""
    text = text.replace("\u00a0", " ").replace("\ufeff", "").strip()
    if "```" in text:
        parts = text.split("```")
        # Odd parts are inside fences: take the first non-empty block, else what precedes
        # the first fence (a model that only closed its fence).
        blocks = [_FENCE_TAG.sub("", parts[i], count=1).strip() for i in range(1, len(parts), 2)]
        text = next((b for b in blocks if b), parts[0])
    if "\\" in text:
        text = _outside_quotes(text, lambda s: _MD_ESCAPE.sub(r"\1", s))
    return text.strip().rstrip(";").strip()


def _outside_quotes(text: str, fn: Any) -> str:
    out: list[str] = []
    pos = 0
    for m in _QUOTED.finditer(text):
        out.append(fn(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(fn(text[pos:]))
    return "".join(out)


def _before_trailing_prose(text: str) -> str | None:
    """The text before the first top-level ';' if what follows is prose, else None."""
    stripped = _QUOTED.sub(lambda m: "x" * len(m.group(0)), text)
    cut = stripped.find(";")
    if cut < 0:
        return None
    rest = text[cut + 1 :].strip()
    first = re.match(r"[A-Za-z_]+", rest)
    if not rest or (first is not None and first.group(0).lower() in _STATEMENT_WORDS):
        return None
    if first is None:
        return None
    return text[:cut]


def _has_executable_comment(text: str) -> bool:
    stripped = _QUOTED.sub("''", text)
    return "/*!" in stripped or "/*M!" in stripped


def _parse(text: str, dialect: str) -> tuple[list[exp.Expr], str | None]:
    try:
        trees = [t for t in sqlglot.parse(text, read=dialect) if t is not None]
    except SqlglotError as exc:
        return [], f"could not parse the query as {dialect} SQL: {_syntax_message(exc)}"
    except RecursionError:
        return [], "the query is nested too deeply to parse"
    trees = [t for t in trees if not isinstance(t, exp.Semicolon)]
    return trees, None


def _syntax_message(exc: BaseException) -> str:
    """A parse error as a person reads it: where, what is near, and a plain sentence, without
    sqlglot's internals (class names, required-argument names)."""
    errors = getattr(exc, "errors", None) or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    description = str(first.get("description") or _first_line(exc))
    missing = re.search(r"Required keyword: '\w+' missing for <class '[\w.]*?(\w+)'>", description)
    clauses = {"Where", "Select", "From", "Join", "Group", "Having", "Order", "Limit", "With", "Union", "Case"}
    if missing and missing.group(1) in clauses:
        sentence = f"the {missing.group(1).upper()} clause is incomplete"
    elif missing:
        sentence = "an expression is incomplete"
    elif description.startswith("Invalid expression / Unexpected token"):
        sentence = "unexpected text"
    elif description.startswith("Expecting "):
        sentence = f"expected {description.removeprefix('Expecting ').split('.')[0].strip()}"
    else:
        sentence = re.sub(r"<class '[\w.]*?(\w+)'>", r"\1", description).split(". Line")[0].strip().rstrip(".")
    where = ""
    if first.get("line") and first.get("col"):
        where = f" at line {first['line']}, column {first['col']}"
        near = re.sub(r"\x1b\[[0-9;]*m", "", str(first.get("highlight") or "")).strip()
        if near:
            where += f" (near {near[:40]!r})"
    return f"{sentence}{where}"[:300]


def _first_line(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    text = msg[0] if msg else type(exc).__name__
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return text[:300]
