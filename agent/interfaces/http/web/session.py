"""Signing in and out of the web page (an API key becomes a signed session cookie)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from agent.interfaces.http.web.auth import SESSION_COOKIE
from agent.interfaces.http.web.base import WebBase


class SessionPages(WebBase):
    """``/web``, ``/web/signin`` and ``/web/signout``."""

    def home(self, request: Request) -> Response:
        return RedirectResponse("/web/approvals", status_code=303)

    def signin_form(self, request: Request) -> Response:
        return self._render(request, "signin.html", {"error": None}, viewer=None)

    async def signin(self, request: Request) -> Response:
        data = await self._form(request, None)
        key = data.get("api_key", "").strip()
        user = self.keys.verify(key) if key else None
        if user is None or self.svc.directory.find(user) is None:
            self.svc.audit.append("web_signin_failed", actor="anonymous", data={"key_prefix": key[:12]})
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
        self.svc.audit.append("web_signin", actor=user, data={"key_id": self.keys.key_id_of(key)})
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
