"""The web page's shared ground: its errors, viewer and config, templates, and the pages' common base class."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from agent.errors import AmbiguousId, RecordNotFound
from agent.interfaces.http.web.auth import CSRF_COOKIE, FLASH_COOKIE, SESSION_COOKIE, SessionError, Signer
from agent.interfaces.http.web.cards import card, duration
from agent.service.stores import Service
from policies.directory import Principal

STATIC_DIR = Path(__file__).with_name("static")


class PageError(Exception):
    """Ends a request with a page-level error (never a traceback)."""

    def __init__(self, status: int, title: str, message: str, *, sign_in: bool = False) -> None:
        super().__init__(message)
        self.status, self.title, self.message, self.sign_in = status, title, message, sign_in


@dataclass(frozen=True)
class Viewer:
    user_id: str
    principal: Principal
    via: str  # "session" | "proxy"
    csrf: str
    may_audit: bool
    may_review: bool


@dataclass
class WebConfig:
    secret: str
    service_token: str
    session_hours: float = 8.0
    cookie_secure: bool | None = None
    audit_roles: tuple[str, ...] = ("auditor", "it_admin", "cfo")
    review_roles: tuple[str, ...] = ("reviewer", "it_admin", "cfo")
    review_cases_path: Path = Path(".chamberlain/evals/review.yaml")
    metrics_token: str = ""
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"

    @classmethod
    def from_settings(cls, settings: Any, token: str) -> WebConfig:
        secret = settings.web_session_secret.get_secret_value() if settings.web_session_secret else token
        return cls(
            secret=secret,
            service_token=token,
            session_hours=settings.web_session_hours,
            cookie_secure=settings.web_cookie_secure,
            audit_roles=tuple(settings.web_audit_roles),
            review_roles=tuple(settings.web_review_roles),
            review_cases_path=settings.resolved_review_cases_path,
            metrics_token=settings.metrics_token.get_secret_value() if settings.metrics_token else token,
            metrics_port=settings.metrics_port,
            metrics_host=settings.metrics_host,
        )


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("agent.interfaces.http.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda d: d.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if d else "—"
    env.filters["duration"] = duration
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, default=str, ensure_ascii=False)
    return env


class WebBase:
    """What every page shares: rendering, cookies, redirects, who is asking, CSRF-checked forms
    and the approval records pages show (cards, who may see them, deliveries)."""

    def __init__(self, runtime: Any, config: WebConfig) -> None:
        self.rt = runtime
        self.svc = Service.for_runtime(runtime)  # the same functions as the CLI, the HTTP API and Slack
        self.cfg = config
        self.signer = Signer(config.secret)
        self.keys = self.svc.api_keys
        self.env = _env()
        from agent.observability.metrics import metrics

        metrics()
        sla = getattr(getattr(runtime, "workflows", None), "stage_sla", None)
        self.svc.register_metrics(sla)
        if config.metrics_port:
            from prometheus_client import start_http_server

            start_http_server(config.metrics_port, addr=config.metrics_host, registry=metrics().registry)

    # -- plumbing ------------------------------------------------------------------------------

    def _page_error(self, request: Request, exc: PageError) -> Response:
        viewer = getattr(request.state, "viewer", None)
        return self._render(
            request,
            "error.html",
            {"title": exc.title, "message": exc.message, "sign_in": exc.sign_in},
            viewer=viewer,
            status=exc.status,
        )

    def _secure(self, request: Request) -> bool:
        if self.cfg.cookie_secure is not None:
            return self.cfg.cookie_secure
        return request.url.scheme == "https"

    def _csrf_cookie(self, request: Request) -> str:
        existing = request.cookies.get(CSRF_COOKIE)
        if existing and 16 <= len(existing) <= 64:
            return existing
        fresh = getattr(request.state, "new_csrf", None) or Signer.new_csrf_cookie()
        request.state.new_csrf = fresh
        return fresh

    def _render(
        self,
        request: Request,
        template: str,
        ctx: Mapping[str, Any],
        *,
        viewer: Viewer | None,
        status: int = 200,
    ) -> HTMLResponse:
        csrf_cookie = self._csrf_cookie(request)
        flash = self.signer.read_flash(request.cookies.get(FLASH_COOKIE))
        pending_count = len(self.svc.approvals.records(waiting_for=viewer.user_id)) if viewer else 0
        html = self.env.get_template(template).render(
            viewer=viewer,
            flash=flash,
            pending_count=pending_count,
            anon_csrf=self.signer.csrf_token(csrf_cookie, ""),
            path=request.url.path,
            **ctx,
        )
        resp = HTMLResponse(html, status_code=status)
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "same-origin"
        resp.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        if getattr(request.state, "new_csrf", None):
            self._set_cookie(request, resp, CSRF_COOKIE, request.state.new_csrf, max_age=None)
        if flash:
            resp.delete_cookie(FLASH_COOKIE, path="/web")
        return resp

    def _set_cookie(self, request: Request, resp: Response, name: str, value: str, *, max_age: int | None) -> None:
        resp.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/web",
            httponly=True,
            secure=self._secure(request),
            samesite="lax",
        )

    def _redirect(self, request: Request, to: str, flash: tuple[str, str] | None = None) -> RedirectResponse:
        resp = RedirectResponse(to, status_code=303)
        if flash is not None:
            self._set_cookie(request, resp, FLASH_COOKIE, self.signer.flash_cookie(*flash), max_age=60)
        return resp

    # -- who is asking -------------------------------------------------------------------------

    def _identify(self, request: Request) -> tuple[str, str]:
        user = request.headers.get("x-chamberlain-user", "")
        auth = request.headers.get("authorization", "")
        if user and auth.startswith("Bearer "):
            supplied = auth.removeprefix("Bearer ").strip()
            if not hmac.compare_digest(supplied.encode(), self.cfg.service_token.encode()):
                raise PageError(401, "Not signed in", "The proxy's service token is wrong; check its configuration.")
            return user, "proxy"
        try:
            session = self.signer.read_session(request.cookies.get(SESSION_COOKIE))
        except SessionError as exc:
            if exc.expired:
                raise PageError(401, "Session expired", "Your session expired. Sign in again.", sign_in=True) from None
            raise PageError(401, "Sign in", "Sign in to see this page.", sign_in=True) from None
        if session.key_id and not self.keys.is_live(session.key_id):
            raise PageError(401, "Signed out", "The API key you signed in with was revoked.", sign_in=True)
        return session.user_id, "session"

    def viewer(self, request: Request) -> Viewer:
        user_id, via = self._identify(request)
        principal = self.svc.directory.find(user_id)
        if principal is None:
            raise PageError(403, "Unknown user", f"{user_id!r} is not in the company directory.")
        csrf = self.signer.csrf_token(self._csrf_cookie(request), user_id)
        v = Viewer(
            user_id,
            principal,
            via,
            csrf,
            may_audit=bool(principal.roles & set(self.cfg.audit_roles)),
            may_review=bool(principal.roles & set(self.cfg.review_roles)),
        )
        request.state.viewer = v
        return v

    async def _form(self, request: Request, viewer: Viewer | None) -> dict[str, str]:
        form = await request.form()
        data = {k: v for k, v in form.items() if isinstance(v, str)}
        user = viewer.user_id if viewer else ""
        if not self.signer.csrf_ok(request.cookies.get(CSRF_COOKIE), user, data.get("csrf")):
            self.svc.audit.append("web_csrf_refused", actor=user or "anonymous", data={"path": request.url.path[:200]})
            raise PageError(
                403,
                "Form refused",
                "This form was not sent from a current Chamberlain page (missing or wrong security token). "
                "Nothing was changed: reload the page and try again.",
            )
        return data

    # -- approval records (shared by the approvals, batch and requests pages) -------------------

    def _sla(self, rec: Any) -> timedelta | None:
        wf = getattr(self.rt, "workflows", None)
        return wf.stage_sla(rec) if wf is not None else None

    def _card(self, rec: Any, viewer: Viewer) -> Any:
        approvals = self.svc.approvals
        return card(
            rec,
            self.svc.directory,
            viewer=viewer.user_id,
            now=approvals.now(),
            stage_sla=self._sla(rec),
            show_result=True,
            end=approvals.end_state(rec),
            batch_id=approvals.batch_of(rec),
        )

    def _may_view(self, rec: Any, viewer: Viewer) -> bool:
        involved = {rec.requester_id, *(a for s in rec.stages for a in s.approvers)}
        return viewer.user_id in involved or viewer.may_audit

    def _delegates(self, rec: Any, viewer: Viewer) -> list[Principal]:
        """Who ``viewer`` may hand this stage to: same approver roles, not the requester or
        someone reporting to them, not already on the route (one person, one stage)."""
        on_route = {a for s in rec.stages for a in s.approvers}
        needed = viewer.principal.roles - {"employee"}
        out = []
        for p in self.svc.directory:
            if p.id in on_route or p.id == rec.requester_id or p.id == viewer.user_id:
                continue
            if self.svc.directory.is_above(rec.requester_id, p.id):
                continue
            if needed and needed <= p.roles:
                out.append(p)
        return out

    def _denied(self, viewer: Viewer, request: Request, *, approval_id: str | None = None) -> None:
        self.svc.audit.append(
            "web_access_denied", actor=viewer.user_id, approval_id=approval_id, data={"path": request.url.path[:200]}
        )

    def _get(self, approval_id: str) -> Any:
        if len(approval_id) > 64:
            raise PageError(404, "Not found", "There is no such approval request.")
        try:
            return self.svc.approvals.record(approval_id)
        except (RecordNotFound, AmbiguousId):
            raise PageError(404, "Not found", f"There is no approval request {approval_id!r}.") from None

    def _delivery(self, rec: Any) -> dict[str, Any] | None:
        """The outbox row of an approved message, if this request sent one."""
        return self.svc.delivery(rec)
