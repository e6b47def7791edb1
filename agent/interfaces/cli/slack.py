"""``chamberlain slack serve``: run the Slack bot over HTTP (Events API) or Socket Mode."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from slack_bolt import App

    from agent.settings import Settings

app = typer.Typer(help="The Slack bot (HTTP Events API or Socket Mode).", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """The Slack bot (HTTP Events API or Socket Mode)."""


@contextlib.contextmanager
def open_slack_app(
    settings: Settings,
    *,
    process_before_response: bool = False,
    work_threads: int = 16,
    chat_model: Any = None,
    sweep_every_s: float | None = None,
) -> Iterator[App]:
    """The Bolt app with everything behind it (runtime, notifier, dedupe); closes it all on exit."""
    from agent.interfaces.slack.app import create_slack_app
    from agent.interfaces.slack.notifier import SlackNotifier
    from agent.interfaces.slack.users import SlackUsers
    from agent.runtime.services import open_runtime
    from agent.service.stores import connect_service
    from connectors.slack.client import SlackWebApi, build_web_client
    from policies.directory import Directory

    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    if not token:
        raise ValueError("SLACK_BOT_TOKEN is not set (the bot token, xoxb-…; see docs/slack.md)")
    if not secret:
        raise ValueError("SLACK_SIGNING_SECRET is not set (Basic Information → Signing Secret)")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # The app database for the Slack side (cards, de-duplication, the outbox), apart from the runtime's.
    svc = connect_service(settings)
    try:
        web = build_web_client(token, base_url=settings.slack_api_url)
        api = SlackWebApi(web)
        users = SlackUsers(api, Directory.load(settings.directory_path))
        notifier = SlackNotifier(api, users, svc.slack_cards, approvals_channel=settings.slack_approvals_channel)
        from agent.interfaces.outbox_worker import background_worker

        with (
            open_runtime(settings, chat_model=chat_model, notifier=notifier, sweep_every_s=sweep_every_s) as runtime,
            # Delivers approved messages and (see agent.notify) approval cards; off with
            # CHAMBERLAIN_OUTBOX_WORKER=false when separate `chamberlain outbox run` processes do it.
            background_worker(settings, svc.outbox),
        ):
            yield create_slack_app(
                runtime,
                client=web,
                signing_secret=secret,
                dedupe=svc.dedupe,
                approvals_channel=settings.slack_approvals_channel,
                users=users,
                process_before_response=process_before_response,
                work_threads=work_threads,
                files_root=settings.data_dir,
                token_verification_enabled=settings.slack_api_url is None,
            )
    finally:
        svc.close()


@app.command()
def serve(
    socket: Annotated[
        bool, typer.Option("--socket", help="Socket Mode (needs SLACK_APP_TOKEN, xapp-…): no public URL.")
    ] = False,
    host: Annotated[str, typer.Option(help="HTTP mode: interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP mode: port; Slack posts to /slack/events.")] = 3000,
    threads: Annotated[int, typer.Option(help="Worker threads for conversations and decisions.")] = 16,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", envvar="CHAMBERLAIN_DATA_DIR", help="Where all state lives."),
    ] = None,
) -> None:
    """Serve the bot: HTTP (Events API, interactivity and /chamberlain at /slack/events) or --socket."""
    from agent.interfaces.cli.support import load_settings

    settings = load_settings(data_dir)
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    if not settings.slack_bot_token:
        _fail("SLACK_BOT_TOKEN is not set (the bot token, xoxb-…; see docs/slack.md)")
    if not settings.slack_signing_secret:
        _fail("SLACK_SIGNING_SECRET is not set (Slack app settings → Basic Information → Signing Secret)")
    if socket and not app_token.startswith("xapp-"):
        _fail("--socket needs SLACK_APP_TOKEN (an app-level token, xapp-…, with connections:write)")
    with open_slack_app(settings, work_threads=threads, sweep_every_s=settings.sweep_interval_s) as bolt_app:
        if socket:
            from agent.interfaces.slack.socket_mode import run_socket_mode

            typer.echo("Chamberlain Slack bot: Socket Mode (Ctrl-C to stop)")
            run_socket_mode(bolt_app, app_token)
        else:
            import uvicorn

            from agent.interfaces.slack.fastapi_app import EVENTS_PATH, create_fastapi_app

            typer.echo(f"Chamberlain Slack bot: http://{host}:{port}{EVENTS_PATH}")
            uvicorn.run(create_fastapi_app(bolt_app), host=host, port=port, log_level="info")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


__all__ = ["app", "open_slack_app"]
