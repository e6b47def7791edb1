"""The SQL guard: normalization, the walk, allow-lists, LIMIT rewriting, transpiling."""

from __future__ import annotations

import random

import pytest
import sqlglot
from sqlglot import exp

from policies.data_access import DataAccessPolicy, default_policy, warehouse_allow_list
from policies.directory import Directory
from policies.errors import PolicyFileError
from policies.sql_functions import SAFE_FUNCTION_CLASSES
from policies.sql_guard import AllowList, SqlGuard, TableGrant, check_sql, normalize_sql

SALES = AllowList.of({"orders": None, "order_items": None, "regions": None})
ANALYST = AllowList.of({"employees": None, "orders": None}, exclude={"employees": ["salary"]})
SCHEMA = {
    "employees": ["employee_id", "name", "salary", "department_id"],
    "orders": ["order_id", "region_code", "sales_rep_id", "order_date"],
    "order_items": ["order_item_id", "order_id", "net_amount"],
    "regions": ["region_code", "name"],
}


def guard(dialect: str = "sqlite", **kw: object) -> SqlGuard:
    return SqlGuard(dialect, schema=SCHEMA, **kw)  # type: ignore[arg-type]


# -- normalization --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("```sql\nSELECT 1\n```", "SELECT 1"),
        ("```SQLite\nSELECT 1;\n```\nThis query counts rows.", "SELECT 1"),
        ("Here you go:\n```\nSELECT 2\n```", "SELECT 2"),
        ("SELECT 3\n```", "SELECT 3"),
        ("```SELECT 4```", "SELECT 4"),
        ("SELECT a\\_b FROM t WHERE x LIKE 'a\\_b'", "SELECT a_b FROM t WHERE x LIKE 'a\\_b'"),
        ("  SELECT 5 ;  ", "SELECT 5"),
    ],
)
def test_normalize_strips_what_models_add(raw: str, expected: str) -> None:
    assert normalize_sql(raw) == expected


def test_prose_after_the_statement_is_dropped_but_a_second_statement_is_not() -> None:
    ok = guard().check("SELECT region_code FROM orders;\n\nThis returns each order's region.", SALES)
    assert ok.allowed, ok.reasons
    bad = guard().check("SELECT region_code FROM orders; DELETE FROM orders", SALES)
    assert not bad.allowed
    assert "exactly one statement is allowed; found 2" in bad.reasons


# -- the verdict ----------------------------------------------------------------------------


def test_plain_read_is_allowed_and_reports_tables_and_columns() -> None:
    v = guard().check(
        "SELECT r.name, SUM(oi.net_amount) FROM orders o JOIN order_items oi ON oi.order_id = o.order_id "
        "JOIN regions r ON r.region_code = o.region_code GROUP BY r.name",
        SALES,
    )
    assert v.allowed and v.reasons == ()
    assert v.tables == ("order_items", "orders", "regions")
    assert "order_items.net_amount" in v.columns
    assert v.sql is not None and v.sql.endswith("LIMIT 1000")
    assert v.to_json() == {"allowed": True, "reasons": [], "sql": v.sql}


def test_every_reason_is_reported_not_just_the_first() -> None:
    v = guard("postgres").check("SELECT pg_sleep(1), salary FROM employees FOR UPDATE", SALES)
    assert not v.allowed and v.sql is None
    text = " | ".join(v.reasons)
    assert "function pg_sleep is not allowed" in text
    assert "table employees is not readable by you" in text
    assert "row locks" in text


@pytest.mark.parametrize(
    ("sql", "dialect", "needle"),
    [
        ("WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d", "postgres", "writable CTEs"),
        ("SELECT * INTO copy FROM orders", "postgres", "SELECT ... INTO"),
        ("SELECT pg_sleep(1)", "postgres", "function pg_sleep is not allowed"),
        ("SELECT 1 /*! ; DROP TABLE orders */", "mysql", "executable comments"),
        ("PRAGMA query_only = OFF", "sqlite", "only a query (SELECT) may run, not PRAGMA"),
        ("SELECT * FROM sqlite_master", "sqlite", "system catalog sqlite_master"),
        ("SELECT * FROM pg_catalog.pg_user", "postgres", "system catalog pg_catalog.pg_user"),
        ("SELECT name, salary FROM employees", "sqlite", "table employees column salary is not readable"),
        ("SELECT e FROM employees e", "postgres", "whole-row reference to table employees"),
        ("SELECT 1; SELECT 2", "sqlite", "exactly one statement"),
        ("SELECT @@version", "mysql", "session variables"),
        ("SELECT", "sqlite", "must name what it selects"),
        ("SELEC 1 FROM", "sqlite", "could not parse"),
    ],
)
def test_rejections_carry_a_readable_reason(sql: str, dialect: str, needle: str) -> None:
    v = guard(dialect).check(sql, ANALYST)
    assert not v.allowed, sql
    assert any(needle in r for r in v.reasons), v.reasons


