"""chamberlain docs ingest / search, through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.interfaces.cli.docs import app
from connectors.knowledge import HashingEmbedder, KnowledgeIndex
from tests.connectors.knowledge_support import handbook_data_dir

runner = CliRunner()


@pytest.fixture
def fast_data_dir(tmp_path: Path) -> Path:
    """A data dir whose collection records the hashing embedder: the CLI picks it up by name."""
    KnowledgeIndex.open(tmp_path / "data" / "knowledge", embedder=HashingEmbedder(64))
    return tmp_path / "data"


def test_ingest_is_incremental_and_applies_groups(tmp_path: Path, fast_data_dir: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "pay.md").write_text("# Pay\n\nPayroll runs monthly.")
    (docs / "open.md").write_text("---\ngroups: [all]\n---\n# Open\n\nCanteen menu.")
    args = ["ingest", str(docs), "--data-dir", str(fast_data_dir), "--groups", "finance,hr", "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert sorted(report["added"]) == ["open", "pay"] and report["chunks_embedded"] == 2

    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["chunks_embedded"] == 0 and sorted(report["unchanged"]) == ["open", "pay"]

    search = ["search", "payroll monthly", "--data-dir", str(fast_data_dir), "--json"]
    as_sales = json.loads(runner.invoke(app, [*search, "--user", "u_alice"]).stdout)
    assert [h["doc_id"] for h in as_sales["hits"]] == ["open"]  # never "pay"
    as_finance = json.loads(runner.invoke(app, [*search, "--user", "u_dana"]).stdout)
    assert as_finance["hits"][0]["doc_id"] == "pay"


def test_ingest_shows_progress_and_summary(tmp_path: Path, fast_data_dir: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nText.")
    result = runner.invoke(app, ["ingest", str(docs), "--data-dir", str(fast_data_dir)])
    assert result.exit_code == 0, result.output
    assert "1 added" in result.output and "1 chunks embedded" in result.output


@pytest.mark.parametrize("user", ["u_alice", "u_casey", "u_tom"])
def test_search_never_shows_restricted_documents_to_outsiders(user: str) -> None:
    data_dir = str(handbook_data_dir() / "data")
    for query in ("salary bands compensation", "supplier bank details change verification"):
        result = runner.invoke(app, ["search", query, "--user", user, "--data-dir", data_dir, "--json", "--k", "10"])
        assert result.exit_code == 0, result.output
        docs = {h["doc_id"] for h in json.loads(result.stdout)["hits"]}
        assert docs.isdisjoint({"compensation-guidelines", "finance-operations"})
        # Plain output too.
        plain = runner.invoke(app, ["search", query, "--user", user, "--data-dir", data_dir])
        assert "Compensation guidelines" not in plain.output
        assert "Finance operations handbook" not in plain.output


def test_search_as_member_prints_citations() -> None:
    data_dir = str(handbook_data_dir() / "data")
    result = runner.invoke(app, ["search", "salary bands", "--user", "u_hannah", "--data-dir", data_dir])
    assert result.exit_code == 0, result.output
    assert "Compensation guidelines" in result.output and "Salary bands" in result.output
    out = runner.invoke(
        app, ["search", "salary bands", "--user", "u_hannah", "--data-dir", data_dir, "--json", "--k", "1"]
    )
    (hit,) = json.loads(out.stdout)["hits"]
    assert hit["citation"] == "doc:compensation-guidelines#1"
    assert hit["uri"].startswith("https://intranet.larkspur.example/hr/")
    assert hit["passage"].startswith("Every role maps to a level")


def test_unknown_user_and_bad_options_are_clear_errors(fast_data_dir: Path) -> None:
    result = runner.invoke(app, ["search", "x", "--user", "u_nobody", "--data-dir", str(fast_data_dir)])
    assert result.exit_code == 2 and "unknown user 'u_nobody'" in result.output
    result = runner.invoke(app, ["search", "x", "--user", "u_alice", "--mode", "magic"])
    assert result.exit_code == 2 and "--mode" in result.output
    result = runner.invoke(app, ["ingest", "/no/such/folder", "--data-dir", str(fast_data_dir)])
    assert result.exit_code == 2 and "no such file" in result.output
