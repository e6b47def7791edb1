"""Every command, given bad input, fails the way a person can act on: a non-zero exit, at most
three lines on stderr, no traceback, and a hint that says what to do."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.interfaces.cli.app import app

# (command line, words the hint must contain). {d} is an empty data dir, {f} a plain file,
# {missing} a path that does not exist, {badjson} a file of broken JSON, {req} a valid request.
CASES: list[tuple[str, str]] = [
    ("frobnicate", "--help"),
    ("audit verify --data-dir {missing}", "chamberlain seed"),
    ("audit verify --data-dir {f}", "is a file"),
    ("audit show --data-dir {f}", "is a file"),
    ("audit show --limit 0 --data-dir {d}", "--limit"),
    ("audit export --since yesterday --data-dir {d}", "e.g. 2026-11-01"),
    ("approvals list --status bogus --data-dir {d}", "use one of"),
    ("approvals list --data-dir {missing}", "does not exist"),
    ("approvals show apr_nothere --data-dir {d}", "approvals list"),
    ("approvals show apr_x --data-dir {d}", "at least 4 characters"),
    ("approvals approve apr_nothere --user u_raj --data-dir {d}", "approvals list"),
    ("approvals reject apr_nothere --user u_raj --data-dir {d}", "approvals list"),
    ("approvals approve apr_nothere --data-dir {d}", "--user"),
    ("approvals simulate {missing} --user u_alice", "cannot read"),
    ("approvals simulate {badjson} --user u_alice", "invalid JSON"),
    ("approvals submit {badjson} --user u_alice --data-dir {d}", "invalid JSON"),
    ("approvals submit {req} --user u_nobody --data-dir {d}", "u_nobody"),
    ("approvals withdraw apr_nothere --user u_alice --data-dir {d}", "not found"),
    ("ask hello --user u_nobody --data-dir {d}", "unknown user"),
    ("ask hello --data-dir {d}", "--user"),
    ("chat --user u_nobody --data-dir {d}", "unknown user"),
    ("resume nosuchthread --data-dir {d}", "nothing to resume"),
    ("serve --data-dir {d}", "CHAMBERLAIN_HTTP_TOKEN"),
    ("serve --port notaport --data-dir {d}", "--port"),
    ("slack serve --data-dir {d}", "SLACK_BOT_TOKEN"),
    ("sql run --user u_priya --data-dir {d}", "SQL"),
    ("sql run SELEC --user u_priya --warehouse sqlite:///{wh}", "SELECT"),
    ("sql run '' --user u_priya --warehouse sqlite:///{wh}", "SELECT"),
    ("sql run 'SELECT * FROM nowhere' --user u_priya --warehouse sqlite:///{wh}", "nowhere"),
    ("sql check --dialect oracle", "use one of"),
    ("sql check --tables , --user u_priya", "not both"),
    ("docs search x --user u_nobody --data-dir {d}", "unknown user"),
    ("docs search x --user u_alice --mode psychic --data-dir {d}", "--mode"),
    ("docs ingest {missing} --data-dir {d}", "no such file"),
    ("seed --data-dir {f}", "is a file"),
    ("demo --data-dir {f}", "is a file"),
]


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("badinput")
    (root / "d").mkdir()
    (root / "f").write_text("not a directory\n")
    (root / "bad.json").write_text('{"kind": "expense",\n "amount": }')
    (root / "req.json").write_text(
        json.dumps(
            {
                "kind": "expense",
                "amount": 42,
                "currency": "EUR",
                "category": "meals",
                "description": "Team lunch",
                "date": "2026-11-20",
                "has_receipt": True,
            }
        )
    )
    return {
        "d": str(root / "d"),
        "f": str(root / "f"),
        "missing": str(root / "missing"),
        "badjson": str(root / "bad.json"),
        "req": str(root / "req.json"),
        "wh": str(_tiny_warehouse(root / "wh.db")),
    }


def _tiny_warehouse(path: Path) -> Path:
    import sqlite3

    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE regions (region_id INTEGER PRIMARY KEY, name TEXT)")
        c.execute("INSERT INTO regions VALUES (1, 'North')")
    return path


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("CHAMBERLAIN_DATA_DIR", "CHAMBERLAIN_HTTP_TOKEN", "SLACK_BOT_TOKEN", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env or ./.chamberlain


@pytest.mark.parametrize(("line", "hint"), CASES, ids=[c[0].split(" --data-dir")[0] for c in CASES])
def test_bad_input_gets_a_short_error_with_a_hint(line: str, hint: str, paths: dict[str, str]) -> None:
    args = [a.format(**paths) for a in shlex.split(line)]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "100"})
    # An exception other than SystemExit escaping the command would print a traceback.
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code != 0, res.output
    stderr = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert stderr, f"nothing on stderr; stdout was:\n{res.stdout}"
    assert len(stderr) <= 3, res.stderr
    assert "Traceback" not in res.output
    assert hint.lower() in res.stderr.lower(), res.stderr


@pytest.mark.parametrize(
    ("sql", "plain"),
    [
        ("SELECT a, FROM t WHERE", "the WHERE clause is incomplete at line 1, column 22"),
        ("SELECT (a FROM t", "expected ) at line 1"),
        ("SELECT * FROM t WHERE a = = 1", "an expression is incomplete"),
    ],
)
def test_syntax_errors_are_plain_sentences_with_a_position(sql: str, plain: str) -> None:
    res = CliRunner().invoke(app, ["sql", "check", "--dialect", "sqlite"], input=sql + "\n", env={"COLUMNS": "200"})
    assert res.exit_code == 1
    assert plain in " ".join(res.output.split())  # rich wraps long lines
    assert "<class" not in res.output and "sqlglot" not in res.output and "'this'" not in res.output
