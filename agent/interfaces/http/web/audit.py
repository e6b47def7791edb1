"""The audit page for auditors: search the log, verify its chain, export it as CSV or JSON Lines."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from agent.interfaces.http.web.base import PageError, Viewer, WebBase

MAX_AUDIT_DAYS = 366
AUDIT_PAGE = 100
EXPORT_LIMIT = 50_000


def _parse_day(value: str, name: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        raise PageError(400, "Check the dates", f"{name}: {value[:40]!r} is not a date; use YYYY-MM-DD.") from None


class AuditPages(WebBase):
    """``/web/audit`` and ``/web/audit/export``."""

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
        entries = self.svc.audit.search(**f, limit=AUDIT_PAGE + 1)
        more = len(entries) > AUDIT_PAGE
        entries = entries[:AUDIT_PAGE]
        report = self.svc.audit.verify()
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
        entries = self.svc.audit.search(**f, limit=EXPORT_LIMIT)
        self.svc.audit.append("audit_exported", actor=viewer.user_id, data={"format": fmt, "entries": len(entries)})
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
