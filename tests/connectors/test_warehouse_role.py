"""The warehouse-login check's offline parts: URL forms, the documented provisioning SQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.interfaces.cli.app import app
from connectors.errors import ConnectorUnavailable
from connectors.warehouse import POSTGRES_READONLY_ROLE_SQL
from connectors.warehouse_role import guard_warehouse_url, is_postgres, libpq_dsn, normalise_url

README = Path(__file__).parents[2] / "README.md"
runner = CliRunner()


def test_postgres_scheme_is_accepted_and_normalised() -> None:
    assert normalise_url("postgres://u:p@h:5/db") == "postgresql://u:p@h:5/db"
    assert is_postgres("postgres://u@h/db") and is_postgres("postgresql+psycopg://u@h/db")
    assert not is_postgres("sqlite:///x.db") and not is_postgres("not a url")
    assert libpq_dsn("postgresql+psycopg://u:p@h:5/db") == "postgresql://u:p@h:5/db"


def test_sqlite_urls_need_no_check(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert guard_warehouse_url(url) == url


def test_an_unreachable_server_is_a_one_line_error() -> None:
    with pytest.raises(ConnectorUnavailable, match="cannot connect to the warehouse") as info:
        guard_warehouse_url("postgres://ro@127.0.0.1:1/warehouse")
    assert "\n" not in str(info.value)


def test_readme_shows_the_provisioning_sql_the_code_documents() -> None:
    blocks = re.findall(r"```sql\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert POSTGRES_READONLY_ROLE_SQL in blocks
    printed = runner.invoke(app, ["warehouse", "provisioning-sql"])
    assert printed.exit_code == 0 and printed.output == POSTGRES_READONLY_ROLE_SQL
    other = runner.invoke(app, ["warehouse", "provisioning-sql", "--role", "bi_reader", "--database", "dw"])
    assert "CREATE ROLE bi_reader" in other.output and "DATABASE dw" in other.output
    bad = runner.invoke(app, ["warehouse", "provisioning-sql", "--role", "x; DROP TABLE t"])
    assert bad.exit_code == 1 and "plain lower-case identifier" in bad.output


def test_load_refuses_a_non_postgres_url_clearly(tmp_path: Path) -> None:
    res = runner.invoke(app, ["warehouse", "load", "--url", f"sqlite:///{tmp_path / 'x.db'}"])
    assert res.exit_code == 1 and "needs a PostgreSQL URL" in res.output and "Traceback" not in res.output
