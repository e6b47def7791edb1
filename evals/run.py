"""Run the scripted trajectories and print a report: ``python -m evals.run [--tag TAG]``."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from evals.trajectories import load_cases, run_all


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tag", action="append", help="Only cases with this tag (repeatable).")
    args = ap.parse_args(argv)
    cases = [c for c in load_cases() if not args.tag or set(args.tag) & set(c.tags)]
    console = Console()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("trajectories", total=len(cases))
        results = run_all(cases, progress=lambda _r: bar.advance(task))
    table = Table(title=f"Scripted trajectories ({len(results)})")
    for col in ("case", "tags", "decisions", "writes", "result"):
        table.add_column(col)
    for r in results:
        verdict = "[green]pass[/green]" if r.ok else "[red]FAIL[/red]\n" + "\n".join(r.failures)
        table.add_row(r.case.name, ",".join(r.case.tags), " ".join(r.decisions), str(r.executed), verdict)
    console.print(table)
    passed = sum(r.ok for r in results)
    console.print(f"{passed}/{len(results)} passed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
