"""``chamberlain sql``: check SQL with the guard, run a guarded query, generate the demo warehouse.

    chamberlain sql check [FILE] [--dialect sqlite|postgres|mysql] [--tables t1,t2] [--user ID] [--json]
    chamberlain sql run "SELECT ..." --user u_priya [--warehouse URL | --data-dir DIR]
    chamberlain sql generate [--data-dir DIR]
    chamberlain sql roles [--url postgresql://admin@host/db] [--apply] [--login chamberlain_ro]

``check`` reads one query per line (plain SQL, or a JSON object ``{"sql": ..., "dialect": ...}``)
from FILE or stdin and prints one verdict per line; with ``--json`` each verdict is
``{"allowed": bool, "reasons": [...], "sql": "rewritten or null"}``. It exits 1 if any query
was rejected. ``run`` is a person's direct tool call through the runtime
(``Chamberlain.call_tool``): USER's roles must grant ``run_query``, and the call is audited.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(help="Check and run read-only SQL against the analytics warehouse.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

DialectOpt = Annotated[str, typer.Option("--dialect", "-d", help="Warehouse dialect: sqlite, postgres or mysql.")]
DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="CHAMBERLAIN_DATA_DIR", help="Where all state lives (default ./.chamberlain)."),
]


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def _allow_list(tables: str | None, user: str | None, data_dir: Path | None = None) -> Any:
    from agent.interfaces.cli.support import configured_directory
    from policies.errors import UnknownPrincipal
    from policies.sql_guard import AllowList

    if tables and user:
        _fail("give either --tables or --user, not both")
    if tables:
        names = [t.strip() for t in tables.split(",") if t.strip()]
        if not names:
            _fail("--tables needs at least one table name, e.g. --tables orders,regions")
        return AllowList.of(dict.fromkeys(names))
    if user:
        from policies.data_access import warehouse_allow_list

        try:
            return warehouse_allow_list(configured_directory(data_dir).get(user))
        except UnknownPrincipal as exc:
            _fail(str(exc))
    return AllowList.any_table()


@app.command()
def check(
    file: Annotated[Path | None, typer.Argument(help="File with one query per line (default: stdin).")] = None,
    dialect: DialectOpt = "sqlite",
    tables: Annotated[
        str | None, typer.Option("--tables", "-t", help="Allow-list: comma-separated table names.")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Allow-list of this directory user.")] = None,
    max_rows: Annotated[int, typer.Option("--max-rows", min=1, help="Row LIMIT to inject or clamp.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON verdict per line.")] = False,
) -> None:
    """Check queries with the SQL guard and print one verdict per query."""
    from policies.sql_guard import DIALECTS, SqlGuard

    if dialect not in DIALECTS:
        _fail(f"unknown dialect {dialect!r}; use one of: {', '.join(DIALECTS)}")
    allow = _allow_list(tables, user)
    if file is not None:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            _fail(f"cannot read {file}: {exc.strerror or exc}")
    else:
        lines = sys.stdin.read().splitlines()
    guards: dict[str, SqlGuard] = {}
    rejected = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        sql, line_dialect = line, dialect
        if line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                _fail(f'line {number}: not valid JSON ({exc.msg}); write plain SQL or {{"sql": ...}}')
            if not isinstance(obj, dict) or not isinstance(obj.get("sql"), str):
                _fail(f'line {number}: a JSON line needs a "sql" string')
            sql = obj["sql"]
            line_dialect = str(obj.get("dialect") or dialect)
            if line_dialect not in DIALECTS:
                _fail(f"line {number}: unknown dialect {line_dialect!r}; use one of: {', '.join(DIALECTS)}")
        guard = guards.get(line_dialect) or guards.setdefault(line_dialect, SqlGuard(line_dialect, max_rows=max_rows))
        verdict = guard.check(sql, allow)
        rejected += not verdict.allowed
        if as_json:
            sys.stdout.write(json.dumps(verdict.to_json(), ensure_ascii=False) + "\n")
        elif verdict.allowed:
            console.print(f"[green]allowed[/green]  {escape(verdict.sql or '')}")
        else:
            console.print(f"[red]rejected[/red] line {number}: " + escape("; ".join(verdict.reasons)))
    sys.stdout.flush()
    if rejected:
        raise typer.Exit(1)


def _warehouse_url(warehouse: str | None, data_dir: Path | None) -> str:
    if warehouse:
        return warehouse
    from agent.interfaces.cli.support import load_settings
    from policies.directory import Directory

    settings = load_settings(data_dir)
    url = str(settings.resolved_warehouse_url)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            err_console.print(f"[dim]no warehouse at {path}; generating the demo warehouse…[/dim]")
            _generate(path, seed=7, people=Directory.load(settings.directory_path))
    return url


def _generate(path: Path, *, seed: int, people: Any) -> None:
    from rich.progress import Progress as Bar

    from connectors.demo.warehouse_gen import generate_warehouse

    with Bar(console=err_console, transient=True) as bar:
        task = bar.add_task("generating warehouse", total=None)

        def report(step: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"loading {step}")

        stats = generate_warehouse(path, people=people, seed=seed, progress=report)
    err_console.print(f"wrote {stats.path}: " + ", ".join(f"{t} {n:,}" for t, n in stats.rows.items()))


@app.command()
def run(
    sql: Annotated[str, typer.Argument(help="One SELECT query (use '-' to read it from stdin).")],
    user: Annotated[str, typer.Option("--user", "-u", help="Directory id of the person asking, e.g. u_priya.")],
    warehouse: Annotated[
        str | None,
        typer.Option("--warehouse", "-w", help="Warehouse URL (default: the demo warehouse in the data dir)."),
    ] = None,
    data_dir: DataDir = None,
    max_rows: Annotated[int, typer.Option("--max-rows", min=1, max=10000, help="Row cap.")] = 200,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Query timeout in seconds.")] = 10.0,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Directory for the CSV (and chart) files.")] = None,
    chart: Annotated[str | None, typer.Option("--chart", help="Draw a chart: bar, line, pie or scatter.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Run one query as USER: guarded, read-only, capped; prints a table."""
    from agent.errors import InvalidInput, PermissionDenied
    from agent.interfaces.cli.support import load_settings
    from agent.runtime.services import open_tool_runtime
    from connectors.errors import ConnectorError
    from connectors.warehouse import SqlWarehouse
    from policies.errors import UnknownPrincipal
    from tools.analytics import analytics_tools
    from tools.errors import ToolError

    if sql == "-":
        sql = sys.stdin.read()
    if not sql.strip():
        _fail('give one SELECT query, e.g. chamberlain sql run "SELECT name FROM regions" --user u_priya')
    if chart is not None and chart not in ("bar", "line", "pie", "scatter"):
        _fail("--chart must be bar, line, pie or scatter")
    url = _warehouse_url(warehouse, data_dir)
    try:
        wh = SqlWarehouse(url, timeout_s=timeout, max_rows=max_rows)
    except ConnectorError as exc:
        _fail(str(exc))
    try:
        # The query is audited like the assistant's own: sql run keeps state in the data dir.
        settings = load_settings(data_dir, create=True)
        _, run_query = analytics_tools(wh, max_rows=max_rows, timeout_s=timeout)
        args = {"sql": sql, "chart": {"kind": chart} if chart else None}
        # Through the runtime, as any person's direct call: the gate's role check, the audit.
        with open_tool_runtime(settings, [run_query]) as rt:
            try:
                result = rt.call_tool(user, run_query.name, args, thread_id="cli", artifacts_dir=out_dir).result
            except UnknownPrincipal as exc:
                _fail(str(exc))
            except (PermissionDenied, InvalidInput) as exc:
                _fail(str(exc), code=1)
            except ToolError as exc:
                _fail(str(exc), code=1)
            except ConnectorError as exc:
                _fail(str(exc), code=1)
    finally:
        wh.close()
    if as_json:
        sys.stdout.write(result.model_dump_json() + "\n")
        return
    table = Table(*[c.name for c in result.columns])
    for row in result.rows:
        table.add_row(*[escape("" if v is None else f"{v:,.2f}" if isinstance(v, float) else str(v)) for v in row])
    console.print(table)
    console.print(f"[dim]{escape(_shown_sql(result.sql, max_rows))}[/dim]", soft_wrap=True)
    count = (
        f"first {max_rows} rows (more exist: narrow the query or raise --max-rows)"
        if result.truncated
        else (f"{result.row_count} rows")
    )
    note = f"{count} in {result.elapsed_ms:.0f} ms"
    console.print(f"[dim]{note}[/dim]")
    for path in (result.csv_path, result.chart_path):
        if path:
            console.print(f"[dim]wrote {escape(path)}[/dim]")


