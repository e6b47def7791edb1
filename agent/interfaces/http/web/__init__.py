"""The web page served by ``chamberlain serve``: approvals, requests, audit, review queue."""

from agent.interfaces.http.web.app import PageError, WebConfig, mount_web

__all__ = ["PageError", "WebConfig", "mount_web"]
