"""The review queue pages: flagged answers, one transcript, and labelling it as an eval case."""

from __future__ import annotations

import json

from fastapi import Request
from fastapi.responses import Response

from agent.interfaces.http.web.base import PageError, Viewer, WebBase


class ReviewPages(WebBase):
    """``/web/review`` and ``/web/review/item``."""

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
        return self._render(request, "review.html", {"items": review_queue(self.svc.audit)}, viewer=viewer)

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
        owner = thread_owner(self.svc.audit, thread_id) if thread_id else None
        if owner is None:
            raise PageError(404, "Not found", "There is no such conversation in the audit log.")
        item = next((i for i in review_queue(self.svc.audit) if i.thread_id == thread_id), None)
        return self._render(
            request,
            "review_item.html",
            {
                "thread_id": thread_id,
                "owner": self.svc.directory.find(owner),
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
        owner = thread_owner(self.svc.audit, thread_id) if thread_id else None
        if owner is None:
            raise PageError(404, "Not found", "There is no such conversation in the audit log.")

        def phrases(key: str) -> list[str]:
            return [p.strip() for p in (data.get(key) or "").split("\n") if p.strip()][:10]

        trail = list(self.svc.audit.entries(thread_id=thread_id))
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
        self.svc.audit.append(
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
