"""Scheduled reports over HTTP: the owner lists, reads (with run history), pauses, resumes,
deletes and runs their reports now. Mounted by :func:`agent.interfaces.http.api.create_http_app`; nobody
sees or changes another person's report (404, the same as a report that does not exist)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from agent.errors import RecordNotFound
from agent.service.records import Report, ReportStore


def _json(rep: Report) -> dict[str, Any]:
    out = asdict(rep)
    out["created_at"] = rep.created_at.isoformat()
    return out


def reports_router(
    store: ReportStore, caller: Callable[..., str], scheduler: Callable[[], Any] | None = None
) -> APIRouter:
    """``scheduler``: builds a report scheduler for run-now (None: run-now is unavailable)."""
    router = APIRouter(prefix="/v1/reports", tags=["reports"])

    def owned(report_id: str, user: str) -> Report:
        try:
            rep = store.find(report_id)
        except RecordNotFound:
            raise HTTPException(404, f"no report {report_id!r}") from None
        if rep.owner_id != user or rep.status == "deleted":
            raise HTTPException(404, f"no report {report_id!r}")
        return rep

    @router.get("")
    def list_reports(user: str = Depends(caller)) -> list[dict[str, Any]]:
        return [_json(r) for r in store.list(owner_id=user, status=["active", "paused"])]

    @router.get("/{report_id}")
    def show(report_id: str, user: str = Depends(caller)) -> dict[str, Any]:
        rep = owned(report_id, user)
        runs = [
            {
                **asdict(r),
                "started_at": r.started_at.isoformat(),
                "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            }
            for r in store.runs(rep.id)
        ]
        return {**_json(rep), "runs": runs}

    def _set(report_id: str, user: str, status: str, reason: str | None) -> dict[str, Any]:
        rep = owned(report_id, user)
        return _json(store.set_status(rep.id, status, reason))

    @router.post("/{report_id}/pause")
    def pause(report_id: str, user: str = Depends(caller)) -> dict[str, Any]:
        return _set(report_id, user, "paused", f"paused by {user}")

    @router.post("/{report_id}/resume")
    def resume(report_id: str, user: str = Depends(caller)) -> dict[str, Any]:
        return _set(report_id, user, "active", None)

    @router.delete("/{report_id}")
    def delete(report_id: str, user: str = Depends(caller)) -> dict[str, Any]:
        return _set(report_id, user, "deleted", f"deleted by {user}")

    @router.post("/{report_id}/run-now")
    def run_now(report_id: str, user: str = Depends(caller)) -> dict[str, Any]:
        rep = owned(report_id, user)
        if scheduler is None:
            raise HTTPException(503, "reports cannot run here: this server has no warehouse or outbox configured")
        return asdict(scheduler().run_now(rep.id))

    return router


__all__ = ["reports_router"]
