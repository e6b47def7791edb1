"""`chamberlain requests template KIND`: a valid example per kind, every field documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.interfaces.cli.app import app
from agent.interfaces.cli.templates import field_rows
from policies.requests import REQUEST_KINDS, parse_request

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
runner = CliRunner()


@pytest.mark.parametrize("kind", REQUEST_KINDS)
def test_template_is_a_valid_request_that_routes(kind: str, tmp_path: Path) -> None:
    res = runner.invoke(app, ["requests", "template", kind])
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert parse_request(body).kind == kind
    f = tmp_path / "req.json"
    f.write_text(res.stdout)
    sim = runner.invoke(app, ["approvals", "simulate", str(f), "--user", "u_alice", "--json"])
    assert sim.exit_code == 0, sim.output
    assert json.loads(sim.stdout)["kind"] == kind


@pytest.mark.parametrize("kind", REQUEST_KINDS)
def test_every_field_is_in_the_readme_and_the_field_table(kind: str) -> None:
    rows = field_rows(kind)
    res = runner.invoke(app, ["requests", "template", kind, "--fields"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for name, _type, _required, description in rows:
        assert f"| `{name}` |" in README, f"README does not document {kind}.{name}"
        assert name in res.stdout and description.split()[0] in res.stdout


def test_unknown_kind_names_the_known_ones() -> None:
    res = runner.invoke(app, ["requests", "template", "bonus"])
    assert res.exit_code == 1 and "use one of: expense" in res.stderr
