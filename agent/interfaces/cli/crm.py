"""``chamberlain crm``: the local HubSpot-compatible demo CRM."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.interfaces.cli.options import DataDir
from agent.interfaces.cli.options import settings_for as _settings
from agent.interfaces.cli.render import console

app = typer.Typer(help="The local HubSpot-compatible demo CRM.", no_args_is_help=True)


@app.command("serve")
def crm_serve(
    port: Annotated[int | None, typer.Option(help="Port (default CHAMBERLAIN_CRM_PORT, 8765).")] = None,
    host: str = "127.0.0.1",
    data_dir: DataDir = None,
) -> None:
    """Run the local HubSpot-compatible CRM (seeded with the demo company) in the foreground."""
    from agent.runtime.services import LOCAL_CRM_TOKEN, ensure_crm_seeded
    from connectors.crm_service import serve

    settings = _settings(data_dir, create=True)  # it seeds the CRM it serves
    ensure_crm_seeded(settings)
    port = port or settings.crm_port
    console.print(f"CRM on http://{host}:{port} (token: {LOCAL_CRM_TOKEN})")
    serve(host, port, settings.crm_db_path, LOCAL_CRM_TOKEN)
