"""The project's adversarial SQL set (evals/sql_adversarial.jsonl) is rejected in full, each
attack for the reason of its class. (tests/connectors/test_warehouse.py sends the same attacks
past the guard to the read-only databases.)"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from policies.data_access import default_policy
from policies.sql_guard import SqlGuard

ADVERSARIAL = Path(__file__).resolve().parents[2] / "evals" / "sql_adversarial.jsonl"
SCHEMA = {
    "employees": ["employee_id", "directory_id", "name", "email", "title", "department_id", "manager_id",
                  "region_code", "hire_date", "salary"],
    "orders": ["order_id", "order_date", "customer_id", "region_code", "sales_rep_id", "status", "channel"],
    "regions": ["region_code", "name"],
    "departments": ["department_id", "name", "cost_center"],
}  # fmt: skip

# What a reason must mention, per attack class (any one of the phrases).
EXPECTED: dict[str, tuple[str, ...]] = {
    "write": ("writes data", "only a query"),
    "ddl": ("DDL", "only a query", "deletes data", "exactly one statement"),
    "into": ("INTO", "could not parse"),
    "lock": ("row locks", "only a query"),
    "command": ("only a query", "could not parse"),
    "pragma": ("PRAGMA", "system catalog", "table functions", "only a query"),
    "attach": ("ATTACH", "DETACH"),
    "copy": ("COPY", "LOAD DATA", "could not parse"),
    "function": ("function",),
    "table": ("is not readable by you", "schema", "cross-database"),
    "catalog": ("system catalog",),
    "column": ("column salary", "SELECT *", "whole-row", "NATURAL JOIN"),
    "multi_statement": ("exactly one statement",),
    "comment": ("exactly one statement", "only a query", "function"),
    "mysql_executable_comment": ("executable comments",),
    "writable_cte": ("writable CTEs",),
    "session": ("only a query", "exactly one statement"),
    "variable": ("variables", "placeholders", "parameters"),
    "not_a_query": ("only a query", "empty"),
}


def load_cases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in ADVERSARIAL.read_text(encoding="utf-8").splitlines() if line.strip()]


CASES = load_cases()


def test_the_set_is_large_and_covers_every_class() -> None:
    classes = Counter(c["class"] for c in CASES)
    print(f"\nadversarial SQL: {len(CASES)} cases in {len(classes)} classes: {dict(classes)}")
    assert len(CASES) >= 80
    assert set(classes) == set(EXPECTED)
    assert len({c["id"] for c in CASES}) == len(CASES)
    assert {c["dialect"] for c in CASES} == {"sqlite", "postgres", "mysql"}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_attack_is_rejected_for_the_right_reason(case: dict[str, Any]) -> None:
    guard = SqlGuard(case["dialect"], schema=SCHEMA)
    verdict = guard.check(case["sql"], default_policy().allow_list([case["role"]]))
    assert not verdict.allowed, f"{case['id']} passed the guard: {verdict.sql}"
    assert verdict.sql is None and verdict.reasons
    text = " | ".join(verdict.reasons)
    assert any(p in text for p in EXPECTED[case["class"]]), f"{case['id']}: {text}"
