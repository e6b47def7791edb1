"""Fault injection for the local service: tests switch on HTTP errors to see clients retry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi.responses import JSONResponse

from connectors.crm_service._wire import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FAULT_STATUSES = ("429", "500", "502", "503", "504")


class FaultInjector:
    """ASGI middleware: while a fault is set, answer every request with that HTTP error.

    ``app.state.faults`` holds the switch: ``{"status": "503", "remaining": None | int}``.
    Also counts requests (``app.state.request_log``) so tests can see retries happen.
    """

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.state.request_log.append(f"{scope['method']} {scope['path']}")
        fault = self.state.fault
        if fault is not None:
            status, remaining = fault
            if remaining is not None:
                self.state.fault = (status, remaining - 1) if remaining > 1 else None
            headers = {"Retry-After": "1"} if status == "429" else {}
            category = "RATE_LIMITS" if status == "429" else "INTERNAL_ERROR"
            message = "You have reached your secondly limit." if status == "429" else "Service unavailable"
            response = JSONResponse(error_body(message, category), status_code=int(status), headers=headers)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
