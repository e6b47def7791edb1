"""Approval ids typed by people: the full id, or any unique prefix of it (like git).

``apr_3f2a9c`` and ``3f2a9c`` both name ``apr_3f2a9c0d...`` when no other request starts that
way; an ambiguous prefix lists the candidates, an unknown one says how to list them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from connectors.appdb._schema import approvals
from connectors.errors import AmbiguousId, RecordNotFound

PREFIX = "apr_"
MIN_PREFIX = 4  # shorter prefixes match too much to be a deliberate choice


def resolve_approval_id(engine: Any, text: str) -> str:
    """The one approval id ``text`` names; :class:`RecordNotFound` or :class:`AmbiguousId`."""
    typed = text.strip()
    if not typed:
        raise RecordNotFound("no approval id given; list requests with `chamberlain approvals list`")
    prefix = typed if typed.startswith(PREFIX) else PREFIX + typed
    # LIKE wildcards in what was typed are literal characters, not patterns.
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    with engine.connect() as c:
        exact = c.execute(select(approvals.c.id).where(approvals.c.id.in_({typed, prefix}))).scalars().first()
        if exact is not None:
            return str(exact)
        if len(prefix) - len(PREFIX) < MIN_PREFIX:
            raise RecordNotFound(
                f"approval {typed!r} not found (give at least {MIN_PREFIX} characters after {PREFIX!r}); "
                "list requests with `chamberlain approvals list`"
            )
        ids = list(
            c.execute(
                select(approvals.c.id)
                .where(approvals.c.id.like(escaped + "%", escape="\\"))
                .order_by(approvals.c.id)
                .limit(6)
            ).scalars()
        )
    if not ids:
        raise RecordNotFound(f"approval {typed!r} not found; list requests with `chamberlain approvals list`")
    if len(ids) > 1:
        shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        raise AmbiguousId(f"approval id prefix {typed!r} matches several requests ({shown}); type more characters")
    return str(ids[0])


__all__ = ["MIN_PREFIX", "resolve_approval_id"]
