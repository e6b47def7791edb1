"""Personal API keys: how a person signs in to the web page without an SSO proxy.

Only a SHA-256 of each key is stored; the key itself is shown once, when it is created. A key
names one directory user; revoking it takes effect on the next request (sessions re-check it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, insert, select, update

from connectors.appdb._engine import create_tables
from connectors.appdb.approvals import now_utc

PREFIX = "chk_"

_metadata = MetaData()
api_keys = Table(
    "api_keys",
    _metadata,
    Column("key_id", String(16), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("user_id", String(100), nullable=False),
    Column("label", String(200), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    user_id: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_tables(engine, _metadata)

    def create(self, user_id: str, label: str = "") -> tuple[str, ApiKey]:
        """A new key for ``user_id``: returns ``(secret, record)``; the secret is not stored."""
        key_id = secrets.token_hex(4)
        secret = f"{PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
        now = now_utc()
        with self.engine.begin() as c:
            c.execute(
                insert(api_keys).values(
                    key_id=key_id, key_hash=_hash(secret), user_id=user_id, label=label, created_at=now
                )
            )
        return secret, ApiKey(key_id, user_id, label, now, None)

    def verify(self, secret: str) -> str | None:
        """The user a live key belongs to, else None (constant-time on the hash)."""
        secret = secret.strip()
        if not secret.startswith(PREFIX) or len(secret) > 200:
            return None
        h = _hash(secret)
        with self.engine.connect() as c:
            row = c.execute(select(api_keys).where(api_keys.c.key_hash == h)).mappings().first()
        if row is None or row["revoked_at"] is not None or not hmac.compare_digest(row["key_hash"], h):
            return None
        return str(row["user_id"])

    def is_live(self, key_id: str) -> bool:
        with self.engine.connect() as c:
            row = c.execute(select(api_keys.c.revoked_at).where(api_keys.c.key_id == key_id)).first()
        return row is not None and row[0] is None

    def key_id_of(self, secret: str) -> str | None:
        with self.engine.connect() as c:
            row = c.execute(select(api_keys.c.key_id).where(api_keys.c.key_hash == _hash(secret.strip()))).first()
        return str(row[0]) if row else None

    def revoke(self, key_id: str) -> bool:
        with self.engine.begin() as c:
            res = c.execute(
                update(api_keys)
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now_utc())
            )
        return res.rowcount == 1

    def list(self, user_id: str | None = None) -> list[ApiKey]:
        q = select(api_keys).order_by(api_keys.c.created_at)
        if user_id is not None:
            q = q.where(api_keys.c.user_id == user_id)
        with self.engine.connect() as c:
            return [
                ApiKey(r["key_id"], r["user_id"], r["label"], r["created_at"], r["revoked_at"])
                for r in c.execute(q).mappings()
            ]


__all__ = ["PREFIX", "ApiKey", "ApiKeyStore"]
