"""``chamberlain tools``: the tools the model can be offered, and MCP fingerprints to review."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Built-in and bring-your-own tools: effects, and MCP tools to review.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


@app.command("fingerprints")
def fingerprints(
    servers: Annotated[
        Path,
        typer.Option("--servers", envvar="CHAMBERLAIN_MCP_SERVERS", help="The MCP server list (YAML)."),
    ],
    server: Annotated[str | None, typer.Option("--server", help="Only this server.")] = None,
) -> None:
    """Print each MCP tool's current fingerprint (description + schema) against the policy.

    Review a tool's description, then paste its fingerprint into the server's tool policy; a
    tool whose fingerprint changes later is disabled until you do this again."""
    from policies.errors import PolicyFileError
    from policies.tool_effects import ToolEffectPolicy
    from tools.external import ToolRegistrationError
    from tools.mcp import McpUnavailable, current_fingerprints, load_mcp_servers

    try:
        configs = [c for c in load_mcp_servers(servers) if server in (None, c.name)]
    except ToolRegistrationError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    if not configs:
        err.print(f"[red]error:[/red] no server {server!r} in {servers}")
        raise typer.Exit(1)
    table = Table("server", "tool", "declared effect", "status", "fingerprint", title="MCP tools")
    for cfg in configs:
        try:
            listed = current_fingerprints(cfg)
            policy = ToolEffectPolicy.load(cfg.policy)
        except (McpUnavailable, PolicyFileError) as exc:
            table.add_row(cfg.name, "–", "–", f"[red]{exc}[/red]", "")
            continue
        for t in listed:
            declared = policy.get(t.name)
            if declared is None:
                status = "[yellow]not declared: never offered[/yellow]"
            elif declared.fingerprint == t.fingerprint:
                status = "[green]approved[/green]"
            elif declared.fingerprint:
                status = "[red]changed since approval: disabled[/red]"
            else:
                status = "[yellow]no fingerprint: disabled until reviewed[/yellow]"
            table.add_row(cfg.name, t.name, declared.effect if declared else "–", status, t.fingerprint)
    console.print(table)
