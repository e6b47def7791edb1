"""The warehouse connector and the demo generator, on SQLite and on a real PostgreSQL server.

Read-only is proven at the database: every attack of evals/sql_adversarial.jsonl is sent
*past the guard* straight to the read-only connection. Each case's ``db`` field says what the
database itself must do: ``refused`` (writes, DDL, INTO, locks, PRAGMA, ATTACH, COPY, file and
sleep functions, multi-statement tricks, ...) must fail there; ``contained`` may run but only
reads (which tables and columns a person may see is enforced per asker too: see
tests/connectors/test_warehouse_limits.py and test_warehouse_pg_limits.py); ``not_run`` is MySQL
(no server in the tests). Afterwards nothing has changed: same row counts, same tables, the
session still read-only, no advisory locks.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import psycopg
import pytest

from connectors.demo.company import CUSTOMERS, PRODUCTS
from connectors.demo.warehouse_gen import TABLE_ORDER, TABLES, generate_data, generate_warehouse
from connectors.errors import ConnectorError, ConnectorUnavailable, InvalidRequest
from connectors.warehouse import QueryFailed, SqlWarehouse, Warehouse, connect_sqlite_readonly
from policies.directory import Directory
from policies.sql_guard import normalize_sql
from tests.warehouse_fixtures import PG_SCALE, SEED, demo_warehouse_path, demo_warehouse_url, pg_warehouse

__all__ = ["demo_warehouse_path", "demo_warehouse_url", "pg_warehouse"]  # fixtures used here

ADVERSARIAL = Path(__file__).resolve().parents[2] / "evals" / "sql_adversarial.jsonl"
CASES = [json.loads(line) for line in ADVERSARIAL.read_text(encoding="utf-8").splitlines() if line.strip()]


def _counts(wh: SqlWarehouse) -> dict[str, int]:
    return {t: wh.run(f"SELECT COUNT(*) FROM {t}").rows[0][0] for t in TABLE_ORDER}


def _attack(wh: SqlWarehouse, dialect: str) -> tuple[list[str], list[str]]:
    """Run every attack of ``dialect`` raw; return (refused-as-expected ids, wrongly-run ids)."""
    refused, wrongly_ran = [], []
    for case in CASES:
        if case["dialect"] != dialect or case["db"] == "not_run":
            continue
        try:
            wh.run(normalize_sql(case["sql"]), max_rows=3, timeout_s=1.0)
        except (QueryFailed, ConnectorUnavailable):
            refused.append(case["id"])
        else:
            if case["db"] == "refused":
                wrongly_ran.append(case["id"])
    return refused, wrongly_ran


# -- the generator ----------------------------------------------------------------------------


def test_generator_is_deterministic_and_large_enough() -> None:
    a = generate_data(people=Directory.load(), seed=SEED, scale=0.02)
    b = generate_data(people=Directory.load(), seed=SEED, scale=0.02)
    assert a == b
    assert generate_data(people=Directory.load(), seed=SEED + 1, scale=0.02)["orders"] != a["orders"]


def test_demo_warehouse_shape(demo_warehouse_path: Path) -> None:
    con = sqlite3.connect(demo_warehouse_path)
    counts = {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLE_ORDER}
    assert len(TABLE_ORDER) >= 8
    assert counts["order_items"] >= 100_000
    span = con.execute("SELECT MIN(order_date), MAX(order_date) FROM orders").fetchone()
    assert span == ("2023-01-01", "2025-12-31")
    keys = {r[0] for r in con.execute("SELECT customer_key FROM customers")}
    assert keys == {c.key for c in CUSTOMERS}
    assert counts["products"] == len(PRODUCTS)
    directory_ids = {r[0] for r in con.execute("SELECT directory_id FROM employees WHERE directory_id IS NOT NULL")}
    assert {"u_priya", "u_hannah", "u_alice", "u_casey"} <= directory_ids
    # Every column has a business comment.
    comments = con.execute("SELECT COUNT(*) FROM _column_comments WHERE column_name != ''").fetchone()[0]
    assert comments == sum(len(TABLES[t][1]) for t in TABLE_ORDER)
    # Foreign keys hold (returns → order lines → orders → customers).
    orphan = con.execute(
        "SELECT COUNT(*) FROM returns r LEFT JOIN order_items oi ON oi.order_item_id = r.order_item_id "
        "WHERE oi.order_item_id IS NULL"
    ).fetchone()[0]
    assert orphan == 0
    con.close()


def test_generate_reports_progress(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    stats = generate_warehouse(
        tmp_path / "w.sqlite", people=Directory.load(), scale=0.01, progress=lambda *a: seen.append(a)
    )
    assert seen and seen[-1][1] == seen[-1][2] == sum(stats.rows.values())


# -- SQLite: read-only at the database ------------------------------------------------------


def test_sqlite_connection_is_read_only_at_every_layer(demo_warehouse_path: Path) -> None:
    con = connect_sqlite_readonly(demo_warehouse_path)
    assert con.execute("PRAGMA query_only").fetchone() == (1,)
    for sql in (
        "DELETE FROM orders",
        "CREATE TEMP TABLE t (a)",
        "ATTACH DATABASE ':memory:' AS other",
        "PRAGMA query_only = OFF",
        "SELECT load_extension('x')",
    ):
        with pytest.raises(sqlite3.DatabaseError):
            con.execute(sql)
    with pytest.raises(sqlite3.DataError):
        con.execute("SELECT randomblob(100000000)").fetchone()
    con.close()
    # mode=ro: even without the authorizer the file cannot be written.
    raw = sqlite3.connect(f"{demo_warehouse_path.resolve().as_uri()}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        raw.execute("DELETE FROM regions")
    raw.close()


def test_sqlite_attacks_fail_at_the_database(demo_warehouse_url: str) -> None:
    wh = SqlWarehouse(demo_warehouse_url)
    before = _counts(wh)
    refused, wrongly_ran = _attack(wh, "sqlite")
    print(f"\nSQLite: {len(refused)} attacks refused by the database")
    assert not wrongly_ran
    assert len(refused) >= 30
    assert _counts(wh) == before
    wh.close()


def test_sqlite_timeout_row_cap_and_errors(demo_warehouse_url: str) -> None:
    wh = SqlWarehouse(demo_warehouse_url)
    assert isinstance(wh, Warehouse) and wh.dialect == "sqlite"
    with pytest.raises(QueryFailed, match="time limit") as err:
        wh.run("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c", timeout_s=0.3)
    assert err.value.timed_out
    # The connection is usable again afterwards.
    assert wh.run("SELECT COUNT(*) FROM regions").rows == ((5,),)
    capped = wh.run("SELECT order_id, order_date FROM orders ORDER BY order_id", max_rows=7)
    assert capped.row_count == 7 and capped.truncated
    assert capped.types == ("integer", "date")
    exact = wh.run("SELECT region_code FROM regions", max_rows=5)
    assert exact.row_count == 5 and not exact.truncated
    with pytest.raises(QueryFailed, match="no such column: nope"):
        wh.run("SELECT nope FROM orders")
    wh.close()


def test_sqlite_introspection_reads_comments_and_keys(demo_warehouse_url: str) -> None:
    wh = SqlWarehouse(demo_warehouse_url)
    tables = wh.tables()
    assert set(tables) == set(TABLE_ORDER)  # the _column_comments table is hidden
    items = tables["order_items"]
    assert "net sales" in items.column("net_amount").comment  # type: ignore[union-attr]
    assert items.column("order_id").references == "orders.order_id"  # type: ignore[union-attr]
    assert items.column("order_item_id").primary_key  # type: ignore[union-attr]
    assert "restricted" in tables["employees"].comment
    assert wh.tables() == tables  # cached
    wh.close()


def test_bad_urls_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="needs a file"):
        SqlWarehouse("sqlite://")
    with pytest.raises(InvalidRequest, match="unsupported warehouse database"):
        SqlWarehouse("oracle://u@h/db")
    wh = SqlWarehouse(f"sqlite:///{tmp_path / 'missing.sqlite'}")
    with pytest.raises(ConnectorError, match="does not exist"):
        wh.run("SELECT 1")


# -- PostgreSQL: read-only role, read-only sessions ---------------------------------------------


@pytest.mark.postgres
def test_postgres_attacks_fail_at_the_database(pg_warehouse: tuple[str, str]) -> None:
    admin, ro = pg_warehouse
    wh = SqlWarehouse(ro, timeout_s=1.0)
    assert wh.dialect == "postgres"
    before = _counts(wh)
    refused, wrongly_ran = _attack(wh, "postgres")
    print(f"\nPostgreSQL: {len(refused)} attacks refused by the database")
    assert not wrongly_ran
    assert len(refused) >= 40
    assert _counts(wh) == before
    # Session state an attack may have changed does not survive into the next query.
    settings = wh.run(
        "SELECT current_setting('default_transaction_read_only'), "
        "(SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory')"
    ).rows
    assert settings == (("on", 0),)
    with psycopg.connect(admin) as con:
        tables = {r[0] for r in con.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables == set(TABLE_ORDER)
    wh.close()


@pytest.mark.postgres
def test_postgres_timeout_introspection_and_values(pg_warehouse: tuple[str, str]) -> None:
    _, ro = pg_warehouse
    wh = SqlWarehouse(ro, timeout_s=5.0)
    with pytest.raises(QueryFailed, match="time limit"):
        wh.run("SELECT pg_sleep(3)", timeout_s=0.2)
    tables = wh.tables()
    assert set(tables) == set(TABLE_ORDER)
    assert "net sales" in tables["order_items"].column("net_amount").comment  # type: ignore[union-attr]
    assert tables["orders"].column("customer_id").references == "customers.customer_id"  # type: ignore[union-attr]
    r = wh.run("SELECT order_date, net_amount FROM orders JOIN order_items USING (order_id) LIMIT 2")
    assert r.types == ("date", "number")  # DATE → ISO text, NUMERIC → float
    # '%' in the SQL is data, not a driver placeholder.
    like = wh.run("SELECT name FROM regions WHERE name LIKE '%America%' ORDER BY name")
    assert [r[0] for r in like.rows] == ["Latin America", "North America East", "North America West"]
    expected = generate_data(people=Directory.load(), seed=SEED, scale=PG_SCALE)
    assert wh.run("SELECT COUNT(*) FROM order_items").rows[0][0] == len(expected["order_items"])
    wh.close()
