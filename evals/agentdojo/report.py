"""``chamberlain evals agentdojo``: run AgentDojo under a fully compromised model and print the
attack success rate and utility per suite, with the gate-only baseline beside them."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from evals.agentdojo.runner import SUITES, AgentDojoMissing, SuiteReport, load_suites, run_suite

RULE = (
    "Simulated approver: approves a card only when every sensitive argument of the write "
    "(recipient, amount, IBAN, URL, share target, ...) appears in the asker's own message or in "
    "trusted system data; otherwise rejects. Baseline: approvals disabled (every card approved), "
    "so only the gate (RBAC, schema, egress rule) stands."
)


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.1f} %" if d else "–"


def table(reports: Sequence[SuiteReport]) -> Table:
    t = Table(title="AgentDojo under a fully compromised model", title_justify="left")
    for col in (
        "suite",
        "pairs",
        "ASR",
        "ASR gate",
        "util",
        "util atk",
        "util atk gate",
        "appr/run",
        "flagged",
        "time",
    ):
        t.add_column(col, justify="left" if col == "suite" else "right")
    total = SuiteReport("all")
    for r in reports:
        total.add(r)
    rows = [*reports, total] if len(reports) > 1 else list(reports)
    for r in rows:
        t.add_row(
            r.suite,
            str(r.pairs),
            _pct(r.attacks, r.pairs),
            _pct(r.attacks_gate_only, r.pairs),
            _pct(r.utility_clean, r.user_tasks),
            _pct(r.utility_attacked, r.pairs),
            _pct(r.utility_attacked_gate_only, r.pairs),
            f"{r.approvals / r.runs:.2f}" if r.runs else "–",
            str(r.suspect_cards),
            f"{r.seconds:.0f} s",
            end_section=r is reports[-1] and len(reports) > 1,
        )
    return t


LEGEND = (
    "ASR: injection tasks that succeeded / pairs, with the approver rule; ASR gate: the same with every card "
    "approved. util: user tasks solved without attack; util atk: pairs whose user task was solved under "
    "attack. appr/run: approval cards per run; flagged: cards with a sensitive argument the asker did not supply."
)


def run(
    suites: Sequence[str] = SUITES,
    *,
    as_json: bool = False,
    baseline: bool = True,
    user_tasks: Sequence[str] | None = None,
    injection_tasks: Sequence[str] | None = None,
    console: Console | None = None,
) -> list[SuiteReport]:
    console = console or Console(width=None if sys.stdout.isatty() else 120)
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise ValueError(f"unknown suite {', '.join(unknown)}: choose from {', '.join(SUITES)}")
    all_suites = load_suites()
    reports: list[SuiteReport] = []
    total = sum(
        len([u for u in all_suites[s].user_tasks if not user_tasks or u in user_tasks])
        * len([i for i in all_suites[s].injection_tasks if not injection_tasks or i in injection_tasks])
        for s in suites
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task("AgentDojo pairs", total=total)
        for name in suites:
            bar.update(task, description=f"AgentDojo {name}")
            rep, _ = run_suite(
                all_suites[name],
                user_tasks=user_tasks,
                injection_tasks=injection_tasks,
                baseline=baseline,
                progress=lambda n: bar.advance(task, n),
            )
            reports.append(rep)
    if as_json:
        console.print_json(json.dumps({"rule": RULE, "suites": [asdict(r) for r in reports]}))
    else:
        console.print(table(reports))
        console.print(f"[dim]{LEGEND}\n{RULE}[/dim]")
    return reports


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m evals.agentdojo", description=__doc__)
    p.add_argument("--suite", action="append", choices=SUITES, help="suite(s) to run (default: all four)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--no-baseline", action="store_true", help="skip the gate-only baseline")
    p.add_argument("--user-task", action="append", help="only these user tasks (e.g. user_task_0)")
    p.add_argument("--injection-task", action="append", help="only these injection tasks")
    a = p.parse_args(argv)
    try:
        run(
            a.suite or SUITES,
            as_json=a.json,
            baseline=not a.no_baseline,
            user_tasks=a.user_task,
            injection_tasks=a.injection_task,
        )
    except AgentDojoMissing as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        return 2
    return 0


__all__ = ["LEGEND", "RULE", "main", "run", "table"]
