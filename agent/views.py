"""Turn stored approval records into what surfaces show (:class:`agent.events.ApprovalView`)."""

from __future__ import annotations

from agent.events import ApprovalView, RouteStage
from connectors.appdb import ApprovalRecord
from policies.directory import Directory


def approval_view(rec: ApprovalRecord, directory: Directory) -> ApprovalView:
    requester = directory.find(rec.requester_id)
    stages = []
    for i, s in enumerate(rec.stages):
        if rec.status == "rejected" and i == rec.current_stage:
            st = "rejected"
        elif i < rec.current_stage:
            st = "approved"
        elif i == rec.current_stage and rec.status == "pending":
            st = "pending"
        else:
            st = "waiting"
        stages.append(RouteStage(s.name, s.mode, tuple(s.approvers), st))  # type: ignore[arg-type]
    return ApprovalView(
        id=rec.id,
        thread_id=rec.thread_id or "",
        requester_id=rec.requester_id,
        requester_label=requester.label if requester else rec.requester_id,
        kind=rec.kind,
        title=rec.title,
        summary=rec.summary,
        reason=rec.reason,
        current=dict(rec.current),
        proposed=dict(rec.proposed),
        status=rec.status,
        stages=tuple(stages),
        created_at=rec.created_at,
        expires_at=rec.expires_at,
        decided_by=rec.decided_by,
        decision_reason=rec.decision_reason,
        untrusted_sources=tuple(rec.untrusted_sources),
        tainted_arguments=tuple(rec.tainted_arguments),
        injection_score=rec.injection_score,
        flags=tuple(rec.flags),
    )


__all__ = ["approval_view"]
