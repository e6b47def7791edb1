"""The web page: My approvals, My requests, Audit, Review queue — server-rendered, no CDN.

Mounted on the HTTP API's FastAPI app by :func:`mount_web` (``chamberlain serve``). Every page
resolves the viewer (session cookie or trusted proxy headers, see :mod:`agent.interfaces.http.web.auth`) and
checks permissions on the server; every POST carries a CSRF token. Decisions go through the
same service call as the CLI and JSON API (``Chamberlain.decide``), so the store's
compare-and-set makes double submits and concurrent clicks harmless.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

from agent.interfaces.http.web.auth import CSRF_COOKIE, FLASH_COOKIE, SESSION_COOKIE, SessionError, Signer
from agent.interfaces.http.web.cards import card, duration
from connectors.appdb.api_keys import ApiKeyStore
from connectors.errors import RecordNotFound
from policies.directory import Principal

log = logging.getLogger(__name__)

MAX_AUDIT_DAYS = 366
AUDIT_PAGE = 100
EXPORT_LIMIT = 50_000
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


def _parse_day(value: str, name: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        raise PageError(400, "Check the dates", f"{name}: {value[:40]!r} is not a date; use YYYY-MM-DD.") from None


def mount_web(app: FastAPI, runtime: Any, *, token: str, settings: Any = None, config: WebConfig | None = None) -> None:
    """Add the web page (``/web``), ``/readyz`` and ``/metrics`` to ``app``."""
    if config is None:
        if settings is None:
            from agent.settings import Settings

            settings = Settings()
        config = WebConfig.from_settings(settings, token)
    web = _Web(runtime, config)
    web.register(app)


class _Web:
    def __init__(self, runtime: Any, config: WebConfig) -> None:
        self.rt = runtime
        self.cfg = config
        self.signer = Signer(config.secret)
        self.keys = ApiKeyStore(runtime.approvals.engine)
        self.env = _env()
        from agent.observability.metrics import metrics, register_app_db

        metrics()
        sla = getattr(getattr(runtime, "workflows", None), "stage_sla", None)
        register_app_db(runtime.approvals.engine, sla)
        if config.metrics_port:
            from prometheus_client import start_http_server

            start_http_server(config.metrics_port, addr=config.metrics_host, registry=metrics().registry)

    # -- plumbing ------------------------------------------------------------------------------

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
        pending_count = len(self.rt.approvals.pending_for(viewer.user_id)) if viewer else 0
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
        principal = self.rt.directory.find(user_id)
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
            self.rt.audit.append("web_csrf_refused", actor=user or "anonymous", data={"path": request.url.path[:200]})
            raise PageError(
                403,
                "Form refused",
                "This form was not sent from a current Chamberlain page (missing or wrong security token). "
                "Nothing was changed: reload the page and try again.",
            )
        return data

    # -- sign in -------------------------------------------------------------------------------

    def home(self, request: Request) -> Response:
        return RedirectResponse("/web/approvals", status_code=303)

    def signin_form(self, request: Request) -> Response:
        return self._render(request, "signin.html", {"error": None}, viewer=None)

    async def signin(self, request: Request) -> Response:
        data = await self._form(request, None)
        key = data.get("api_key", "").strip()
        user = self.keys.verify(key) if key else None
        if user is None or self.rt.directory.find(user) is None:
            self.rt.audit.append("web_signin_failed", actor="anonymous", data={"key_prefix": key[:12]})
            return self._render(
                request,
                "signin.html",
                {
                    "error": "That API key is not valid or was revoked. Ask an admin for a new one "
                    "(chamberlain web key create --user <id>)."
                },
                viewer=None,
                status=401,
            )
        self.rt.audit.append("web_signin", actor=user, data={"key_id": self.keys.key_id_of(key)})
        resp = self._redirect(request, "/web/approvals")
        cookie = self.signer.session_cookie(user, self.keys.key_id_of(key), self.cfg.session_hours)
        self._set_cookie(request, resp, SESSION_COOKIE, cookie, max_age=int(self.cfg.session_hours * 3600))
        return resp

    async def signout(self, request: Request) -> Response:
        viewer = self.viewer(request)
        await self._form(request, viewer)
        resp = self._redirect(request, "/web/signin", ("info", "Signed out."))
        resp.delete_cookie(SESSION_COOKIE, path="/web")
        return resp

    # -- approvals -----------------------------------------------------------------------------

    def _sla(self, rec: Any) -> timedelta | None:
        wf = getattr(self.rt, "workflows", None)
        return wf.stage_sla(rec) if wf is not None else None

    def _card(self, rec: Any, viewer: Viewer) -> Any:
        from agent.batches import batch_of
        from agent.end_state import app_db_lookups, end_state

        engine = self.rt.approvals.engine
        delivery, find_request = app_db_lookups(engine)
        return card(
            rec,
            self.rt.directory,
            viewer=viewer.user_id,
            now=self.rt.approvals.clock(),
            stage_sla=self._sla(rec),
            show_result=True,
            end=end_state(rec, self.rt.directory, delivery=delivery, find_request=find_request),
            batch_id=batch_of(engine, rec.dedupe_key),
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
        for p in self.rt.directory:
            if p.id in on_route or p.id == rec.requester_id or p.id == viewer.user_id:
                continue
            if self.rt.directory.is_above(rec.requester_id, p.id):
                continue
            if needed and needed <= p.roles:
                out.append(p)
        return out

    def _denied(self, viewer: Viewer, request: Request, *, approval_id: str | None = None) -> None:
        self.rt.audit.append(
            "web_access_denied", actor=viewer.user_id, approval_id=approval_id, data={"path": request.url.path[:200]}
        )

    def approvals(self, request: Request) -> Response:
        viewer = self.viewer(request)
        recs = self.rt.approvals.pending_for(viewer.user_id)
        cards = [(self._card(r, viewer), self._delegates(r, viewer)) for r in recs]
        decided = [
            r
            for r in self.rt.approvals.list(limit=300)
            if r.status != "pending" and any(v.approver_id == viewer.user_id for v in r.votes)
        ][:10]
        return self._render(
            request,
            "approvals.html",
            {"cards": cards, "decided": [self._card(r, viewer) for r in decided]},
            viewer=viewer,
        )

    def _get(self, approval_id: str) -> Any:
        if len(approval_id) > 64:
            raise PageError(404, "Not found", "There is no such approval request.")
        try:
            return self.rt.approvals.get(approval_id)
        except RecordNotFound:
            raise PageError(404, "Not found", f"There is no approval request {approval_id!r}.") from None

    def approval(self, request: Request, approval_id: str) -> Response:
        viewer = self.viewer(request)
        rec = self._get(approval_id)
        if not self._may_view(rec, viewer):
            self._denied(viewer, request, approval_id=approval_id)
            raise PageError(
                403, "Not yours to see", "Only the requester, the route's approvers and auditors may see this request."
            )
        return self._render(
            request,
            "approval.html",
            {
                "c": self._card(rec, viewer),
                "delegates": self._delegates(rec, viewer),
                "delivery": self._delivery(rec),
            },
            viewer=viewer,
        )

    async def decide(self, request: Request, approval_id: str) -> Response:
        viewer = self.viewer(request)
        data = await self._form(request, viewer)
        rec = self._get(approval_id)
        choice = data.get("decision")
        if choice not in ("approve", "reject"):
            raise PageError(400, "Choose a decision", "Press Approve or Reject; nothing was changed.")
        reason = (data.get("reason") or "").strip()[:2000] or None
        if choice == "reject" and reason is None:
            return self._redirect(
                request, f"/web/approvals/{approval_id}", ("warn", "Say why you reject it; nothing was changed.")
            )
        try:
            res = self.rt.decide(approval_id, approver_id=viewer.user_id, approve=choice == "approve", reason=reason)
        except RecordNotFound:
            raise PageError(404, "Not found", f"There is no approval request {approval_id!r}.") from None
        except Exception:
            # The vote is stored before the follow-up runs; the sweep / recover finishes it.
            log.exception("resuming %s after a web decision failed", approval_id)
            return self._redirect(
                request,
                f"/web/approvals/{approval_id}",
                ("error", "Your decision was recorded, but running the request hit an error; it will be retried."),
            )
        if not res.accepted:
            if not self._may_view(rec, viewer):
                raise PageError(403, "Not yours to decide", "You are not an approver of this request. Nothing changed.")
            return self._redirect(request, f"/web/approvals/{approval_id}", ("warn", f"Nothing changed: {res.message}"))
        status = self.rt.approvals.get(approval_id).status
        verb = "Approved" if choice == "approve" else "Rejected"
        return self._redirect(request, f"/web/approvals/{approval_id}", ("ok", f"{verb}. The request is now {status}."))

    async def delegate(self, request: Request, approval_id: str) -> Response:
        viewer = self.viewer(request)
        data = await self._form(request, viewer)
        rec = self._get(approval_id)
        if viewer.user_id not in rec.approvers_now():
            raise PageError(403, "Not yours to delegate", "Only an approver of the current stage may delegate it.")
        target = data.get("to", "")
        allowed = {p.id: p for p in self._delegates(rec, viewer)}
        if rec.stage is None or rec.stage.mode != "any" or target not in allowed:
            return self._redirect(
                request,
                f"/web/approvals/{approval_id}",
                ("warn", "Nothing changed: pick a colleague with the same approver roles who is not on this route."),
            )
        done = self.rt.approvals.escalate(approval_id, add_approvers=[target], seen_version=rec.version)
        if done is None:
            return self._redirect(
                request, f"/web/approvals/{approval_id}", ("warn", "Nothing changed: the request changed meanwhile.")
            )
        self.rt.audit.append(
            "approval_delegated",
            actor=viewer.user_id,
            thread_id=rec.thread_id,
            approval_id=approval_id,
            data={"to": target, "stage": rec.stage.name},
        )
        from agent.views import approval_view

        self.rt.deps.notifier.approval_requested(approval_view(done, self.rt.directory))
        return self._redirect(
            request, "/web/approvals", ("ok", f"Delegated to {allowed[target].label}; either of you may decide.")
        )

    async def retry(self, request: Request, approval_id: str) -> Response:
        """Retry a failed execution (the requester, an approver of it or an IT admin)."""
        viewer = self.viewer(request)
        await self._form(request, viewer)
        self._get(approval_id)
        try:
            res = self.rt.retry(approval_id, operator_id=viewer.user_id)
        except PermissionError as exc:
            raise PageError(403, "Not yours to retry", f"{exc}. Nothing changed.") from None
        level = "ok" if res.accepted else "warn"
        return self._redirect(request, f"/web/approvals/{approval_id}", (level, f"Retry: {res.message}"))

    # -- batches (the writes one turn proposed together) ---------------------------------------

    def _batch_cards(self, batch_id: str, viewer: Viewer) -> list[Any]:
        from connectors.appdb.batches import BatchStore

        if len(batch_id) > 64:
            raise PageError(404, "Not found", "There is no such batch.")
        recs = [self.rt.approvals.get(i) for i in BatchStore(self.rt.approvals.engine).items(batch_id)]
        # Each item by the single-request rule (requester, its route, auditors): approvers
        # never see the items of a batch that are routed to other people.
        mine = [r for r in recs if self._may_view(r, viewer)]
        if not mine:
            raise PageError(404, "Not found", f"There is no batch {batch_id!r} for you.")
        return [(self._card(r, viewer), self._delegates(r, viewer)) for r in mine]

    def batch(self, request: Request, batch_id: str) -> Response:
        viewer = self.viewer(request)
        cards = self._batch_cards(batch_id, viewer)
        hidden = len(self._batch_ids(batch_id)) - len(cards)
        open_mine = sum(1 for c, _ in cards if c.can_decide)
        return self._render(
            request,
            "batch.html",
            {"batch_id": batch_id, "cards": cards, "hidden": hidden, "open_mine": open_mine},
            viewer=viewer,
        )

    def _batch_ids(self, batch_id: str) -> list[str]:
        from connectors.appdb.batches import BatchStore

        return BatchStore(self.rt.approvals.engine).items(batch_id)

    async def decide_batch(self, request: Request, batch_id: str) -> Response:
        """Approve all (or reject all, with a reason): one decision per item waiting for you."""
        from agent.batches import decide_batch

        viewer = self.viewer(request)
        data = await self._form(request, viewer)
        self._batch_cards(batch_id, viewer)
        choice = data.get("decision")
        if choice not in ("approve", "reject"):
            raise PageError(400, "Choose a decision", "Press Approve all or Reject all; nothing was changed.")
        reason = (data.get("reason") or "").strip()[:2000] or None
        if choice == "reject" and reason is None:
            return self._redirect(
                request, f"/web/batches/{batch_id}", ("warn", "Say why you reject them; nothing was changed.")
            )
        res = decide_batch(self.rt, batch_id, approver_id=viewer.user_id, approve=choice == "approve", reason=reason)
        level = "ok" if res.accepted else "warn"
        return self._redirect(request, f"/web/batches/{batch_id}", (level, res.summary()))

    # -- my requests ---------------------------------------------------------------------------

    def _delivery(self, rec: Any) -> dict[str, Any] | None:
        """The outbox row of an approved message, if this request sent one."""
        from sqlalchemy import MetaData, Table, inspect, select

        engine = self.rt.approvals.engine
        if "outbox" not in inspect(engine).get_table_names():
            return None
        t = Table("outbox", MetaData(), autoload_with=engine)
        with engine.connect() as c:
            row = c.execute(select(t).where(t.c.idempotency_key == rec.idempotency_key)).mappings().first()
        if row is None:
            return None
        state = row.get("status") or ("delivered" if row.get("delivered_at") else "queued")
        return {
            "state": state,
            "recipient": row.get("recipient"),
            "at": row.get("delivered_at") or row.get("sent_at"),
            "error": row.get("last_error") or row.get("error"),
            "attempts": row.get("attempts"),
        }

    def requests(self, request: Request) -> Response:
        viewer = self.viewer(request)
        recs = self.rt.approvals.list(requester_id=viewer.user_id, limit=100)
        rows = [(self._card(r, viewer), self._delivery(r)) for r in recs]
        answers = self.rt.audit.search(actor=viewer.user_id, events=("answer",), limit=10)
        votes = {
            e.thread_id: e.data.get("vote")
            for e in reversed(self.rt.audit.search(actor=viewer.user_id, events=("feedback",), limit=200))
        }
        return self._render(request, "requests.html", {"rows": rows, "answers": answers, "votes": votes}, viewer=viewer)

    async def feedback(self, request: Request) -> Response:
        viewer = self.viewer(request)
        data = await self._form(request, viewer)
        from agent.interfaces.http.web.review import thread_owner

        thread_id = data.get("thread_id", "")[:300]
        vote = data.get("vote")
        if vote not in ("up", "down"):
            raise PageError(400, "Choose 👍 or 👎", "Nothing was recorded.")
        if not thread_id or thread_owner(self.rt.audit, thread_id) != viewer.user_id:
            raise PageError(403, "Not your conversation", "You can rate only your own answers.")
        comment = (data.get("comment") or "").strip()[:1000]
        self.rt.audit.append(
            "feedback",
            actor=viewer.user_id,
            thread_id=thread_id,
            data={"vote": vote, "comment": comment, "source": "web"},
        )
        msg = "Thanks — a reviewer will look at it." if vote == "down" else "Thanks for the feedback."
        return self._redirect(request, "/web/requests", ("ok", msg))

    # -- audit ---------------------------------------------------------------------------------

    def _audit_filters(self, request: Request) -> dict[str, Any]:
        q = request.query_params
        text = q.get("q", "").strip()
        if len(text) > 200:
            raise PageError(400, "Search too long", "Search for at most 200 characters.")
        since = _parse_day(q.get("since", ""), "from")
        until = _parse_day(q.get("until", ""), "to")
        if until is not None:
            until = until + timedelta(days=1)  # inclusive of the "to" day
        if since and until and until <= since:
            raise PageError(400, "Check the dates", "The 'to' date must not be before the 'from' date.")
        if since and until and (until - since).days > MAX_AUDIT_DAYS:
            raise PageError(400, "Range too large", f"Search at most {MAX_AUDIT_DAYS} days at a time.")
        before = q.get("before", "")
        if before and not before.isdigit():
            raise PageError(400, "Bad page", "'before' must be an entry number.")
        return {
            "text": text or None,
            "actor": q.get("actor", "").strip()[:100] or None,
            "events": [q["event"].strip()[:60]] if q.get("event", "").strip() else None,
            "since": since,
            "until": until,
            "before_seq": int(before) if before else None,
        }

    def _auditor(self, request: Request) -> Viewer:
        viewer = self.viewer(request)
        if not viewer.may_audit:
            self._denied(viewer, request)
            raise PageError(
                403,
                "Auditors only",
                "The audit log is visible to these roles: " + ", ".join(self.cfg.audit_roles) + ".",
            )
        return viewer

    def audit(self, request: Request) -> Response:
        viewer = self._auditor(request)
        f = self._audit_filters(request)
        entries = self.rt.audit.search(**f, limit=AUDIT_PAGE + 1)
        more = len(entries) > AUDIT_PAGE
        entries = entries[:AUDIT_PAGE]
        report = self.rt.audit.verify()
        q = request.query_params
        params = {k: q.get(k, "") for k in ("q", "actor", "event", "since", "until")}
        return self._render(
            request,
            "audit.html",
            {
                "entries": entries,
                "report": report,
                "params": params,
                "next_before": entries[-1].seq if more and entries else None,
                "query": urlencode({k: v for k, v in params.items() if v}),
            },
            viewer=viewer,
        )

    def audit_export(self, request: Request) -> Response:
        viewer = self._auditor(request)
        f = self._audit_filters(request)
        fmt = request.query_params.get("format", "csv")
        if fmt not in ("csv", "jsonl"):
            raise PageError(400, "Unknown format", "Export as format=csv or format=jsonl.")
        entries = self.rt.audit.search(**f, limit=EXPORT_LIMIT)
        self.rt.audit.append("audit_exported", actor=viewer.user_id, data={"format": fmt, "entries": len(entries)})
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")

        def rows() -> Iterator[str]:
            if fmt == "jsonl":
                for e in entries:
                    yield json.dumps(e.to_json(), ensure_ascii=False, default=str) + "\n"
                return
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(["seq", "at", "actor", "event", "thread_id", "approval_id", "data", "hash"])
            for e in entries:
                w.writerow(
                    [
                        e.seq,
                        e.at.isoformat(),
                        e.actor,
                        e.event,
                        e.thread_id or "",
                        e.approval_id or "",
                        json.dumps(e.data, ensure_ascii=False, default=str),
                        e.hash,
                    ]
                )
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
            yield buf.getvalue()

        media = "text/csv" if fmt == "csv" else "application/x-ndjson"
        return StreamingResponse(
            rows(),
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="chamberlain-audit-{stamp}.{fmt}"'},
        )

    # -- review queue --------------------------------------------------------------------------

    def _reviewer(self, request: Request) -> Viewer:
        viewer = self.viewer(request)
        if not viewer.may_review:
            raise PageError(
                403, "Reviewers only", "The review queue is for these roles: " + ", ".join(self.cfg.review_roles) + "."
            )
        return viewer

    def review(self, request: Request) -> Response:
        from agent.interfaces.http.web.review import review_queue

        viewer = self._reviewer(request)
        return self._render(request, "review.html", {"items": review_queue(self.rt.audit)}, viewer=viewer)

    def _transcript(self, viewer: Viewer, thread_id: str) -> list[dict[str, str]]:
        from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

        from policies.pii import redact_for

        out = []
        for m in self.rt.history(thread_id):
            if isinstance(m, HumanMessage):
                role, text = "user", m.content if isinstance(m.content, str) else str(m.content)
            elif isinstance(m, AIMessage):
                calls = ", ".join(f"{c['name']}({json.dumps(c['args'], ensure_ascii=False)})" for c in m.tool_calls)
                role, text = "assistant", (m.text + (f"\n→ {calls}" if calls else "")).strip()
            elif isinstance(m, ToolMessage):
                role, text = f"tool · {m.name}", str(m.content)
            else:
                continue
            out.append({"role": role, "text": redact_for(viewer.principal.clearance, text[:4000])})
        return out

    def review_item(self, request: Request) -> Response:
        from agent.interfaces.http.web.review import review_queue, thread_owner

        viewer = self._reviewer(request)
        thread_id = request.query_params.get("thread", "")[:300]
        owner = thread_owner(self.rt.audit, thread_id) if thread_id else None
        if owner is None:
            raise PageError(404, "Not found", "There is no such conversation in the audit log.")
        item = next((i for i in review_queue(self.rt.audit) if i.thread_id == thread_id), None)
        return self._render(
            request,
            "review_item.html",
            {
                "thread_id": thread_id,
                "owner": self.rt.directory.find(owner),
                "item": item,
                "transcript": self._transcript(viewer, thread_id),
            },
            viewer=viewer,
        )

    async def review_label(self, request: Request) -> Response:
        from agent.interfaces.http.web.review import append_case, build_case, thread_owner

        viewer = self._reviewer(request)
        data = await self._form(request, viewer)
        thread_id = data.get("thread", "")[:300]
        label = data.get("label", "")
        if label not in ("correct", "wrong-answer", "should-refuse", "should-allow"):
            raise PageError(400, "Choose a label", "Pick one of the labels; nothing was saved.")
        owner = thread_owner(self.rt.audit, thread_id) if thread_id else None
        if owner is None:
            raise PageError(404, "Not found", "There is no such conversation in the audit log.")

        def phrases(key: str) -> list[str]:
            return [p.strip() for p in (data.get(key) or "").split("\n") if p.strip()][:10]

        trail = list(self.rt.audit.entries(thread_id=thread_id))
        try:
            case = build_case(
                thread_id=thread_id,
                user_id=owner,
                messages=self.rt.history(thread_id),
                trail=trail,
                label=label,
                note=(data.get("note") or "").strip()[:400],
                answer_contains=phrases("answer_contains"),
                answer_lacks=phrases("answer_lacks"),
            )
        except ValueError as exc:
            raise PageError(400, "Cannot make an eval case", str(exc).splitlines()[0][:300]) from None
        added = append_case(self.cfg.review_cases_path, case)
        self.rt.audit.append(
            "review_labeled",
            actor=viewer.user_id,
            thread_id=thread_id,
            data={"label": label, "case": case["name"], "added": added},
        )
        msg = (
            f"Saved eval case {case['name']} to {self.cfg.review_cases_path}."
            if added
            else (f"Eval case {case['name']} was already saved; the label is recorded.")
        )
        return self._redirect(request, "/web/review", ("ok", msg))

    # -- operations ----------------------------------------------------------------------------

    def readyz(self) -> Response:
        from sqlalchemy import text

        try:
            with self.rt.approvals.engine.connect() as c:
                c.execute(text("SELECT 1"))
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
