"""Model commands: ``chamberlain usage``, ``chamberlain doctor`` and ``chamberlain evals live``.

chamberlain usage [--by day,user,model] [--since 7d|2026-12-01] [--user ID] [--group G] [--json | --csv]
chamberlain doctor [--no-call]
chamberlain evals live --provider openai --base-url http://localhost:8000/v1 --model M [-k 3] [--case NAME]
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
err_console = Console(stderr=True)
evals_app = typer.Typer(help="Run the evaluation suites.", no_args_is_help=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="CHAMBERLAIN_DATA_DIR", help="Where all state lives (default ./.chamberlain)."),
]


def register(app: typer.Typer) -> None:
    """Add ``usage`` and ``doctor`` to the main CLI (which mounts ``evals_app`` as ``evals``)."""
    app.command("usage")(usage)
    app.command("doctor")(doctor)


def _settings(data_dir: Path | None) -> Any:
    from agent.settings import Settings

    return Settings(data_dir=data_dir) if data_dir else Settings()


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


# --- usage --------------------------------------------------------------------------------------


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    m = re.fullmatch(r"(\d+)\s*([hdw])", text.strip())
    if m:
        n, unit = int(m.group(1)), m.group(2)
        delta = {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]
        return datetime.now(UTC) - delta
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        _fail(f"--since {text!r}: use a duration like 24h, 7d, 2w or a date like 2026-12-01")
        raise  # unreachable
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def usage(
    by: Annotated[
        str,
        typer.Option("--by", help="Group by any of day, user, group, model, task_kind, provider (comma-separated)."),
    ] = "day,user,model",
    since: Annotated[str | None, typer.Option("--since", help="Only calls since: 24h, 7d, 2w or a date.")] = None,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's calls.")] = None,
    group: Annotated[str | None, typer.Option("--group", "-g", help="Only calls of members of this group.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Model tokens (input, cached input, output), cost and latency by day, user, group, model and task kind."""
    from agent.service.records import REPORT_DIMENSIONS
    from agent.service.stores import connect_service

    if as_json and as_csv:
        _fail("choose one of --json and --csv")
    dims = [d.strip() for d in by.split(",") if d.strip()]
    bad = [d for d in dims if d not in REPORT_DIMENSIONS]
    if bad or not dims:
        _fail(f"--by {by!r}: group by any of {', '.join(REPORT_DIMENSIONS)}")
    settings = _settings(data_dir)
    svc = connect_service(settings)
    try:
        rows = svc.usage.report(dims, since=_since(since), user_id=user, group=group)
    finally:
        svc.close()
    data = [r.as_dict() for r in rows]
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    columns = [*dims, "calls", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
               "cost_usd", "latency_ms_avg", "latency_ms_p95"]  # fmt: skip
    if as_csv:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(data)
        sys.stdout.write(buf.getvalue())
        return
    if not rows:
        console.print("No model calls recorded yet (for this filter).")
        return
    table = Table(title="Model usage")
    for d in dims:
        table.add_column(d)
    for name in ("calls", "input", "cached input", "cache write", "output", "cost (USD)", "avg ms", "p95 ms"):
        table.add_column(name, justify="right")
    for r in rows:
        table.add_row(
            *(escape(r.keys[d]) for d in dims),
            f"{r.calls:,}",
            f"{r.input_tokens:,}",
            f"{r.cache_read_tokens:,}",
            f"{r.cache_write_tokens:,}",
            f"{r.output_tokens:,}",
            f"{r.cost_usd:,.4f}",
            f"{r.latency_ms_avg:,.0f}",
            f"{r.latency_ms_p95:,.0f}",
        )
    # Piped or captured output gets every column in full; a terminal gets its own width.
    out = console if console.is_terminal else Console(width=max(console.width, 160))
    if "group" in dims:
        out.print(table)
        console.print("[dim]A call counts under each group its asker belongs to, so rows do not add up.[/dim]")
        return
    table.add_section()
    table.add_row(
        "total",
        *([""] * (len(dims) - 1)),
        f"{sum(r.calls for r in rows):,}",
        f"{sum(r.input_tokens for r in rows):,}",
        f"{sum(r.cache_read_tokens for r in rows):,}",
        f"{sum(r.cache_write_tokens for r in rows):,}",
        f"{sum(r.output_tokens for r in rows):,}",
        f"{sum(r.cost_usd for r in rows):,.4f}",
        "",
        "",
    )
    out.print(table)


