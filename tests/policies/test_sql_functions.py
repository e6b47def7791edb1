"""The guard's function lists hold their shape: safe and dangerous never overlap, and every
dangerous function is refused in every dialect, whatever the call looks like."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from policies.sql_functions import (
    COST_LIMITED_FUNCTIONS,
    DANGEROUS_FUNCTIONS,
    SAFE_FUNCTION_CLASSES,
    SAFE_FUNCTION_NAMES,
)
from policies.sql_guard import DIALECTS, AllowList, SqlGuard
from policies.sql_guard.rules import _CLASS_NAMES

ANY = AllowList.of({"t": None})
SCHEMA = {"t": ["x", "y"]}
# Niladic spellings PostgreSQL evaluates as functions without parentheses.
PG_NILADIC = {"user", "current_user", "session_user", "system_user", "current_role", "current_catalog",
              "current_schema"}  # fmt: skip


def _forms(name: str) -> list[str]:
    return [
        f"SELECT {name}()",
        f"SELECT {name}(1)",
        f"SELECT {name}('x')",
        f"SELECT {name}(1, 2)",
        f"SELECT {name}('a', 'b', 'c')",
        f"SELECT x FROM t WHERE {name}(x) IS NOT NULL",
        f"SELECT * FROM {name}(1)",
        f"SELECT x FROM t ORDER BY {name}(1, 1000000000)",
    ]


def test_safe_and_dangerous_lists_never_overlap() -> None:
    for dialect, names in SAFE_FUNCTION_NAMES.items():
        assert not names & set(DANGEROUS_FUNCTIONS), f"{dialect}: {sorted(names & set(DANGEROUS_FUNCTIONS))}"
    for cls_name in SAFE_FUNCTION_CLASSES:
        cls = getattr(exp, cls_name)
        names = cls.sql_names() if issubclass(cls, exp.Func) else [cls_name]
        spoken = {n.lower() for n in names} | {_CLASS_NAMES.get(cls_name, "")}
        assert not spoken & set(DANGEROUS_FUNCTIONS), f"{cls_name} is safe but named {spoken}"
    # A cost-limited function is allowed only within bounds, never also "dangerous".
    assert not set(COST_LIMITED_FUNCTIONS) & set(DANGEROUS_FUNCTIONS)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_dangerous_function_is_refused_in_every_dialect(dialect: str) -> None:
    guard = SqlGuard(dialect, schema=SCHEMA)
    exercised = 0
    for name in sorted(DANGEROUS_FUNCTIONS):
        forms = _forms(name) + ([f"SELECT {name}", f"SELECT x FROM t WHERE {name} IS NOT NULL"] if
                                dialect == "postgres" and name in PG_NILADIC else [])  # fmt: skip
        for sql in forms:
            verdict = guard.check(sql, ANY, source_dialect=dialect)
            assert not verdict.allowed, f"{dialect}: {sql} passed as {verdict.sql}"
            assert all("\n" not in r for r in verdict.reasons)
            exercised += 1
        # The plain call is refused by name, with the reason a person can act on.
        verdict = guard.check(f"SELECT {name}(1)", ANY, source_dialect=dialect)
        parsed = _parses(f"SELECT {name}(1)", dialect)
        if parsed:
            assert any(name in r or "not allowed" in r for r in verdict.reasons), (name, verdict.reasons)
    assert exercised >= 8 * len(DANGEROUS_FUNCTIONS)


def _parses(sql: str, dialect: str) -> bool:
    try:
        sqlglot.parse_one(sql, read=dialect)
    except sqlglot.errors.SqlglotError:
        return False
    return True


def test_an_operator_may_allow_a_fingerprinting_function() -> None:
    assert not SqlGuard("postgres").check("SELECT version()", ANY).allowed
    assert SqlGuard("postgres", extra_functions=["version"]).check("SELECT version()", ANY).allowed
    assert (
        SqlGuard("postgres", extra_functions=["current_setting"])
        .check("SELECT current_setting('work_mem')", ANY)
        .allowed
    )


def test_fingerprinting_refusal_names_the_function_and_the_way_out() -> None:
    v = SqlGuard("postgres").check("SELECT system_user", ANY)
    assert v.reasons == (
        "system_user is not allowed: it discloses server or session details "
        "(an operator can allow it with the warehouse_extra_functions setting)",
    )
    v = SqlGuard("postgres").check("SELECT version()", ANY)
    assert v.reasons[0].startswith("function version is not allowed: it discloses server")