def _shown_sql(sql: str, max_rows: int) -> str:
    """The query as a person should read it: the guard fetches one row over the cap to detect
    truncation, an implementation detail; show the cap itself."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql)
    except sqlglot.errors.ParseError:
        return sql
    limit = tree.args.get("limit")
    if not isinstance(limit, exp.Limit):
        return sql
    value = limit.expression
    if isinstance(value, exp.Literal) and value.is_int and int(value.this) == max_rows + 1:
        limit.set("expression", exp.Literal.number(max_rows))
        return tree.sql()
    return sql


@app.command()
def schema(
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Only what this person may read (default: everything).")
    ] = None,
    warehouse: Annotated[
        str | None,
        typer.Option("--warehouse", "-w", help="Warehouse URL (default: the demo warehouse in the data dir)."),
    ] = None,
    samples: Annotated[int, typer.Option("--samples", min=0, max=10, help="Sample values per column.")] = 3,
    data_dir: DataDir = None,
) -> None:
    """The tables and columns USER may read, with types and a few sample values."""
    import sqlglot
    from sqlglot import exp

    from connectors.errors import ConnectorError
    from connectors.warehouse import SqlWarehouse

    allow = _allow_list(None, user, data_dir) if user else None
    url = _warehouse_url(warehouse, data_dir)
    try:
        wh = SqlWarehouse(url)
    except ConnectorError as exc:
        _fail(str(exc))
    try:
        shown = 0
        for name, info in sorted(wh.tables().items()):
            grant = allow.grant(name) if allow is not None else None
            if allow is not None and grant is None:
                continue
            cols = [c for c in info.columns if grant is None or grant.allows(c.name)]
            if not cols:
                continue
            shown += 1
            title = f"{name}" + (f" — {info.comment}" if info.comment else "")
            table = Table("column", "type", "samples", title=escape(title), title_justify="left")
            for col in cols:
                values = ""
                if samples:
                    # Built as an AST (never by pasting strings), run on the read-only connection.
                    q = (
                        sqlglot.select(exp.column(col.name, quoted=True))
                        .distinct()
                        .from_(exp.table_(name, quoted=True))
                        .where(exp.column(col.name, quoted=True).is_(exp.null()).not_())
                        .limit(samples)
                        .sql(dialect=wh.dialect)
                    )
                    try:
                        values = ", ".join(str(r[0]) for r in wh.run(q, max_rows=samples).rows)
                    except ConnectorError:
                        values = "(not readable)"
                kind = col.type.lower() + (" key" if col.primary_key else "")
                if col.references:
                    kind += f" → {col.references}"
                table.add_row(escape(col.name), escape(kind), escape(values[:80]))
            console.print(table)
        if not shown:
            _fail(f"{user or 'this user'} may read no warehouse tables", code=1)
    finally:
        wh.close()


@app.command()
def roles(
    url: Annotated[
        str | None,
        typer.Option("--url", help="PostgreSQL warehouse, as an administrator (default: print for the demo schema)."),
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Run the statements on --url instead of printing them.")
    ] = False,
    login: Annotated[str, typer.Option("--login", help="The login role the assistant connects as.")] = "chamberlain_ro",
    schema: Annotated[str, typer.Option("--schema", help="PostgreSQL schema holding the warehouse tables.")] = "public",
    data_dir: DataDir = None,
) -> None:
    """Print (or --apply) the PostgreSQL roles and column grants that enforce data access.

    One role per data-access profile in policies/data_access.yaml (and per combination of
    roles people in the directory hold), granted exactly the readable columns; the login role
    keeps no table privilege of its own and every query runs under SET ROLE to the asker's."""
    from agent.interfaces.cli.support import configured_directory
    from policies.data_access import default_policy
    from policies.sql_roles import provisioning_sql

    if apply and not url:
        _fail("--apply needs --url postgresql://ADMIN@HOST/DB (a superuser or the tables' owner)")
    if url and not url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        _fail("--url must be a PostgreSQL URL (postgresql://user@host/db); SQLite warehouses are enforced in-process")
    columns = _pg_columns(url, schema) if url else _demo_columns(data_dir)
    profiles = [p.roles for p in configured_directory(data_dir)]
    statements = provisioning_sql(default_policy(), columns, profiles=profiles, login_role=login, schema=schema)
    if not apply:
        for stmt in statements:
            sys.stdout.write(stmt + ("\n" if stmt.startswith("--") else ";\n"))
        return
    assert url is not None
    _apply_roles(url, login, [s for s in statements if not s.startswith("--")])