# --- doctor -------------------------------------------------------------------------------------

_PING_TOOL = {
    "name": "doctor_ping",
    "description": "Answers pong. Used by `chamberlain doctor` to check that the server accepts tools.",
    "input_schema": {"type": "object", "properties": {}, "additionalProperties": False},
}


def check_models(settings: Any, *, call: bool = True) -> list[tuple[bool, str]]:
    """(ok, one line) per check of the model configuration; ``call``: also ask each model once."""
    from langchain_core.messages import HumanMessage

    from agent.models.budgets import BudgetError, load_budgets
    from agent.models.chat import ModelError, bind_tools_cached, build_chat_model, invoke_model, load_prompt
    from agent.models.pricing import PricingError, default_price_table
    from agent.models.setup import route_configs
    from agent.models.tokens import count_tokens

    results: list[tuple[bool, str]] = []
    try:
        chains = route_configs(settings)
    except ModelError as exc:
        return [(False, str(exc))]
    prices = default_price_table()
    if settings.pricing_path is not None:
        try:
            prices = prices.overridden(settings.pricing_path)
            results.append((True, f"price table: {settings.pricing_path} overrides the packaged one"))
        except PricingError as exc:
            results.append((False, f"{exc} (CHAMBERLAIN_PRICING_PATH)"))
    if settings.budgets_path is not None:
        try:
            budgets = load_budgets(settings.budgets_path)
            results.append((True, f"budgets: {len(budgets.users)} user(s), {len(budgets.groups)} group(s)"))
        except BudgetError as exc:
            results.append((False, str(exc)))
    prompt_tokens = count_tokens(load_prompt("system")).tokens
    if settings.model_context_tokens is not None and prompt_tokens * 4 > settings.model_context_tokens:
        results.append(
            (
                False,
                f"the system prompt alone is {prompt_tokens:,} tokens, over a quarter of the "
                f"{settings.model_context_tokens:,}-token context (CHAMBERLAIN_MODEL_CONTEXT_TOKENS): "
                "pick a model with a longer context",
            )
        )
    seen: set[Any] = set()
    for kind, chain in chains.items():
        for position, cfg in enumerate(chain):
            role = f"{kind} {'primary' if position == 0 else 'fallback'}"
            if cfg in seen:
                continue
            seen.add(cfg)
            try:
                chat = build_chat_model(cfg)
            except ModelError as exc:
                results.append((False, f"{role} {cfg.label}: {exc}"))
                continue
            if not prices.knows(cfg.model):
                results.append(
                    (
                        True,
                        f"{role} {cfg.label}: no price entry "
                        "(costed at the default); add one in CHAMBERLAIN_PRICING_PATH",
                    )
                )
            if not call:
                results.append((True, f"{role} {cfg.label}: configured (not called)"))
                continue
            try:
                bound = bind_tools_cached(chat, [_PING_TOOL])
                invoke_model(
                    bound, [HumanMessage("Reply with the word OK.")], model_config=cfg, tool_names=["doctor_ping"]
                )
            except ModelError as exc:
                results.append((False, f"{role} {cfg.label}: {exc}"))
            else:
                where = cfg.base_url or "the public API"
                results.append((True, f"{role} {cfg.label} at {where}: answers, accepts tools"))
    return results


