"""``chamberlain mcp serve``: Chamberlain's governed tools for any MCP client (docs/mcp_server.md).

Over stdio, stdout is the protocol's: everything this command says goes to stderr.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from agent.interfaces.cli.options import DataDir
from agent.interfaces.cli.support import fail, load_settings

app = typer.Typer(help="Chamberlain as an MCP server: its governed tools for any MCP client.", no_args_is_help=True)


class Transport(StrEnum):
    stdio = "stdio"
    http = "http"


@app.command("serve")
def serve(
    transport: Annotated[
        Transport, typer.Option(help="stdio: one client launches this process; http: Streamable HTTP at /mcp.")
    ] = Transport.stdio,
    user: Annotated[
        str | None,
        typer.Option("--user", "-u", help="stdio: the directory id the client acts as, e.g. u_alice."),
    ] = None,
    port: Annotated[int, typer.Option(help="http: the port to listen on.")] = 8765,
    host: Annotated[str, typer.Option(help="http: the interface; keep 127.0.0.1 unless behind a proxy.")] = "127.0.0.1",
    data_dir: DataDir = None,
) -> None:
    """Serve the tools the caller's roles allow: reads run as the caller, writes wait for approval.

    stdio serves one user (--user). Over http each request signs in with a personal API key
    (`chamberlain web key create`) or the service token plus X-Chamberlain-User."""
    settings = load_settings(data_dir)
    if transport is Transport.stdio:
        if not user:
            fail("stdio serves one person: pass --user with their directory id (e.g. --user u_alice)")
        _check_user(settings, user)
    elif user:
        fail(
            "over http every request signs in with its own API key; drop --user "
            "(create a key with `chamberlain web key create --user <id>`)"
        )
    from agent.runtime.services import open_runtime

    say = _stderr()
    with open_runtime(settings) as rt:
        if transport is Transport.stdio:
            import anyio

            from agent.interfaces.mcp.server import serve_stdio

            assert user is not None
            say(f"chamberlain MCP server on stdio, acting as {rt.directory.get(user).label}")
            anyio.run(serve_stdio, rt, user)
            return
        import uvicorn

        from agent.interfaces.mcp.server import http_app

        token = settings.http_token.get_secret_value() if settings.http_token else None
        asgi = http_app(rt, host=host, service_token=token)
        say(f"chamberlain MCP server at http://{host}:{port}/mcp (sign in with a personal API key)")
        uvicorn.Server(uvicorn.Config(asgi, host=host, port=port, log_level="warning")).run()


def _check_user(settings: Any, user: str) -> None:
    """Fail at once on an unknown user, before the runtime loads."""
    from policies.directory import Directory

    if Directory.load(settings.directory_path).find(user) is None:
        fail(f"no user {user!r} in the directory (ids look like u_alice)")


def _stderr() -> Any:
    import sys

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    return say
