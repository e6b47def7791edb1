"""Invalid routing files are refused at load time, naming the file, the line and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.directory import Directory
from policies.errors import PolicyFileError
from policies.routing import DEFAULT_POLICY, RoutingFileError, RoutingPolicy

BASE = """\
version: 2026-11-01
fx_to_usd:
  as_of: 2026-11-01
  rates: {USD: 1, EUR: 1.08}
stages:
  - {name: manager, approvers: [manager]}
  - {name: finance, approvers: [role:finance_approver]}
  - {name: cfo, approvers: [role:cfo], sla_hours: 96}
fallback_approvers: [role:cfo]
default_route:
  require: [manager, finance]
  flag: {code: default_route, message: no rule matched}
rules:
  - id: small-expense
    when: {kind: expense, amount_usd: {lte: 100}}
    auto_approve: true
  - id: big-expense
    when:
      kind: expense
      amount_usd: {gt: 1000}
    require: [manager, finance, cfo]
"""


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory.load()


def load(tmp_path: Path, text: str, directory: Directory | None = None) -> RoutingPolicy:
    path = tmp_path / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    return RoutingPolicy.load(path, directory=directory)


def line_of(text: str, needle: str, nth: int = 1) -> int:
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth - 1]


def refused(tmp_path: Path, text: str, directory: Directory | None = None) -> RoutingFileError:
    with pytest.raises(RoutingFileError) as info:
        load(tmp_path, text, directory)
    assert isinstance(info.value, PolicyFileError)
    return info.value


def test_base_file_is_valid(tmp_path: Path, directory: Directory) -> None:
    policy = load(tmp_path, BASE, directory)
    assert [r.id for r in policy.rules] == ["small-expense", "big-expense"]
    assert policy.rules[1].line == line_of(BASE, "id: big-expense")


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        pytest.param(
            "require: [manager, finance, cfo]",
            "require: [manager, finance, {stage: cfo, approvers: [role:cfoo]}]",
            "role:cfoo",
            "rule 'big-expense': unknown role 'cfoo' (known roles: analyst, cfo,",
            id="unknown-role-in-rule",
        ),
        pytest.param(
            "approvers: [role:cfo], sla_hours: 96",
            "approvers: [role:cfoo], sla_hours: 96",
            "role:cfoo",
            "stage 'cfo': unknown role 'cfoo'",
            id="unknown-role-in-stage",
        ),
        pytest.param(
            "fallback_approvers: [role:cfo]",
            "fallback_approvers: [person:u_nobody]",
            "u_nobody",
            "unknown person 'u_nobody' (known persons: u_alice,",
            id="unknown-person",
        ),
        pytest.param(
            "      kind: expense\n      amount_usd: {gt: 1000}",
            "      kind: expense\n      requester_role: [cfo, chief_vibes_officer]",
            "chief_vibes_officer",
            "rule 'big-expense': unknown role 'chief_vibes_officer'",
            id="unknown-requester-role",
        ),
        pytest.param(
            "when: {kind: expense, amount_usd: {lte: 100}}",
            "when: {kind: expence, amount_usd: {lte: 100}}",
            "expence",
            "rule 'small-expense': unknown kind 'expence' (known kinds: access, discount, expense",
            id="unknown-kind",
        ),
        pytest.param(
            "amount_usd: {gt: 1000}",
            "amount_usd: {gtt: 1000}",
            "gtt",
            "rule 'big-expense': bad operator 'gtt' for amount_usd; use gt, gte, lt, lte or eq",
            id="bad-operator",
        ),
        pytest.param(
            "amount_usd: {gt: 1000}",
            "amount_usd: {gt: lots}",
            "lots",
            "rule 'big-expense': amount_usd needs a number, got 'lots'",
            id="wrong-type-number",
        ),
        pytest.param(
            "auto_approve: true",
            "auto_approve: sometimes",
            "sometimes",
            "rule 'small-expense': auto_approve: Input should be a valid boolean",
            id="wrong-type-bool",
        ),
        pytest.param(
            "sla_hours: 96",
            "sla_hours: soon",
            "soon",
            "stage 'cfo': sla_hours: Input should be a valid integer",
            id="wrong-type-sla",
        ),
        pytest.param(
            "require: [manager, finance, cfo]",
            "require: [manager, cfo, finance]",
            "require: [manager, cfo, finance]",
            "stages must follow the declared order (manager → finance → cfo): 'finance' cannot come after 'cfo'",
            id="non-increasing-stages",
        ),
        pytest.param(
            "require: [manager, finance, cfo]",
            "require: []",
            "require: []",
            "rule 'big-expense': empty stage list",
            id="empty-require",
        ),
        pytest.param(
            "{name: finance, approvers: [role:finance_approver]}",
            "{name: finance, approvers: []}",
            "name: finance",
            "stage 'finance': empty approvers",
            id="empty-stage",
        ),
        pytest.param(
            "require: [manager, finance, cfo]",
            "require: [manager, treasury]",
            "treasury",
            "rule 'big-expense': unknown stage 'treasury' (declared stages: manager, finance, cfo)",
            id="unknown-stage",
        ),
        pytest.param(
            "  - id: big-expense",
            "  - id: small-expense",
            "id: small-expense",
            "duplicate rule id 'small-expense'",
            id="duplicate-rule-id",
        ),
        pytest.param(
            "      amount_usd: {gt: 1000}",
            "      amount_usd: {gt: 1000}\n      color: blue",
            "color",
            "rule 'big-expense': unknown condition 'color'",
            id="unknown-condition",
        ),
        pytest.param(
            "      amount_usd: {gt: 1000}",
            "      amount_usd: {gt: 1000, lt: 500}",
            "lt: 500",
            "amount_usd: the range can never match",
            id="impossible-range",
        ),
        pytest.param(
            "      amount_usd: {gt: 1000}",
            "      discount_percent: {gt: 10}",
            "discount_percent",
            "'discount_percent' does not apply to kind expense (it applies to: discount)",
            id="fact-for-another-kind",
        ),
        pytest.param(
            "    auto_approve: true",
            "    auto_approve: true\n    require: [manager]",
            "auto_approve: true",
            "rule 'small-expense': an auto-approve rule cannot also require stages or flag",
            id="auto-approve-with-stages",
        ),
        pytest.param(
            "    auto_approve: true",
            "    auto_aprove: true",
            "auto_aprove",
            "rule 'small-expense': unknown field 'auto_aprove'",
            id="misspelt-field",
        ),
        pytest.param(
            "{name: manager, approvers: [manager]}",
            "{name: manager, approvers: [boss]}",
            "boss",
            "stage 'manager': bad approver 'boss'; use manager, role:ROLE, person:USER_ID or department_head:",
            id="bad-approver-spec",
        ),
        pytest.param(
            "{name: cfo, approvers: [role:cfo], sla_hours: 96}",
            "{name: cfo, approvers: [department_head:Marketing], sla_hours: 96}",
            "Marketing",
            "unknown department 'Marketing' (known departments: Engineering,",
            id="unknown-department",
        ),
        pytest.param(
            "  require: [manager, finance]\n  flag",
            "  require: [manager, finance]\n  flag",
            "require: [manager, finance]",
            "",
            id="control-valid",
        ),
    ],
)
def test_problem_is_reported_with_file_and_line(
    tmp_path: Path, directory: Directory, old: str, new: str, needle: str, message: str
) -> None:
    assert old in BASE
    text = BASE.replace(old, new, 1)
    if not message:  # the control case: the same edit machinery leaves a valid file
        load(tmp_path, text, directory)
        return
    err = refused(tmp_path, text, directory)
    nth = 2 if needle == "id: small-expense" else 1
    expected = f"{tmp_path / 'routing.yaml'}:{line_of(text, needle, nth)}: "
    assert any(str(line).startswith(expected) for line in str(err).splitlines()), str(err)
    assert message in str(err), str(err)


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    text = BASE.replace("rates: {USD: 1, EUR: 1.08}", "rates: {USD: 1, EUR: 1.08")
    err = refused(tmp_path, text)
    # PyYAML notices the unclosed flow mapping where the next key starts.
    assert str(err).startswith(f"{tmp_path / 'routing.yaml'}:{line_of(text, 'stages:')}: not valid YAML:")


def test_tab_indentation_is_bad_yaml(tmp_path: Path) -> None:
    text = BASE.replace("  as_of: 2026-11-01", "\tas_of: 2026-11-01")
    err = refused(tmp_path, text)
    assert f"routing.yaml:{line_of(text, 'as_of')}: not valid YAML" in str(err)


def test_duplicate_yaml_key_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("    auto_approve: true", "    auto_approve: true\n    auto_approve: false")
    err = refused(tmp_path, text)
    assert f"routing.yaml:{line_of(text, 'auto_approve: false')}: duplicate key 'auto_approve'" in str(err)


def test_missing_top_level_section(tmp_path: Path) -> None:
    text = BASE.replace("fallback_approvers: [role:cfo]\n", "")
    err = refused(tmp_path, text)
    assert "routing.yaml:1: missing required field 'fallback_approvers'" in str(err)


def test_every_problem_is_reported_sorted_by_line(tmp_path: Path, directory: Directory) -> None:
    text = BASE.replace("approvers: [role:cfo], sla_hours", "approvers: [role:cfoo], sla_hours").replace(
        "amount_usd: {gt: 1000}", "amount_usd: {gtt: 1000}"
    )
    err = refused(tmp_path, text, directory)
    assert [line for line, _ in err.problems] == [line_of(text, "role:cfoo"), line_of(text, "gtt")]
    assert len(str(err).splitlines()) == 2


def test_roles_are_only_checked_against_a_directory(tmp_path: Path) -> None:
    text = BASE.replace("approvers: [role:cfo], sla_hours", "approvers: [role:cfoo], sla_hours")
    assert load(tmp_path, text).stage("cfo").approvers == ("role:cfoo",)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match=r"nope\.yaml:0: routing policy file not found"):
        RoutingPolicy.load(tmp_path / "nope.yaml")


def test_a_typo_in_the_shipped_policy_points_at_its_line(tmp_path: Path, directory: Directory) -> None:
    shipped = DEFAULT_POLICY.read_text(encoding="utf-8")
    text = shipped.replace("require: [manager, procurement, cfo]", "require: [manager, procurement, cfoo]")
    err = refused(tmp_path, text, directory)
    assert str(err) == (
        f"{tmp_path / 'routing.yaml'}:{line_of(text, 'cfoo')}: rule 'purchase-cfo': unknown stage 'cfoo' "
        "(declared stages: manager, vp_sales, it, system_owner, hr, procurement, finance, cfo)"
    )


def test_empty_file(tmp_path: Path) -> None:
    err = refused(tmp_path, "")
    assert "routing.yaml:1: expected a mapping" in str(err)
