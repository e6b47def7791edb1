"""Slack approval actions: the card buttons and the reject-reason modal, each one service call.

Every read and decision goes through the service API (``self.approvals``: an
:class:`agent.service.approvals.ApprovalService`), the same functions the CLI, the HTTP API and
the web page call, so Slack gets the same id resolution, approver pre-check and messages."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt import Ack

from agent.errors import PermissionDenied
from agent.events import ApprovalView, DecisionResult
from agent.interfaces.slack.blocks import (
    REASON_BLOCK,
    REASON_INPUT,
    current_stage,
    escape,
    is_open,
    reject_modal,
)
from agent.interfaces.slack.bot import BotPlumbing, _container_channel, _log_event
from agent.interfaces.slack.threads import parse_slack_thread_id
from connectors.errors import AmbiguousId, RecordNotFound
from policies.directory import Principal
from policies.errors import UnknownPrincipal

log = logging.getLogger(__name__)


class ActionHandlers(BotPlumbing):
    """Approval cards' buttons: approve, approve all (a batch), retry, reject and its reason modal."""

    def on_approve(self, body: Mapping[str, Any]) -> None:
        user = str(body["user"]["id"])
        approval_id = str(body["actions"][0]["value"])
        channel = _container_channel(body)
        key = f"decide:{approval_id}:{user}"
        if not self.dedupe.first_time(key):
            self._refuse(channel, user, "Your decision on this request is already recorded.")
            return
        self.submit(
            "approve",
            lambda: self.decide(user, approval_id, approve=True, reason=None, channel=channel, key=key),
            tell=(channel, None) if channel else None,
        )

    def on_approve_all(self, body: Mapping[str, Any]) -> None:
        """Approve all, on a batch card: one ordinary decision per item waiting for this person.

        Each item keeps its own dedupe key (``decide:<item>:<user>``), shared with the per-item
        buttons, so a double click, a second "approve all" or a per-item click racing this one
        decides nothing twice (and the store refuses a second vote regardless). Items this
        person may not decide are refused for that item only, in one message."""
        user = str(body["user"]["id"])
        batch_id = str(body["actions"][0]["value"])
        channel = _container_channel(body)
        self.submit(
            "approve all", lambda: self._approve_all(user, batch_id, channel), tell=(channel, None) if channel else None
        )

    def _approve_all(self, user: str, batch_id: str, channel: str | None) -> None:
        principal = self.users.principal_for(user)
        try:
            views = self.approvals.batch(batch_id)
        except (LookupError, RecordNotFound):
            views = []
        if principal is None or not views:
            why = "I could not match your Slack account to the company directory." if principal is None else None
            self._refuse(channel, user, why or "This batch no longer exists.")
            return
        refused: list[str] = []
        decided = 0
        for view in views:
            if not is_open(view):
                continue
            why = self._precheck(principal, view)
            if why is not None:
                refused.append(f"{view.title}: {why}")
                continue
            key = f"decide:{view.id}:{user}"
            if not self.dedupe.first_time(key):
                refused.append(f"{view.title}: your decision is already recorded.")
                continue
            res = self.decide(user, view.id, approve=True, reason=None, channel=channel, key=key)
            if res is not None and res.accepted:
                decided += 1
        if refused:
            lines = "\n".join(f"• {escape(r)}" for r in refused)
            self._refuse(channel, user, f"Approved {decided} item(s). Not approved by you:\n{lines}")

    def on_retry(self, body: Mapping[str, Any]) -> None:
        """The Retry button on a failed card (the requester, an approver or an IT admin)."""
        user = str(body["user"]["id"])
        approval_id = str(body["actions"][0]["value"])
        channel = _container_channel(body)

        def run() -> None:
            principal = self.users.principal_for(user)
            if principal is None:
                self._refuse(channel, user, "I could not match your Slack account to the company directory.")
                return
            try:
                res = self.approvals.retry(approval_id, operator_id=principal.id)
            except (PermissionError, PermissionDenied, UnknownPrincipal) as exc:
                self._refuse(channel, user, f":no_entry: {escape(str(exc))}")
                return
            except (LookupError, RecordNotFound):
                self._refuse(channel, user, "This request no longer exists.")
                return
            self._refuse(channel, user, f"Retry: {escape(res.message)}")

        self.submit("retry", run, tell=(channel, None) if channel else None)

    def on_reject_click(self, body: Mapping[str, Any]) -> None:
        """Open the reason modal now: a trigger_id is only valid for 3 seconds."""
        user = str(body["user"]["id"])
        approval_id = str(body["actions"][0]["value"])
        channel = _container_channel(body)
        principal = self.users.principal_for(user)
        view = self._approval(approval_id)
        refusal = self._precheck(principal, view)
        if refusal is not None or view is None:
            self._refuse(channel, user, refusal or "This request no longer exists.")
            return
        self.api.open_view(str(body["trigger_id"]), reject_modal(view, channel=channel))

    def on_reject_submit(self, ack: Ack, body: Mapping[str, Any], view: Mapping[str, Any]) -> None:
        values = view.get("state", {}).get("values", {})
        reason = str((values.get(REASON_BLOCK, {}).get(REASON_INPUT, {}) or {}).get("value") or "").strip()
        if len(reason) < 3:
            ack(response_action="errors", errors={REASON_BLOCK: "Please say why (a few words)."})
            return
        ack()
        meta = json.loads(view.get("private_metadata") or "{}")
        approval_id = str(meta.get("approval_id") or "")
        channel = meta.get("channel")
        user = str(body["user"]["id"])
        key = f"decide:{approval_id}:{user}"
        if not approval_id:
            return
        if not self.dedupe.first_time(key):
            self._refuse(channel, user, "Your decision on this request is already recorded.")
            return
        self.submit(
            "reject",
            lambda: self.decide(user, approval_id, approve=False, reason=reason, channel=channel, key=key),
            tell=(channel, None) if channel else None,
        )

    def _approval(self, approval_id: str) -> ApprovalView | None:
        try:
            return self.approvals.view(approval_id)
        except (LookupError, RecordNotFound, AmbiguousId):
            return None

    def _precheck(self, principal: Principal | None, view: ApprovalView | None) -> str | None:
        """Why this person cannot decide this request now (the runtime re-checks on decide)."""
        if principal is None:
            return "I could not match your Slack account to the company directory."
        if view is None:
            return "This request no longer exists."
        if principal.id == view.requester_id:
            return "You cannot approve or reject your own request."
        if not is_open(view):
            return f"This request is already {view.status.replace('_', ' ')}."
        stage = current_stage(view)
        if stage is not None and stage.approvers and principal.id not in stage.approvers:
            names = ", ".join(self.label(a) for a in stage.approvers)
            return f"You are not an approver for this request right now (it is waiting for {names})."
        return None

    def decide(
        self,
        user: str,
        approval_id: str,
        *,
        approve: bool,
        reason: str | None,
        channel: str | None,
        key: str,
    ) -> DecisionResult | None:
        try:
            principal = self.users.principal_for(user)
            view = self._approval(approval_id)
            if principal is None or view is None:
                self.dedupe.forget(key)
                self._refuse(channel, user, self._precheck(principal, view) or "I cannot record that.")
                return None
            target = parse_slack_thread_id(view.thread_id)
            reporter = self._reporter(*target) if target else None
            if reporter is not None:
                mark, verb = (":white_check_mark:", "approved") if approve else (":x:", "rejected")
                why = f": “{escape(reason)}”" if reason else ""
                reporter.preamble = f"{mark} {escape(principal.label)} {verb} *{escape(view.title)}*{why}"
            result = self.approvals.decide(
                view.id,
                approver_id=principal.id,
                approve=approve,
                reason=reason,
                on_event=reporter if reporter is not None else _log_event,
                approvers_only=True,  # people off the route are refused before anything is recorded
            )
        except (PermissionDenied, UnknownPrincipal) as exc:
            self.dedupe.forget(key)
            self._refuse(channel, user, f":no_entry: {escape(str(exc))}")
            return None
        except Exception:
            self.dedupe.forget(key)  # nothing was decided: let the person click again
            raise
        if not result.accepted:
            self.dedupe.forget(key)
            self._refuse(channel, user, f":no_entry: {result.message}")
            return result
        if reporter is not None and target is not None:
            if result.final and result.resumed_thread:
                # The resumed turn belongs in the requester's own thread (the reporter posts there).
                with self._lock_for(view.thread_id):
                    reporter.finish(self.runtime.thread_outcome(view.thread_id))
            elif result.final:
                reporter.start()
                reporter.progress.close(":white_check_mark: Decided.")
            else:
                self._say(target[0], f"{reporter.preamble} — {escape(result.message)}", thread_ts=target[1])
        return result
