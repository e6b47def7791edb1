"""My approvals: the list, one request (decide, delegate, retry) and a batch (decide all)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from agent.errors import RecordNotFound
from agent.interfaces.http.web.base import PageError, Viewer, WebBase

log = logging.getLogger(__name__)


class ApprovalPages(WebBase):
    """``/web/approvals`` and ``/web/batches``."""

    def approvals(self, request: Request) -> Response:
        viewer = self.viewer(request)
        recs = self.svc.approvals.records(waiting_for=viewer.user_id)
        cards = [(self._card(r, viewer), self._delegates(r, viewer)) for r in recs]
        decided = [
            r
            for r in self.svc.approvals.records(limit=300)
            if r.status != "pending" and any(v.approver_id == viewer.user_id for v in r.votes)
        ][:10]
        return self._render(
            request,
            "approvals.html",
            {"cards": cards, "decided": [self._card(r, viewer) for r in decided]},
            viewer=viewer,
        )

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
            res = self.svc.approvals.decide(
                approval_id, approver_id=viewer.user_id, approve=choice == "approve", reason=reason
            )
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
        status = self.svc.approvals.record(approval_id).status
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
        done = self.svc.approvals.delegate(approval_id, by=viewer.user_id, to=target)
        if done is None:
            return self._redirect(
                request, f"/web/approvals/{approval_id}", ("warn", "Nothing changed: the request changed meanwhile.")
            )
        return self._redirect(
            request, "/web/approvals", ("ok", f"Delegated to {allowed[target].label}; either of you may decide.")
        )

    async def retry(self, request: Request, approval_id: str) -> Response:
        """Retry a failed execution (the requester, an approver of it or an IT admin)."""
        viewer = self.viewer(request)
        await self._form(request, viewer)
        self._get(approval_id)
        try:
            res = self.svc.approvals.retry(approval_id, operator_id=viewer.user_id)
        except PermissionError as exc:
            raise PageError(403, "Not yours to retry", f"{exc}. Nothing changed.") from None
        level = "ok" if res.accepted else "warn"
        return self._redirect(request, f"/web/approvals/{approval_id}", (level, f"Retry: {res.message}"))

    # -- batches (the writes one turn proposed together) ---------------------------------------

    def _batch_cards(self, batch_id: str, viewer: Viewer) -> list[Any]:
        if len(batch_id) > 64:
            raise PageError(404, "Not found", "There is no such batch.")
        recs = self.svc.approvals.batch_records(batch_id)
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
        return self.svc.approvals.batch_ids(batch_id)

    async def decide_batch(self, request: Request, batch_id: str) -> Response:
        """Approve all (or reject all, with a reason): one decision per item waiting for you."""
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
        res = self.svc.approvals.decide_batch(
            batch_id, approver_id=viewer.user_id, approve=choice == "approve", reason=reason
        )
        level = "ok" if res.accepted else "warn"
        return self._redirect(request, f"/web/batches/{batch_id}", (level, res.summary()))
