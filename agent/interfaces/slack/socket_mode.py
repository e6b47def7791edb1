"""Socket Mode for local use: no public URL, the app opens a WebSocket to Slack instead.

Needs an app-level token (``xapp-…``, scope ``connections:write``) next to the bot token.
"""

from __future__ import annotations

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler


def socket_mode_handler(bolt_app: App, app_token: str) -> SocketModeHandler:
    if not app_token.startswith("xapp-"):
        raise ValueError(
            "Socket Mode needs an app-level token starting with xapp- (set SLACK_APP_TOKEN; create it "
            "under Basic Information → App-Level Tokens with the connections:write scope)"
        )
    return SocketModeHandler(bolt_app, app_token)


def run_socket_mode(bolt_app: App, app_token: str) -> None:
    """Connect and block until interrupted."""
    socket_mode_handler(bolt_app, app_token).start()


__all__ = ["run_socket_mode", "socket_mode_handler"]
