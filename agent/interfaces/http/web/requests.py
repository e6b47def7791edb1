"""My requests: what the viewer asked for, their answers' ratings, and feedback on an answer."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from agent.interfaces.http.web.base import PageError, WebBase


class RequestPages(WebBase):
    """``/web/requests`` and ``/web/feedback``."""

    def requests(self, request: Request) -> Response:
        viewer = self.viewer(request)
        recs = self.svc.approvals.records(requester_id=viewer.user_id, limit=100)
        rows = [(self._card(r, viewer), self._delivery(r)) for r in recs]
        answers = self.svc.audit.search(actor=viewer.user_id, events=("answer",), limit=10)
        votes = {
            e.thread_id: e.data.get("vote")
            for e in reversed(self.svc.audit.search(actor=viewer.user_id, events=("feedback",), limit=200))
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
        if not thread_id or thread_owner(self.svc.audit, thread_id) != viewer.user_id:
            raise PageError(403, "Not your conversation", "You can rate only your own answers.")
        comment = (data.get("comment") or "").strip()[:1000]
        self.svc.audit.append(
            "feedback",
            actor=viewer.user_id,
            thread_id=thread_id,
            data={"vote": vote, "comment": comment, "source": "web"},
        )
        msg = "Thanks — a reviewer will look at it." if vote == "down" else "Thanks for the feedback."
        return self._redirect(request, "/web/requests", ("ok", msg))