def test_cte_names_resolve_by_scope_not_by_name() -> None:
    only_cte = guard().check("WITH x AS (SELECT 1 AS a) SELECT a FROM x", AllowList.nothing())
    assert only_cte.allowed, only_cte.reasons
    recursive = guard().check(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT i FROM n",
        AllowList.nothing(),
    )
    assert recursive.allowed, recursive.reasons
    # Inside its own (non-recursive) body a CTE's name means the real table: that must be checked.
    shadow = guard().check("WITH employees AS (SELECT * FROM employees) SELECT 1 FROM employees", SALES)
    assert not shadow.allowed
    assert any("table employees is not readable" in r for r in shadow.reasons)


def test_column_restrictions_follow_aliases_subqueries_and_stars() -> None:
    g = guard()
    assert g.check("SELECT e.name, e.department_id FROM employees e", ANALYST).allowed
    assert g.check("SELECT COUNT(*) FROM employees", ANALYST).allowed
    for sql in (
        "SELECT * FROM employees",
        "SELECT x.s FROM (SELECT salary AS s FROM employees) AS x",
        "SELECT name FROM employees WHERE salary > 1",
        "SELECT e2.name FROM employees AS e2 ORDER BY e2.salary",
        "SELECT e.* FROM orders o JOIN employees e ON e.employee_id = o.sales_rep_id",
    ):
        assert not g.check(sql, ANALYST).allowed, sql
    # Full access (the CFO's) sees everything.
    assert g.check("SELECT salary FROM employees", AllowList.of({"employees": None})).allowed


def test_unqualified_columns_without_a_schema_are_rejected_only_if_a_restricted_table_may_hold_them() -> None:
    bare = SqlGuard("sqlite")  # no schema
    grant = AllowList.of({"employees": ["employee_id", "name"], "orders": None})
    assert bare.check("SELECT name FROM employees", grant).allowed
    v = bare.check("SELECT order_date FROM orders JOIN employees ON employee_id = sales_rep_id", grant)
    assert not v.allowed and any("qualify it" in r for r in v.reasons)
    assert bare.check(
        "SELECT o.order_date FROM orders o JOIN employees e ON e.employee_id = o.sales_rep_id", grant
    ).allowed


# -- LIMIT ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "dialect", "expected_tail", "limited"),
    [
        ("SELECT name FROM regions", "sqlite", "LIMIT 50", True),
        ("SELECT name FROM regions LIMIT 10", "sqlite", "LIMIT 10", False),
        ("SELECT name FROM regions LIMIT 5000", "sqlite", "LIMIT 50", True),
        ("SELECT name FROM regions LIMIT -1", "sqlite", "LIMIT 50", True),
        ("SELECT name FROM regions UNION SELECT name FROM regions", "sqlite", "LIMIT 50", True),
        ("SELECT name FROM regions FETCH FIRST 500 ROWS ONLY", "postgres", "FETCH FIRST 50 ROWS ONLY", True),
        ("SELECT name FROM regions LIMIT 20, 500", "mysql", "LIMIT 50 OFFSET 20", True),
    ],
)
def test_limit_is_injected_or_clamped(sql: str, dialect: str, expected_tail: str, limited: bool) -> None:
    v = SqlGuard(dialect, max_rows=50).check(sql, AllowList.any_table())
    assert v.allowed, v.reasons
    assert v.sql is not None and v.sql.endswith(expected_tail), v.sql
    assert v.limited is limited


def test_non_literal_limit_is_wrapped() -> None:
    v = SqlGuard("sqlite", max_rows=50).check(
        "SELECT name FROM regions LIMIT (SELECT COUNT(*) FROM orders)", AllowList.any_table()
    )
    assert v.allowed and v.sql is not None
    tree = sqlglot.parse_one(v.sql, read="sqlite")
    assert tree.args["limit"].expression.this == "50"
    assert isinstance(tree.args["from_"].this, exp.Subquery)


