"""Numbers in a narrative must come from the query results.

A report's narrative may be written by a model; its figures may not. Every number in the text
must equal (at the precision it is written with) a value in the results, a row count, a column
total, or the result of a calculation the text states explicitly — ``(= 1,250 / 1,000 - 1)`` —
whose operands are themselves such numbers. Dates and times are not figures. Pure.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?Z?)?\b|\b\d{1,2}:\d{2}\b")
_CALC = re.compile(r"\(\s*=\s*([^()]*(?:\([^()]*\)[^()]*)*)\)")
_NUM = re.compile(r"(?<![\w.])[-−]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])[-−]?\d+(?:\.\d+)?")
# Constants a stated calculation may use besides result values (ratios, percentages, units).
_UNIT_CONSTANTS = frozenset(Decimal(v) for v in (0, 1, 2, 7, 10, 12, 24, 52, 100, 1000))
_OPS: dict[type, Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


@dataclass(frozen=True)
class NumberCheck:
    ok: bool
    unsupported: tuple[str, ...] = ()  # figures found nowhere in the results

    @property
    def message(self) -> str:
        if self.ok:
            return ""
        shown = ", ".join(self.unsupported[:5])
        return (
            f"the narrative states {shown}, which {'is' if len(self.unsupported) == 1 else 'are'} not in the "
            "query results or derived from them by a stated calculation; the report was not sent"
        )


def _dec(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", "").replace("−", "-"))
    except InvalidOperation:
        return None


def _decimals(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def _matches(written: Decimal, known: Decimal) -> bool:
    """``written`` equals ``known`` at the precision it is written with (12.3 ~ 12.34)."""
    q = Decimal(1).scaleb(-_decimals(written))
    try:
        return known.quantize(q) == written or abs(known - written) <= q / 2
    except InvalidOperation:
        return False


def _eval(expr: str) -> Decimal | None:
    try:
        node = ast.parse(expr.replace(",", "").replace("−", "-").replace("×", "*").replace("÷", "/"), mode="eval")
    except SyntaxError:
        return None

    def ev(n: ast.AST) -> Decimal:
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)):
            return Decimal(str(n.value))
        if isinstance(n, ast.BinOp) and type(n.op) in _OPS:
            return Decimal(_OPS[type(n.op)](ev(n.left), ev(n.right)))
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return -ev(n.operand)
        raise ValueError("not arithmetic")

    try:
        return ev(node)
    except (ValueError, ArithmeticError, InvalidOperation):
        return None


def known_numbers(results: Iterable[tuple[Sequence[str], Sequence[Sequence[Any]]]]) -> list[Decimal]:
    """Cell values, row counts and column totals of the results (columns, rows) given."""
    out: list[Decimal] = []
    for _cols, rows in results:
        out.append(Decimal(len(rows)))
        sums: dict[int, Decimal] = {}
        for row in rows:
            for i, v in enumerate(row):
                if isinstance(v, bool) or v is None:
                    continue
                d = _dec(str(v)) if isinstance(v, (int, float, Decimal, str)) else None
                if d is None or not d.is_finite():
                    continue
                out.append(d)
                if isinstance(v, (int, float, Decimal)):
                    sums[i] = sums.get(i, Decimal(0)) + d
        out.extend(sums.values())
    return out


def check_narrative(
    text: str,
    results: Iterable[tuple[Sequence[str], Sequence[Sequence[Any]]]],
    *,
    approved_text: Iterable[str] = (),
) -> NumberCheck:
    """``approved_text``: text a person approved with the report (its name, question titles);
    numbers in it ("since 2025", "top 10") may be repeated."""
    known = known_numbers(results)
    for t in approved_text:
        known.extend(d for tok in _NUM.findall(_DATE.sub(" ", t)) if (d := _dec(tok)) is not None)
    body = _DATE.sub(" ", text)
    unsupported: list[str] = []
    # Stated calculations: operands must be known; the result becomes known.
    for m in _CALC.finditer(body):
        expr = m.group(1)
        for tok in _NUM.findall(expr):
            d = _dec(tok)
            if d is not None and d not in _UNIT_CONSTANTS and not any(_matches(d, k) for k in known):
                unsupported.append(tok)
        value = _eval(expr)
        if value is not None:
            known.append(value)
    rest = _CALC.sub(" ", body)
    for m in _NUM.finditer(rest):
        tok = m.group(0)
        d = _dec(tok)
        if d is None:
            continue
        percent = rest[m.end() : m.end() + 1] == "%"
        candidates = [d, d / 100] if percent else [d]
        if not any(_matches(c, k) for c in candidates for k in known):
            unsupported.append(tok + ("%" if percent else ""))
    unsupported = list(dict.fromkeys(unsupported))
    return NumberCheck(not unsupported, tuple(unsupported))


__all__ = ["NumberCheck", "check_narrative", "known_numbers"]
