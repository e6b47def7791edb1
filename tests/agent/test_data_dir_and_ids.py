"""A data dir that is missing, a file or someone else's is a one-line error; approval ids can be
typed as unique prefixes (like git), with a clear error when a prefix is unknown or ambiguous."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from agent.interfaces.cli.app import app
from agent.interfaces.cli.datadir import MARKER, DataDirError, check_data_dir
from agent.settings import Settings
from connectors.appdb import ApprovalStore, NewApproval, StageSpec, make_engine
from connectors.appdb._schema import approvals
from connectors.appdb.id_prefix import resolve_approval_id
from connectors.errors import AmbiguousId, RecordNotFound

runner = CliRunner()


def test_missing_dir_is_an_error_unless_the_command_creates_it(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    with pytest.raises(DataDirError, match="does not exist; create it with `chamberlain seed"):
        check_data_dir(missing)
    assert not missing.exists()  # nothing was created
    assert check_data_dir(missing, create=True) == missing
    assert (missing / MARKER).exists()
    check_data_dir(missing)  # now it is ours


def test_file_and_foreign_dirs_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    with pytest.raises(DataDirError, match="is a file, not a directory"):
        check_data_dir(f, create=True)
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"x")
    with pytest.raises(DataDirError, match="not a Chamberlain data directory"):
        check_data_dir(foreign)
    empty = tmp_path / "empty"
    empty.mkdir()
    check_data_dir(empty)  # made for us: fine
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "app.db").write_bytes(b"")
    check_data_dir(legacy)  # written before the marker existed


@pytest.mark.parametrize("args", [["audit", "verify"], ["approvals", "list"], ["audit", "show"]])
def test_cli_refuses_a_wrong_data_dir_without_creating_state(tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "nope"
    res = runner.invoke(app, [*args, "--data-dir", str(missing)])
    assert res.exit_code == 1
    assert "does not exist" in res.output and "chamberlain seed" in res.output
    assert "intact" not in res.output
    assert not missing.exists()
    afile = tmp_path / "f"
    afile.write_text("x")
    res = runner.invoke(app, [*args, "--data-dir", str(afile)])
    assert res.exit_code == 1 and "is a file" in res.output and "Traceback" not in res.output


def _new(key: str) -> NewApproval:
    return NewApproval(
        dedupe_key=key,
        kind="tool_call",
        requester_id="u_alice",
        action="crm_update_deal",
        args={"deal_id": key},
        title="crm_update_deal",
        summary=f"Move deal {key}",
        reason="writes need approval",
        stages=(StageSpec("manager", ("u_raj",)),),
        thread_id="t1",
    )


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    settings = Settings(data_dir=tmp_path)
    engine = make_engine(settings.resolved_database_url)
    store = ApprovalStore(engine)
    for key, new_id in (("a", "apr_abcd1111"), ("b", "apr_abcd2222"), ("c", "apr_ffff0000")):
        rec, _ = store.create(_new(key))
        with engine.begin() as c:
            c.execute(update(approvals).where(approvals.c.id == rec.id).values(id=new_id))
    engine.dispose()
    return tmp_path


def test_prefixes_resolve_like_git(store_dir: Path) -> None:
    engine = make_engine(Settings(data_dir=store_dir).resolved_database_url)
    try:
        assert resolve_approval_id(engine, "apr_abcd1111") == "apr_abcd1111"
        assert resolve_approval_id(engine, "apr_abcd1") == "apr_abcd1111"
        assert resolve_approval_id(engine, "abcd2") == "apr_abcd2222"  # without the apr_ prefix
        assert resolve_approval_id(engine, " ffff ") == "apr_ffff0000"
        with pytest.raises(AmbiguousId, match="apr_abcd1111, apr_abcd2222"):
            resolve_approval_id(engine, "apr_abcd")
        with pytest.raises(RecordNotFound, match="not found"):
            resolve_approval_id(engine, "apr_9999")
        with pytest.raises(RecordNotFound, match="at least 4 characters"):
            resolve_approval_id(engine, "apr_a")
        with pytest.raises(RecordNotFound):
            resolve_approval_id(engine, "ab%d")  # LIKE wildcards are literal
    finally:
        engine.dispose()


def test_cli_show_takes_a_prefix_and_lists_full_ids(store_dir: Path) -> None:
    res = runner.invoke(app, ["approvals", "show", "ffff", "--data-dir", str(store_dir)])
    assert res.exit_code == 0, res.output
    assert "apr_ffff0000" in res.output
    amb = runner.invoke(app, ["approvals", "show", "abcd", "--data-dir", str(store_dir)])
    assert amb.exit_code == 1 and "matches several requests" in amb.output
    rej = runner.invoke(app, ["approvals", "reject", "apr_0000", "--user", "u_raj", "--data-dir", str(store_dir)])
    assert rej.exit_code == 1 and "not found" in rej.output
    listed = runner.invoke(app, ["approvals", "list", "--data-dir", str(store_dir)], env={"COLUMNS": "60"})
    for full in ("apr_abcd1111", "apr_abcd2222", "apr_ffff0000"):
        assert full in listed.output  # never cut, even on a narrow terminal
