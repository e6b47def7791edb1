"""Batch decisions over HTTP. Mounted by :func:`agent.interfaces.http.api.create_http_app`::

    GET  /v1/batches/{id}            the writes one turn proposed, each with its diff and end state
    POST /v1/batches/{id}/decision   {"approve": true, "reason": null, "items": null | [ids]}

Each item stays its own approval (``POST /v1/approvals/{id}/decision`` decides one). Items the
caller is not on the route of are listed by id, title and status only; a decision on the batch
is refused for those items only (``items[].accepted`` false, with the reason).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from agent.batches import involved
from agent.errors import PermissionDenied, RecordNotFound
from agent.service.stores import Service


class BatchDecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approve: bool = Field(description="true approves, false rejects every item waiting for the caller.")
    reason: str | None = Field(None, max_length=2000, description="Why (shown to the requester).")
    items: list[str] | None = Field(
        None, max_length=50, description="Only these approval ids of the batch (default: all of them)."
    )


def batches_router(svc: Service, caller: Callable[..., str]) -> APIRouter:
    router = APIRouter(prefix="/v1/batches", tags=["approvals"])

    def views(batch_id: str, user: str) -> list[Any]:
        try:
            return svc.approvals.batch(batch_id, viewer=user)
        except (RecordNotFound, PermissionDenied):
            # The same answer for "no such batch" and "not yours": ids are not to be probed.
            raise HTTPException(404, f"no batch {batch_id!r} for you") from None

    @router.get("/{batch_id}")
    def show(batch_id: str, user: str = Depends(caller)) -> dict[str, Any]:
        items = views(batch_id, user)
        return {
            "batch_id": batch_id,
            "open": sum(1 for v in items if v.status == "pending"),
            "items": [
                _plain(asdict(v))
                if involved(v, user)
                else {"id": v.id, "title": v.title, "status": v.status, "details": "routed to other approvers"}
                for v in items
            ],
        }

    @router.post("/{batch_id}/decision")
    def decide(batch_id: str, body: BatchDecisionBody, user: str = Depends(caller)) -> JSONResponse:
        views(batch_id, user)
        try:
            res = svc.approvals.decide_batch(
                batch_id, approver_id=user, approve=body.approve, reason=body.reason, only=body.items
            )
        except RecordNotFound as exc:
            raise HTTPException(404, str(exc)) from None
        return JSONResponse(_plain(res.to_json()), status_code=200 if res.accepted else 409)

    return router


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


__all__ = ["BatchDecisionBody", "batches_router"]
