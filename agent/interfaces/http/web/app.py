"""The web page: My approvals, My requests, Audit, Review queue — server-rendered, no CDN.

Mounted on the HTTP API's FastAPI app by :func:`mount_web` (``chamberlain serve``). Every page
resolves the viewer (session cookie or trusted proxy headers, see :mod:`agent.interfaces.http.web.auth`) and
checks permissions on the server; every POST carries a CSRF token. Decisions go through the
same service call as the CLI and JSON API (``Chamberlain.decide``), so the store's
compare-and-set makes double submits and concurrent clicks harmless.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from agent.interfaces.http.web.approvals import ApprovalPages
from agent.interfaces.http.web.audit import AuditPages
from agent.interfaces.http.web.base import STATIC_DIR, PageError, WebConfig
from agent.interfaces.http.web.requests import RequestPages
from agent.interfaces.http.web.review_pages import ReviewPages
from agent.interfaces.http.web.session import SessionPages


def mount_web(app: FastAPI, runtime: Any, *, token: str, settings: Any = None, config: WebConfig | None = None) -> None:
    """Add the web page (``/web``), ``/readyz`` and ``/metrics`` to ``app``."""
    if config is None:
        if settings is None:
            from agent.settings import Settings

            settings = Settings()
        config = WebConfig.from_settings(settings, token)
    web = _Web(runtime, config)
    web.register(app)


class _Web(SessionPages, ApprovalPages, RequestPages, AuditPages, ReviewPages):
    """Every page, routed: each page family is its own class, this one adds the routes and operations."""

    def register(self, app: FastAPI) -> None:
        app.mount("/web/static", StaticFiles(directory=STATIC_DIR), name="web-static")
        app.add_exception_handler(PageError, self._page_error)  # type: ignore[arg-type]
        r = app.router
        r.add_api_route("/web", self.home, methods=["GET"], include_in_schema=False)
        r.add_api_route("/web/", self.home, methods=["GET"], include_in_schema=False)
        r.add_api_route("/web/signin", self.signin_form, methods=["GET"], include_in_schema=False)
        r.add_api_route("/web/signin", self.signin, methods=["POST"], include_in_schema=False)
        r.add_api_route("/web/signout", self.signout, methods=["POST"], include_in_schema=False)
        r.add_api_route("/web/approvals", self.approvals, methods=["GET"], include_in_schema=False)
        r.add_api_route("/web/approvals/{approval_id}", self.approval, methods=["GET"], include_in_schema=False)
        r.add_api_route("/web/approvals/{approval_id}/decide", self.decide, methods=["POST"], include_in_schema=False)
        r.add_api_route(
            "/web/approvals/{approval_id}/delegate", self.delegate, methods=["POST"], include_in_schema=False
        )
        r.add_api_route("/web/approvals/{approval_id}/retry", self.retry, methods=["POST"], include_in_schema=False)
        r.add_api_route("/web/batches/{batch_id}", self.batch, methods=["GET"], include_in_schema=False)
        r.add_api_route("/web/batches/{batch_id}/decide", self.decide_batch, methods=["POST"], include_in_schema=False)
        r.add_api_route("/web/requests", self.requests, methods=["GET"], include_in_schema=False)
        r.add_api_route("/web/feedback", self.feedback, methods=["POST"], include_in_schema=False)
        r.add_api_route("/web/audit", self.audit, methods=["GET"], include_in_schema=False)
        r.add_api_route("/web/audit/export", self.audit_export, methods=["GET"], include_in_schema=False)
        r.add_api_route("/web/review", self.review, methods=["GET"], include_in_schema=False)
        r.add_api_route("/web/review/item", self.review_item, methods=["GET"], include_in_schema=False)
        r.add_api_route("/web/review/item", self.review_label, methods=["POST"], include_in_schema=False)
        r.add_api_route("/readyz", self.readyz, methods=["GET"], include_in_schema=False)
        r.add_api_route("/metrics", self.metrics, methods=["GET"], include_in_schema=False)

    # -- operations ----------------------------------------------------------------------------

    def readyz(self) -> Response:
        try:
            self.svc.ping()
        except Exception as exc:
            return Response(
                json.dumps({"status": "unavailable", "reason": f"app database: {type(exc).__name__}"}),
                status_code=503,
                media_type="application/json",
            )
        return Response(json.dumps({"status": "ready"}), media_type="application/json")

    def metrics(self, request: Request) -> Response:
        supplied = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not self.cfg.metrics_token or not hmac.compare_digest(supplied.encode(), self.cfg.metrics_token.encode()):
            return Response(
                "metrics need Authorization: Bearer <CHAMBERLAIN_METRICS_TOKEN or the HTTP token>\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="chamberlain-metrics"'},
                media_type="text/plain",
            )
        from agent.observability.metrics import render

        body, ctype = render()
        return Response(body, media_type=ctype)


__all__ = ["PageError", "WebConfig", "mount_web"]
