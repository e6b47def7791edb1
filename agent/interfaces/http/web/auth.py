"""Who is asking, for the web page: a signed session cookie (after signing in with a personal
API key), or the API's own identity headers set by a trusted reverse proxy.

- Session cookie ``chamberlain_session``: ``<payload>.<hmac>``; the payload holds the user,
  the key id it came from and an expiry. HttpOnly, SameSite=Lax, Secure over HTTPS. Replicas
  sharing the secret accept each other's sessions; a revoked key ends its sessions.
- Proxy: ``Authorization: Bearer <CHAMBERLAIN_HTTP_TOKEN>`` plus ``X-Chamberlain-User`` — the
  same pair the JSON API trusts (the token proves the proxy set the user header).
- CSRF: a random ``chamberlain_csrf`` cookie; every form carries HMAC(secret, cookie, user).
  A cross-site page can neither read the cookie nor compute the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

SESSION_COOKIE = "chamberlain_session"
CSRF_COOKIE = "chamberlain_csrf"
FLASH_COOKIE = "chamberlain_flash"


@dataclass(frozen=True)
class Session:
    user_id: str
    key_id: str | None
    expires_at: float


class SessionError(Exception):
    """The cookie is missing, forged or expired (``expired`` says which)."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError(
                "the web page needs a secret: set CHAMBERLAIN_WEB_SESSION_SECRET or CHAMBERLAIN_HTTP_TOKEN"
            )
        # A key of its own, so a session signature is never a valid API token or vice versa.
        self._key = hashlib.sha256(b"chamberlain-web\x00" + secret.encode()).digest()

    def sign(self, purpose: str, payload: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}\x00{payload}".encode(), hashlib.sha256).digest())

    def valid(self, purpose: str, payload: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(purpose, payload), signature)

    # -- sessions ------------------------------------------------------------------------------

    def session_cookie(self, user_id: str, key_id: str | None, hours: float) -> str:
        body = _b64(json.dumps({"u": user_id, "k": key_id, "exp": int(time.time() + hours * 3600)}).encode())
        return f"{body}.{self.sign('session', body)}"

    def read_session(self, cookie: str | None) -> Session:
        if not cookie:
            raise SessionError("not signed in")
        body, _, sig = cookie.partition(".")
        if not sig or not self.valid("session", body, sig):
            raise SessionError("session cookie is not valid")
        try:
            raw = json.loads(_unb64(body))
            session = Session(str(raw["u"]), raw.get("k"), float(raw["exp"]))
        except (ValueError, KeyError, TypeError):
            raise SessionError("session cookie is not valid") from None
        if session.expires_at < time.time():
            raise SessionError("your session expired", expired=True)
        return session

    # -- CSRF ----------------------------------------------------------------------------------

    @staticmethod
    def new_csrf_cookie() -> str:
        return secrets.token_urlsafe(24)

    def csrf_token(self, csrf_cookie: str, user_id: str) -> str:
        return self.sign("csrf", f"{csrf_cookie}\x00{user_id}")

    def csrf_ok(self, csrf_cookie: str | None, user_id: str, token: str | None) -> bool:
        if not csrf_cookie or not token:
            return False
        return self.valid("csrf", f"{csrf_cookie}\x00{user_id}", token)

    # -- flash messages (one-shot, signed so nobody can put words in our mouth) ------------------

    def flash_cookie(self, kind: str, text: str) -> str:
        body = _b64(json.dumps({"kind": kind, "text": text[:500]}).encode())
        return f"{body}.{self.sign('flash', body)}"

    def read_flash(self, cookie: str | None) -> dict[str, str] | None:
        if not cookie:
            return None
        body, _, sig = cookie.partition(".")
        if not sig or not self.valid("flash", body, sig):
            return None
        try:
            raw = json.loads(_unb64(body))
            return {"kind": str(raw["kind"]), "text": str(raw["text"])}
        except (ValueError, KeyError, TypeError):
            return None


__all__ = ["CSRF_COOKIE", "FLASH_COOKIE", "SESSION_COOKIE", "Session", "SessionError", "Signer"]
