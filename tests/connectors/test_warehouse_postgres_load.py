"""PostgreSQL as a first-class warehouse: ``chamberlain warehouse load`` fills a real server, the
demo and guarded queries run against it, and a login that can write is refused."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from agent.interfaces.cli.app import app
from connectors.warehouse import SqlWarehouse
from connectors.warehouse_role import WritableWarehouseRole
from policies.directory import Directory

pytestmark = pytest.mark.postgres

runner = CliRunner()
DB = "chamberlain_load"
RO = "chamberlain_ro_load"


@pytest.fixture(scope="module")
def loaded(postgres_url: str) -> Iterator[dict[str, str]]:
    """A fresh database loaded by the CLI; admin and read-only URLs (the latter in postgres:// form)."""
    base = postgres_url.rpartition("/")[0]
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {DB}")
        con.execute(f"CREATE DATABASE {DB}")
        if not con.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (RO,)).fetchone():
            con.execute(f"CREATE ROLE {RO} LOGIN PASSWORD 'pw'")
    admin = f"{base}/{DB}"
    # The README's provisioning SQL, as printed by the CLI, run as the owner before loading.
    printed = runner.invoke(app, ["warehouse", "provisioning-sql", "--role", RO, "--database", DB])
    assert printed.exit_code == 0, printed.output
    with psycopg.connect(admin, autocommit=True) as con:
        for stmt in printed.output.split(";\n"):
            if stmt.strip() and not stmt.strip().startswith("CREATE ROLE"):
                con.execute(stmt)
    res = runner.invoke(app, ["warehouse", "load", "--url", admin, "--scale", "0.05", "--grant-select-to", RO])
    assert res.exit_code == 0, res.output
    assert "orders" in res.output and "SELECT granted" in res.output
    # Column rules enforced by PostgreSQL itself: one role per data-access profile (issue #18).
    roles = runner.invoke(app, ["sql", "roles", "--apply", "--url", admin, "--login", RO])
    assert roles.exit_code == 0, roles.output
    ro = admin.replace("postgresql://postgres@", f"postgres://{RO}:pw@", 1)
    yield {"admin": admin, "ro": ro}


def test_the_loaded_warehouse_matches_the_sqlite_one(loaded: dict[str, str], tmp_path: Path) -> None:
    from connectors.demo.warehouse_gen import TABLE_ORDER, generate_data

    expected = generate_data(people=Directory.load(), seed=7, scale=0.05)
    with psycopg.connect(loaded["admin"]) as con:
        for table in TABLE_ORDER:
            row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert row is not None and row[0] == len(expected[table]), table


def test_loading_twice_needs_replace(loaded: dict[str, str]) -> None:
    again = runner.invoke(app, ["warehouse", "load", "--url", loaded["admin"], "--scale", "0.05"])
    assert again.exit_code == 1
    assert "already has demo tables" in again.output and "--replace" in again.output
    assert "Traceback" not in again.output
    replaced = runner.invoke(
        app, ["warehouse", "load", "--url", loaded["admin"], "--scale", "0.05", "--replace", "--grant-select-to", RO]
    )
    assert replaced.exit_code == 0, replaced.output
    assert "replaced" in replaced.output


def test_a_superuser_url_is_refused_with_one_line(loaded: dict[str, str]) -> None:
    res = runner.invoke(app, ["warehouse", "check", "--url", loaded["admin"]])
    assert res.exit_code == 1
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) <= 2 and "superuser" in res.output and "--allow-writable-role" in res.output
    with pytest.raises(WritableWarehouseRole, match="superuser"):
        SqlWarehouse(loaded["admin"])
    query = runner.invoke(app, ["sql", "run", "SELECT 1", "--user", "u_priya", "--warehouse", loaded["admin"]])
    assert query.exit_code != 0 and "superuser" in query.output and "Traceback" not in query.output


def test_allow_writable_role_opens_it_with_a_loud_warning(
    loaded: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="connectors.warehouse_role"):
        wh = SqlWarehouse(loaded["admin"], allow_writable_role=True)
    try:
        assert wh.run("SELECT count(*) AS n FROM regions").rows[0][0] > 0
    finally:
        wh.close()
    assert "NOT READ-ONLY" in caplog.text
    res = runner.invoke(app, ["warehouse", "check", "--url", loaded["admin"], "--allow-writable-role"])
    assert res.exit_code == 0 and "WARNING" in res.output


def test_a_role_with_one_write_grant_is_refused(loaded: dict[str, str]) -> None:
    with psycopg.connect(loaded["admin"], autocommit=True) as con:
        con.execute(f"GRANT INSERT ON orders TO {RO}")
    try:
        with pytest.raises(WritableWarehouseRole, match=r"INSERT on public\.orders"):
            SqlWarehouse(loaded["ro"])
    finally:
        with psycopg.connect(loaded["admin"], autocommit=True) as con:
            con.execute(f"REVOKE INSERT ON orders FROM {RO}")


def test_the_read_only_role_passes_and_postgres_urls_work(loaded: dict[str, str]) -> None:
    assert loaded["ro"].startswith("postgres://")
    res = runner.invoke(app, ["warehouse", "check", "--url", loaded["ro"]])
    assert res.exit_code == 0 and "cannot write" in res.output, res.output
    with SqlWarehouse(loaded["ro"]) as wh:
        assert wh.dialect == "postgres"
        assert "orders" in wh.tables()


def test_demo_and_a_guarded_query_run_on_the_loaded_warehouse(
    loaded: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An earlier test may have reloaded (--replace) the tables: grants follow the tables, so the
    # operator re-runs the (idempotent) role provisioning after a reload.
    roles = runner.invoke(app, ["sql", "roles", "--apply", "--url", loaded["admin"], "--login", RO])
    assert roles.exit_code == 0, roles.output
    monkeypatch.setenv("CHAMBERLAIN_WAREHOUSE_URL", loaded["ro"])
    demo = runner.invoke(app, ["demo", "--data-dir", str(tmp_path)])
    assert demo.exit_code == 0, demo.output
    assert "Traceback" not in demo.output
    assert not (tmp_path / "warehouse.db").exists()  # the embedded SQLite warehouse was not used
    query = runner.invoke(
        app,
        [
            "sql",
            "run",
            "SELECT r.name, COUNT(*) AS orders FROM orders o JOIN customers c ON c.customer_id = o.customer_id"
            " JOIN regions r ON r.region_code = c.region_code GROUP BY r.name ORDER BY r.name",
            "--user",
            "u_priya",
            "--json",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert query.exit_code == 0, query.output
    result = json.loads(query.output)
    assert result["rows"] and all(int(row[1]) > 0 for row in result["rows"])
