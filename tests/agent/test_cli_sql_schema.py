"""`chamberlain sql schema --user U`: only what U may read, with types and sample values."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from agent.interfaces.cli.app import app


def test_schema_shows_only_readable_tables_with_samples(tmp_path: Path) -> None:
    wh = tmp_path / "wh.db"
    with sqlite3.connect(wh) as c:
        c.execute("CREATE TABLE regions (region_code TEXT PRIMARY KEY, name TEXT)")
        c.execute("INSERT INTO regions VALUES ('EMEA', 'Europe'), ('APAC', 'Asia Pacific')")
        c.execute("CREATE TABLE expenses (expense_id INTEGER PRIMARY KEY, amount REAL)")
        c.execute("INSERT INTO expenses VALUES (1, 12.5)")
    url = f"sqlite:///{wh}"
    runner = CliRunner()
    erin = runner.invoke(app, ["sql", "schema", "--user", "u_erin", "--warehouse", url], env={"COLUMNS": "150"})
    assert erin.exit_code == 0, erin.output
    assert "regions" in erin.output and "EMEA" in erin.output and "text key" in erin.output
    assert "expenses" not in erin.output  # an engineer may not read expenses
    dana = runner.invoke(app, ["sql", "schema", "--user", "u_dana", "--warehouse", url], env={"COLUMNS": "150"})
    assert dana.exit_code == 0, dana.output
    assert "expenses" in dana.output and "12.5" in dana.output
    nobody = runner.invoke(app, ["sql", "schema", "--user", "u_nobody", "--warehouse", url])
    assert nobody.exit_code != 0 and "unknown user" in nobody.output