def test_output_drops_comments_and_is_in_the_warehouse_dialect() -> None:
    v = SqlGuard("postgres").check("SELECT `name` FROM regions -- sneaky\n", AllowList.any_table())
    assert v.allowed, v.reasons
    assert v.source_dialect != "postgres"  # parsed as MySQL, then transpiled
    assert v.sql == 'SELECT "name" FROM regions LIMIT 1000'
    explicit = check_sql(
        "SELECT IFNULL(name, '?') FROM regions", dialect="postgres", source_dialect="mysql", allow=AllowList.any_table()
    )
    assert explicit.allowed and explicit.sql == "SELECT COALESCE(name, '?') FROM regions LIMIT 1000"


def test_garbage_never_raises() -> None:
    rng = random.Random(3)
    alphabet = "SELECT FROM WHERE ()'\";,*-/!@#$ 0123abc\n\\`[]{}"
    g = SqlGuard("mysql")
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        v = g.check(text, AllowList.any_table())
        assert v.allowed or v.reasons
    deep = "SELECT " + "(" * 3000 + "1" + ")" * 3000
    assert not g.check(deep, AllowList.any_table()).allowed


def test_unknown_dialect_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="use one of: sqlite, postgres, mysql"):
        SqlGuard("oracle")
    v = SqlGuard("sqlite").check("SELECT 1", AllowList.any_table(), source_dialect="oracle")
    assert not v.allowed and "unknown SQL dialect" in v.reasons[0]


def test_function_allow_list_names_real_sqlglot_classes() -> None:
    assert all(hasattr(exp, name) for name in SAFE_FUNCTION_CLASSES)


# -- allow-lists and the data access policy ---------------------------------------------------


def test_grant_union_keeps_only_what_every_restriction_agrees_to_hide() -> None:
    a = TableGrant(None, frozenset({"salary", "ssn"}))
    b = TableGrant(None, frozenset({"salary"}))
    assert a.union(b).excluded == {"salary"}
    listed = TableGrant(frozenset({"name", "salary"}))
    assert a.union(listed) == TableGrant(None, frozenset({"ssn"}))
    assert TableGrant().union(a) == TableGrant()


def test_roles_map_to_warehouse_allow_lists() -> None:
    directory = Directory.load()
    alice = warehouse_allow_list(directory.get("u_alice"))  # sales
    assert alice.grant("orders") is not None and alice.grant("employees") is None
    priya = warehouse_allow_list(directory.get("u_priya"))  # analyst
    grant = priya.grant("employees")
    assert grant is not None and not grant.allows("salary") and grant.allows("name")
    for hr_or_cfo in ("u_hannah", "u_marcus"):
        g = warehouse_allow_list(directory.get(hr_or_cfo)).grant("employees")
        assert g is not None and g.allows("salary")
    erin = warehouse_allow_list(directory.get("u_erin"))  # plain employee
    assert erin.table_names() == ["departments", "products", "regions"]
    casey = warehouse_allow_list(directory.get("u_casey"))  # contractor
    assert casey.table_names() == []


def test_policy_file_errors_name_the_place(tmp_path: pytest.TempPathFactory) -> None:
    bad = tmp_path / "access.yaml"  # type: ignore[operator]
    bad.write_text("roles:\n  sales:\n    orders: everything\n")
    with pytest.raises(PolicyFileError, match=r"roles\.sales\.orders"):
        DataAccessPolicy.load(bad)
    assert default_policy().roles["contractor"].table_names() == []


def test_quoted_names_resolve_like_the_database_does() -> None:
    # PostgreSQL: "EMPLOYEES" is a CTE, unquoted employees is the real table — which must be checked.
    v = SqlGuard("postgres").check('WITH "EMPLOYEES" AS (SELECT 1 AS x) SELECT * FROM employees', SALES)
    assert not v.allowed and any("table employees is not readable" in r for r in v.reasons)
    assert SqlGuard("postgres").check('WITH "t" AS (SELECT 1 AS x) SELECT x FROM t', AllowList.nothing()).allowed
    # A quoted mixed-case table is a different table in PostgreSQL, the same one in SQLite.
    assert not SqlGuard("postgres").check('SELECT name FROM "Regions"', SALES).allowed
    assert SqlGuard("sqlite").check('SELECT name FROM "Regions"', SALES).allowed
