"""``make bench``: run every benchmark with its defaults and print ONE table.

    python benchmarks/run_all.py            # defaults (a few minutes on a quiet machine)
    python benchmarks/run_all.py --quick    # smoke run for CI: tiny sizes, no goals judged
    python benchmarks/run_all.py --only retrieval,slack

Discovery: every ``benchmarks/*_bench.py`` that mentions ``--json`` is run as
``python <script> --json [--quick]``; its stdout must end with one JSON line
``{"benchmark": ..., "rows": [{measure, unit, ours, baseline, ratio, goal, met, baseline_label}]}``
(see benchmarks/_rows.py and the convention in benchmarks/README.md). Scripts that do not
follow it yet are listed as skipped, not failed.

Baselines that the product install leaves out are provisioned first, outside it: for the
embedding bench, the torch baseline in ``.venv-bench/`` (benchmarks/bench_env.py; idempotent,
skipped by ``--quick`` and ``--no-bench-venv``). If that cannot be installed, the run goes on and
the rows that need it say "not judged".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def discover() -> list[Path]:
    return sorted(p for p in HERE.glob("*_bench.py") if "--json" in p.read_text(encoding="utf-8"))


def parse(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and isinstance(doc.get("rows"), list):
                return doc
    return None


def run(script: Path, quick: bool, timeout: float) -> tuple[dict[str, Any] | None, str, float]:
    cmd = [sys.executable, str(script), "--json"] + (["--quick"] if quick else [])
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s", time.perf_counter() - started
    elapsed = time.perf_counter() - started
    doc = parse(proc.stdout)
    if doc is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return None, f"exit {proc.returncode}, no rows: {tail[0][:160]}", elapsed
    return doc, "" if proc.returncode == 0 else f"exit {proc.returncode}", elapsed


def provision(console: Any) -> None:
    """The torch baseline's venv, before any benchmark runs (a failure is a warning: the run goes
    on without that baseline)."""
    from bench_env import BenchEnvError, ensure

    started = time.perf_counter()
    try:
        ensure()
    except BenchEnvError as exc:
        console.print(f"[yellow]bench venv: cannot provision the torch baseline: {exc}[/yellow]")
        return
    console.print(f"bench venv: {time.perf_counter() - started:.0f} s")


def fmt(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    v = float(value)
    text = f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}" if abs(v) < 10 else f"{v:,.1f}"
    return f"{text} {unit}".strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run (CI): tiny sizes, goals not judged")
    parser.add_argument("--only", default="", help="comma-separated name fragments of benchmarks to run")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per benchmark")
    parser.add_argument("--json", action="store_true", help="print all rows as JSON instead of the table")
    parser.add_argument(
        "--no-bench-venv", action="store_true", help="do not provision .venv-bench (the torch baseline)"
    )
    args = parser.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    scripts = discover()
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        scripts = [s for s in scripts if any(w in s.stem for w in wanted)]
    skipped = sorted(p.name for p in HERE.glob("*_bench.py") if p not in discover())
    if not args.quick and not args.no_bench_venv and any(s.stem == "embedding_bench" for s in scripts):
        provision(console)
    results: list[tuple[str, dict[str, Any] | None, str, float]] = []
    for script in scripts:
        with console.status(f"{script.stem}{' --quick' if args.quick else ''}…"):
            doc, problem, elapsed = run(script, args.quick, args.timeout)
        console.print(f"{script.stem}: {elapsed:.0f} s" + (f" — {problem}" if problem else ""))
        results.append((script.stem, doc, problem, elapsed))

    rows = [(name, r) for name, doc, _, _ in results if doc for r in doc["rows"]]
    if args.json:
        print(json.dumps([{"benchmark": name, **r} for name, r in rows], indent=2))
    else:
        title = "make bench" + (" --quick (smoke: goals not judged)" if args.quick else "") + " — one run"
        table = Table(title=title)
        for col in ("measure", "ours", "baseline (same run)", "ratio", "goal", "met"):
            table.add_column(col, justify="left" if col in ("measure", "goal") else "right")
        for name, r in rows:
            met = r.get("met")
            mark = "" if args.quick or met is None else ("[green]yes[/green]" if met else "[red]no[/red]")
            base = fmt(r.get("baseline"), r.get("unit", ""))
            if r.get("baseline_label") and r.get("baseline") is not None:
                base += f" [dim]({r['baseline_label']})[/dim]"
            ratio = r.get("ratio")
            table.add_row(
                f"[dim]{name.removesuffix('_bench')}:[/dim] {r['measure']}",
                fmt(r.get("ours"), r.get("unit", "")),
                base,
                "—" if ratio is None else f"{ratio:.2f}×",
                str(r.get("goal", "")),
                mark,
            )
        out = Console()
        if not out.is_terminal:
            out = Console(width=200)  # logs and CI: keep one row per line
        out.print(table)
        if skipped:
            console.print(f"[dim]not following the --json convention yet (skipped): {', '.join(skipped)}[/dim]")
    broken = [name for name, doc, _, _ in results if doc is None]
    if broken:
        console.print(f"[red]benchmarks that produced no rows: {', '.join(broken)}[/red]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