def doctor(
    no_call: Annotated[
        bool, typer.Option("--no-call", help="Check configuration only; do not call the models.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Check the model configuration: provider, base URL, key, model, tool support, context, prices, budgets."""
    settings = _settings(data_dir)
    if not settings.uses_real_model:
        console.print(
            "[yellow]No model configured[/yellow]: set ANTHROPIC_API_KEY, or CHAMBERLAIN_MODEL_PROVIDER=openai with "
            "CHAMBERLAIN_MODEL_BASE_URL (and CHAMBERLAIN_MODEL_API_KEY if the server needs one). "
            "`chamberlain demo` runs without one."
        )
        return
    results = check_models(settings, call=not no_call)
    for ok, line in results:
        mark = "[green]✓[/green]" if ok else "[red]✗[/red]"
        console.print(f"{mark} {escape(line)}")
    if not all(ok for ok, _ in results):
        raise typer.Exit(1)


# --- evals live -----------------------------------------------------------------------------------


@evals_app.command("live")
def evals_live(
    provider: Annotated[str, typer.Option("--provider", help="anthropic or openai (any OpenAI-compatible server).")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model id as the server names it.")],
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Server base URL, e.g. http://localhost:8000/v1.")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="CHAMBERLAIN_MODEL_API_KEY", help="API key, if the server needs one."),
    ] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=20, help="Trials per scenario (pass^k needs all k to pass).")] = 3,
    case: Annotated[list[str] | None, typer.Option("--case", help="Only this scenario (repeatable).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Only scenarios with this tag (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Run the trajectory suite k times on a real model and report pass^k per scenario (τ-bench style)."""
    from pydantic import SecretStr

    from agent.models.chat import PROVIDERS
    from evals.trajectories import load_cases, run_all

    if provider not in PROVIDERS:
        _fail(f"--provider {provider!r}: use one of {', '.join(PROVIDERS)}")
    cases = [c for c in load_cases() if (not case or c.name in case) and (not tag or set(tag) & set(c.tags))]
    if not cases:
        _fail("no scenario matches --case/--tag")
    model_settings: dict[str, Any] = {
        "model_provider": provider,
        "model": model,
        "model_base_url": base_url,
        "model_api_key": SecretStr(api_key) if api_key else None,
        "fallback_model": None,
        "model_routes": {},
        "model_fallbacks": {},
    }
    outcomes: dict[str, list[bool]] = {c.name: [] for c in cases}
    failures: dict[str, list[str]] = {c.name: [] for c in cases}
    from rich.progress import Progress

    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task(f"{provider}:{model}", total=k * len(cases))
        for _trial in range(k):
            for res in run_all(cases, model_settings=model_settings, progress=lambda _r: bar.advance(task)):
                outcomes[res.case.name].append(res.ok)
                if not res.ok:
                    failures[res.case.name].append("; ".join(res.failures)[:300])
    report: list[dict[str, Any]] = [
        {
            "scenario": name,
            "trials": len(runs),
            "passed": sum(runs),
            "pass^1": round(sum(runs) / len(runs), 3),
            f"pass^{k}": 1.0 if all(runs) else 0.0,
            "first_failure": failures[name][0] if failures[name] else "",
        }
        for name, runs in outcomes.items()
    ]
    if as_json:
        sys.stdout.write(
            json.dumps({"provider": provider, "model": model, "k": k, "scenarios": report}, indent=2) + "\n"
        )
    else:
        table = Table(title=f"Trajectory suite on {provider}:{model}, k={k}")
        for col in ("scenario", "passed", "pass^1", f"pass^{k}", "first failure"):
            table.add_column(col)
        for r in report:
            table.add_row(
                r["scenario"], f"{r['passed']}/{r['trials']}", f"{r['pass^1']:.2f}", f"{r[f'pass^{k}']:.0f}",
                escape(r["first_failure"][:120]),
            )  # fmt: skip
        console.print(table)
        overall = sum(r[f"pass^{k}"] for r in report) / len(report)
        console.print(f"pass^{k} over {len(report)} scenarios: {overall:.2f}")
