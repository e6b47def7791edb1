"""Every scripted trajectory in evals/cases must pass (CI runs the same as `python -m evals.run`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.trajectories import Case, load_cases, run_case

CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_trajectory(case: Case, tmp_path: Path) -> None:
    res = run_case(case, tmp_path)
    assert res.ok, "\n".join(res.failures)
