"""``chamberlain warehouse``: load the demo warehouse into PostgreSQL and check a warehouse login.

chamberlain warehouse load --url postgresql://loader@host/warehouse [--grant-select-to chamberlain_ro]
chamberlain warehouse check [--url URL] [--allow-writable-role]
chamberlain warehouse provisioning-sql [--role chamberlain_ro] [--database warehouse]
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(
    help="The analytics warehouse: load the demo data into PostgreSQL, check a login.", no_args_is_help=True
)
console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="CHAMBERLAIN_DATA_DIR", help="Where all state lives (default ./.chamberlain)."),
]


def _fail(message: str, code: int = 1) -> None:
    err_console.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


@app.command("load")
def load(
    url: Annotated[
        str, typer.Option("--url", help="postgresql:// (or postgres://) URL of a role that may create tables.")
    ],
    seed: Annotated[int, typer.Option(help="Seed of the deterministic demo data.")] = 7,
    scale: Annotated[float, typer.Option(help="Fraction of the full data set (1.0 = ~100k order lines).")] = 1.0,
    replace: Annotated[bool, typer.Option("--replace", help="Drop and reload demo tables that already exist.")] = False,
    grant_select_to: Annotated[
        str | None, typer.Option("--grant-select-to", help="Read-only role to GRANT SELECT on the new tables to.")
    ] = None,
) -> None:
    """Load the demo warehouse (the same data as the embedded SQLite one) into PostgreSQL."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from agent.interfaces.cli.support import configured_directory
    from connectors.demo.warehouse_load import load_demo_warehouse
    from connectors.errors import ConnectorError

    with Progress(
        TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), console=err_console, transient=True
    ) as bar:
        tasks: dict[str, Any] = {}

        def report(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=total)
            bar.update(tasks[table], completed=done)

        try:
            result = load_demo_warehouse(
                url,
                people=configured_directory(),
                seed=seed,
                scale=scale,
                replace=replace,
                grant_select_to=grant_select_to,
                progress=report,
            )
        except ConnectorError as exc:
            _fail(str(exc))
    table = Table("table", "rows", title=f"demo warehouse loaded into {result.database} (seed {result.seed})")
    for name, n in result.rows.items():
        table.add_row(name, f"{n:,}")
    console.print(table)
    if result.replaced:
        console.print(f"[yellow]replaced:[/yellow] {', '.join(result.replaced)}")
    if result.granted_to:
        console.print(f"SELECT granted to [bold]{escape(result.granted_to)}[/bold].")
    console.print(
        "Point Chamberlain at it with a read-only role: "
        "CHAMBERLAIN_WAREHOUSE_URL=postgresql://chamberlain_ro:…@host/db (see `chamberlain warehouse check`)."
    )


@app.command("check")
def check(
    url: Annotated[
        str | None, typer.Option("--url", help="Warehouse URL (default: CHAMBERLAIN_WAREHOUSE_URL).")
    ] = None,
    allow_writable_role: Annotated[
        bool, typer.Option("--allow-writable-role", help="Accept a login that can write (with a loud warning).")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Check that a warehouse login is read-only (what Chamberlain checks each time it opens one)."""
    from agent.settings import Settings
    from connectors.errors import ConnectorError
    from connectors.warehouse_role import PROVISIONING_HINT, inspect_postgres_role, is_postgres, normalise_url

    settings = Settings(data_dir=data_dir) if data_dir else Settings()
    target = normalise_url(url or settings.resolved_warehouse_url)
    allow = allow_writable_role or settings.warehouse_allow_writable_role
    if not is_postgres(target):
        console.print("SQLite warehouse: opened read-only (mode=ro); nothing to check.")
        return
    try:
        report = inspect_postgres_role(target)
    except ConnectorError as exc:
        _fail(str(exc))
    if not report.writable:
        console.print(f"[green]ok:[/green] role {escape(report.role)!r} cannot write.")
        return
    if not allow:
        _fail(f"{report.summary()}; {PROVISIONING_HINT}, or pass --allow-writable-role to accept the risk")
    err_console.print(
        f"[bold red]WARNING: the warehouse is not read-only: {escape(report.summary())}.[/bold red] "
        "Accepted because of --allow-writable-role."
    )


@app.command("provisioning-sql")
def provisioning_sql(
    role: Annotated[str, typer.Option(help="Name of the read-only login role.")] = "chamberlain_ro",
    database: Annotated[str, typer.Option(help="Warehouse database name.")] = "warehouse",
) -> None:
    """Print the SQL that creates a read-only login for Chamberlain (run it as the database owner)."""
    import re

    from connectors.warehouse import POSTGRES_READONLY_ROLE_SQL

    for name, value in (("--role", role), ("--database", database)):
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
            _fail(f"{name} needs a plain lower-case identifier like chamberlain_ro, got {value!r}")
    text = POSTGRES_READONLY_ROLE_SQL.replace("chamberlain_ro", role).replace(
        "DATABASE warehouse", f"DATABASE {database}"
    )
    typer.echo(text, nl=False)


__all__ = ["app"]
