"""``chamberlain evals``: evaluation suites run from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="Run evaluation suites.", no_args_is_help=True)


@app.command("agentdojo")
def agentdojo(
    suite: Annotated[
        list[str] | None, typer.Option("--suite", help="workspace, travel, banking or slack (repeatable; default all).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    no_baseline: Annotated[bool, typer.Option("--no-baseline", help="Skip the gate-only baseline.")] = False,
    user_task: Annotated[list[str] | None, typer.Option("--user-task", help="Only these user tasks.")] = None,
    injection_task: Annotated[
        list[str] | None, typer.Option("--injection-task", help="Only these injection tasks.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Worker processes (default: CPUs, at most 4).")
    ] = None,
) -> None:
    """AgentDojo under a fully compromised model: attack success rate and utility per suite."""
    from evals.agentdojo.report import default_workers, run
    from evals.agentdojo.runner import SUITES, AgentDojoMissing

    try:
        run(
            suite or SUITES,
            as_json=as_json,
            baseline=not no_baseline,
            user_tasks=user_task,
            injection_tasks=injection_task,
            workers=workers or default_workers(),
        )
    except (AgentDojoMissing, ValueError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
