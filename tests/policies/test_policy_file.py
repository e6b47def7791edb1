"""Every policy file names the file and the line of what is wrong (issue #13, one vocabulary)."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.access import AccessPolicy
from policies.data_access import DataAccessPolicy
from policies.directory import Directory
from policies.errors import PolicyFileError
from policies.pii import SensitiveColumns
from policies.policy_file import read_policy_file

LOADERS = [AccessPolicy.load, DataAccessPolicy.load, Directory.load, SensitiveColumns.load]


@pytest.mark.parametrize("load", LOADERS)
def test_yaml_syntax_error_names_file_and_line(tmp_path: Path, load: object) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\nroles:\n  employee: {tools: [a}\nother: 1\n")
    with pytest.raises(PolicyFileError, match=rf"^{path}:3: not valid YAML: "):
        load(path)  # type: ignore[operator]


@pytest.mark.parametrize("load", LOADERS)
def test_missing_file_is_named(tmp_path: Path, load: object) -> None:
    with pytest.raises(PolicyFileError, match=rf"^{tmp_path / 'nope.yaml'}: .*not found"):
        load(tmp_path / "nope.yaml")  # type: ignore[operator]


def test_access_semantic_errors_point_at_their_line(tmp_path: Path) -> None:
    path = tmp_path / "access.yaml"
    path.write_text(
        "version: 1\nroles:\n  employee:\n    tools: [crm_search]\n  sales:\n    tools: 5\n"
        "approvals:\n  default:\n    - stage: manager\n      approvers: [manager]\n"
    )
    with pytest.raises(PolicyFileError, match=rf"^{path}:5: roles\.sales\.tools must be a list"):
        AccessPolicy.load(path)
    path.write_text(
        "version: 1\nroles:\n  employee:\n    tools: [crm_search]\n"
        "approvals:\n  default:\n    - stage: manager\n      approvers: [bogus]\n"
    )
    with pytest.raises(PolicyFileError, match=rf"^{path}:7: approvals\.default\[0\]: unknown approver spec 'bogus'"):
        AccessPolicy.load(path)


def test_directory_person_error_points_at_the_person(tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"
    path.write_text("people:\n  - id: u_a\n    name: A\n    email: a@x.example\n  - id: u_b\n    name: B\n")
    with pytest.raises(PolicyFileError, match=rf"^{path}:5: people\[1\]: missing required field 'email'"):
        Directory.load(path)


def test_line_of_a_key_path(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("a:\n  b:\n    - 1\n    - c: 2\n")
    doc = read_policy_file(path, "test file")
    assert doc.line("a") == 1 and doc.line("a", "b") == 2 and doc.line("a", "b", 1) == 4
    assert doc.line("a", "b", 1, "c") == 4 and doc.line("missing") == 0
    assert doc.where("a", "b") == f"{path}:2" and doc.where("missing") == str(path)