def _psycopg_url(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def _pg_columns(url: str, schema: str) -> dict[str, list[str]]:
    import psycopg

    try:
        with psycopg.connect(_psycopg_url(url), connect_timeout=10) as con:
            rows = con.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s "
                "ORDER BY table_name, ordinal_position",
                (schema,),
            ).fetchall()
    except psycopg.Error as exc:
        _fail(f"cannot read the warehouse schema at --url: {str(exc).strip().splitlines()[0]}")
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(str(table), []).append(str(column))
    if not out:
        _fail(f"no tables in schema {schema!r} at --url; load the warehouse first or pass --schema")
    return out


def _demo_columns(data_dir: Path | None) -> dict[str, list[str]]:
    from connectors.errors import ConnectorError
    from connectors.warehouse import SqlWarehouse

    try:
        with SqlWarehouse(_warehouse_url(None, data_dir)) as wh:
            return {name: list(t.column_names) for name, t in wh.tables().items()}
    except ConnectorError as exc:
        _fail(str(exc))
    raise AssertionError("unreachable")


def _apply_roles(url: str, login: str, statements: list[str]) -> None:
    import psycopg

    current = ""
    try:
        with psycopg.connect(_psycopg_url(url), autocommit=True, connect_timeout=10) as con:
            if con.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login,)).fetchone() is None:
                _fail(
                    f"login role {login} does not exist; create it first: "
                    f"CREATE ROLE {login} LOGIN PASSWORD '...' (then re-run)"
                )
            with con.transaction():
                for stmt in statements:
                    current = stmt
                    con.execute(stmt)  # our generated SQL, no parameters
    except psycopg.Error as exc:
        where = f" (at: {current[:120]})" if current else ""
        _fail(f"could not apply the roles: {str(exc).strip().splitlines()[0]}{where}")
    created = sum(1 for s in statements if s.startswith("DO $$"))
    console.print(f"applied {len(statements)} statements: {created} data-access roles, login role {login}")


@app.command()
def generate(
    data_dir: DataDir = None,
    path: Annotated[
        Path | None, typer.Option("--path", help="SQLite file to write (default: in the data dir).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same data).")] = 7,
) -> None:
    """Generate the demo warehouse (SQLite, three years of Larkspur sales)."""
    from agent.interfaces.cli.support import configured_directory, load_settings

    if path is None:
        settings = load_settings(data_dir, create=True)
        path = Path(str(settings.resolved_warehouse_url).removeprefix("sqlite:///"))
    _generate(path, seed=seed, people=configured_directory(data_dir))


__all__ = ["app"]
