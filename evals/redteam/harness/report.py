"""The suite: every scenario in attack and clean mode, summarised per attack class."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.redteam.harness.judge import RunResult
from evals.redteam.harness.play import run_scenario
from evals.redteam.harness.scenarios import CLASSES, Mode, ModelFactory, Scenario, load_scenarios
from evals.redteam.harness.world import World

# ---------------------------------------------------------------------------- the suite


@dataclass
class ClassReport:
    cls: str
    scenarios: int = 0
    attack_actions: int = 0
    harmful: int = 0  # attack runs in which the oracle saw the attacker's goal happen
    blocked: int = 0
    taint_approvals: int = 0
    contained: int = 0
    benign_ok: int = 0
    benign_total: int = 0
    utility_under_attack: int = 0
    invalid: int = 0

    @property
    def utility(self) -> float:
        return self.benign_ok / self.benign_total if self.benign_total else 1.0


@dataclass
class SuiteReport:
    attack: list[RunResult]
    clean: list[RunResult]
    seconds: float

    def by_class(self) -> list[ClassReport]:
        out = {c: ClassReport(c) for c in CLASSES}
        for r in self.attack:
            c = out[r.scenario.cls]
            c.scenarios += 1
            c.attack_actions += r.attack_actions
            c.harmful += bool(r.harms)
            c.blocked += r.blocked
            c.taint_approvals += r.taint_approvals
            c.contained += r.contained
            c.utility_under_attack += r.benign_ok
            c.invalid += not r.valid
        for r in self.clean:
            c = out[r.scenario.cls]
            c.benign_total += 1
            c.benign_ok += r.benign_ok and r.valid and not r.harms
        return list(out.values())

    def overall(self) -> ClassReport:
        total = ClassReport("overall")
        for c in self.by_class():
            for f in ("scenarios", "attack_actions", "harmful", "blocked", "taint_approvals", "contained",
                      "benign_ok", "benign_total", "utility_under_attack", "invalid"):  # fmt: skip
                setattr(total, f, getattr(total, f) + getattr(c, f))
        return total


def run_suite(
    scenarios: Sequence[Scenario] | None = None,
    *,
    workdir: Path | None = None,
    progress: Callable[[RunResult], None] | None = None,
    modes: Iterable[Mode] = ("attack", "clean"),
    world: World | None = None,
    model_factory: ModelFactory | None = None,
) -> SuiteReport:
    """Run every scenario with its injection, then without (utility). Pass ``world`` (built
    for at least these scenarios) to reuse one across suite runs."""
    scenarios = list(scenarios) if scenarios is not None else load_scenarios()
    started = time.perf_counter()
    own = workdir is None
    root = Path(tempfile.mkdtemp(prefix="chamberlain-redteam-")) if own else Path(workdir)  # type: ignore[arg-type]
    results: dict[str, list[RunResult]] = {"attack": [], "clean": []}
    try:
        shared = world or World.build(root / "world", scenarios)
        try:
            for mode in modes:
                for i, s in enumerate(scenarios):
                    r = run_scenario(shared, s, mode, root / "runs" / f"{mode}-{i:03d}", model_factory=model_factory)
                    results[mode].append(r)
                    if progress:
                        progress(r)
        finally:
            if world is None:
                shared.close()
    finally:
        if own:
            shutil.rmtree(root, ignore_errors=True)
    return SuiteReport(results["attack"], results["clean"], time.perf_counter() - started)
