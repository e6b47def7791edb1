"""The second attack set (evals/sql_resource_attacks.jsonl): restricted columns through
parenthesized tables, alias column lists, star expansion, ORDER BY/WHERE/aggregate oracles;
CPU and memory bombs; row generators; fingerprinting. Every attack is refused by the guard
with one readable line, and every legitimate analytic query (literal-bounded generate_series,
bounded recursive CTEs, parenthesized joins) passes. The same cases run past the guard,
straight at the databases, in tests/connectors/test_warehouse_limits.py."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.interfaces.cli.sql import app
from policies.data_access import default_policy
from policies.sql_guard import SqlGuard

CASES_FILE = Path(__file__).resolve().parents[2] / "evals" / "sql_resource_attacks.jsonl"
CASES = [json.loads(line) for line in CASES_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
SCHEMA = {
    "employees": ["employee_id", "directory_id", "name", "email", "title", "department_id", "manager_id",
                  "region_code", "hire_date", "salary"],
    "orders": ["order_id", "order_date", "customer_id", "region_code", "sales_rep_id", "status", "channel"],
    "order_items": ["order_item_id", "order_id", "product_id", "quantity", "unit_price", "discount_pct", "net_amount"],
    "regions": ["region_code", "name"],
    "departments": ["department_id", "name", "cost_center"],
    "products": ["product_id", "sku", "name", "category", "list_price"],
    "customers": ["customer_id", "customer_key", "name", "domain", "industry", "region_code", "city", "country",
                  "employee_count", "tier", "account_owner_id"],
    "expenses": ["expense_id", "employee_id", "department_id", "expense_date", "category", "vendor", "amount",
                 "status"],
}  # fmt: skip
# Words a parser error would show: a person must never get those instead of a rule.
PARSER_NOISE = ("Expecting", "Invalid expression", "Required keyword", "line 1, col")


def test_the_set_covers_every_class_in_every_dialect() -> None:
    classes = Counter((c["class"], c["dialect"]) for c in CASES)
    for cls in ("column_scope", "cpu", "memory", "rows", "fingerprint", "legitimate"):
        assert classes[(cls, "sqlite")] >= 3 and classes[(cls, "postgres")] >= 3, cls
    assert len({c["id"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("with_schema", [True, False], ids=["schema", "no-schema"])
def test_every_attack_is_refused_and_every_legitimate_query_passes(with_schema: bool) -> None:
    policy = default_policy()
    wrong = []
    for case in CASES:
        guard = SqlGuard(case["dialect"], schema=SCHEMA if with_schema else None)
        verdict = guard.check(case["sql"], policy.allow_list(["employee", case["role"]]))
        if verdict.allowed != (case["expect"] == "allowed"):
            wrong.append((case["id"], case["sql"], verdict.reasons))
        for reason in verdict.reasons:
            assert "\n" not in reason and len(reason) < 400, reason
            assert not any(n in reason for n in PARSER_NOISE), (case["id"], reason)
    assert not wrong, wrong


def _refusal(sql: str, dialect: str, role: str = "finance") -> str:
    verdict = SqlGuard(dialect, schema=SCHEMA).check(sql, default_policy().allow_list(["employee", role]))
    assert not verdict.allowed
    return " | ".join(verdict.reasons)


def test_refusals_say_which_rule_and_what_to_do_instead() -> None:
    text = _refusal("SELECT x.salary FROM (employees) AS x", "postgres")
    assert text.startswith("table employees column salary is not readable by you; leave it out")
    assert "readable columns of employees: department_id" in text
    text = _refusal("SELECT j FROM employees AS x(a, b, c, d, e, f, g, h, i, j)", "postgres")
    assert "column aliases on table employees" in text and "alias them there" in text
    text = _refusal("SELECT COUNT(*) FROM generate_series(1, 1000000000)", "postgres")
    assert "would produce 1,000,000,000 rows" in text and "narrow the bounds" in text
    text = _refusal("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT COUNT(*) FROM c", "sqlite")
    assert "recursive CTE c has no bound" in text and "WHERE n < 12" in text
    text = _refusal("SELECT repeat('a', 100000000)", "postgres")
    assert text == "repeat() needs a literal count of at most 10,000 (it can build huge strings)"
    text = _refusal("SELECT * FROM generate_series(1, 12)", "sqlite")
    assert "SQLite has no generate_series" in text and "WITH RECURSIVE" in text


@pytest.mark.parametrize(
    ("sql", "rows"),
    [
        ("SELECT n FROM generate_series(1, 12) AS n", 12),
        ("SELECT n FROM generate_series(0, 1000, 1) AS n", 1001),
        ("SELECT m FROM generate_series(DATE '2025-01-01', DATE '2025-12-01', INTERVAL '1 month') AS m", 12),
        ("SELECT d FROM generate_series('2025-01-01'::date, '2025-03-31'::date, '1 day'::interval) AS d", 90),
    ],
)
def test_literal_bounded_generate_series_counts_its_rows(sql: str, rows: int) -> None:
    allow = default_policy().allow_list(["analyst"])
    assert SqlGuard("postgres", max_rows=max(rows, 100)).check(sql, allow).allowed
    # One row fewer than the series would give is refused: the bound is counted, not guessed.
    assert not SqlGuard("postgres", max_rows=rows - 1).check(sql, allow).allowed


def test_chamberlain_sql_check_refuses_every_attack_for_an_analyst() -> None:
    lines = [json.dumps({"sql": c["sql"], "dialect": c["dialect"]}) for c in CASES if c["expect"] == "refused"]
    result = CliRunner().invoke(app, ["check", "--json", "--user", "u_priya"], input="\n".join(lines))
    verdicts = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(verdicts) == len(lines)
    assert [v["allowed"] for v in verdicts] == [False] * len(lines)
    legit = [
        json.dumps({"sql": c["sql"], "dialect": c["dialect"]})
        for c in CASES
        if c["expect"] == "allowed" and c["role"] in ("analyst", "finance")
    ]
    result = CliRunner().invoke(app, ["check", "--json", "--user", "u_priya"], input="\n".join(legit))
    assert result.exit_code == 0, result.stdout
