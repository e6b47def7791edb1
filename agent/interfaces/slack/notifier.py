"""Approval cards in Slack: the :class:`agent.notify.Notifier` the runtime calls.

A request's current-stage approvers each get the card in a DM (or, with ``approvals_channel``,
one shared card is posted there, mentioning them). Every card's (channel, ts) is stored in the
app database so that a decision — taken by whichever worker handled the click — updates every
copy. Posting is idempotent per approver, so repeated or overlapping notifications (next stage,
reminders, escalation) never post a second card to the same person.

Behind the outbox (``strict=True``, see :func:`slack_notification_channel`), an unavailable
Slack (429, 5xx, network) is raised instead of logged, so the delivery worker retries the
notification later; the per-approver idempotency makes the retry safe.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any

from agent.events import ApprovalView
from agent.interfaces.slack.blocks import approval_card, batch_card, current_stage, decided_card, escape, is_open
from agent.interfaces.slack.users import SlackUsers
from agent.service.records import CardRef, CardStore
from connectors.errors import ConnectorAuthError, ConnectorError, ConnectorUnavailable
from connectors.slack.client import SlackApi

log = logging.getLogger(__name__)

_DECIDED_KEPT = 4096  # decided views remembered for _catch_up (a race of seconds, not history)


class SlackNotifier:
    def __init__(
        self,
        api: SlackApi,
        users: SlackUsers,
        cards: CardStore,
        *,
        approvals_channel: str | None = None,
        strict: bool = False,
    ) -> None:
        from agent.service.stores import Service

        self.api = api
        self.users = users
        self.cards = cards
        # The approvals on the cards' app database, through the service API like every surface.
        self.approvals = Service.on_engine(cards.engine, users.directory).approvals
        self.approvals_channel = approvals_channel
        self.strict = strict
        # The latest decided view per request, as this process saw it: a card posted while a
        # decision lands (its ref not yet stored when the decision read the refs) catches up
        # from here, even when the request's state is not in this app database.
        self._decided: OrderedDict[str, ApprovalView] = OrderedDict()
        self._decided_lock = threading.Lock()

    def label(self, principal_id: str) -> str:
        p = self.users.directory.find(principal_id)
        return p.label if p else principal_id

    # -- Notifier ----------------------------------------------------------------------------

    def approval_requested(self, view: ApprovalView) -> None:
        view, batch_id = self._now(view)
        if batch_id is not None:
            self._sync_batch(batch_id)
            return
        posted = self._post_missing_cards(view)
        if posted:
            self._catch_up(view, posted)

    def approval_decided(self, view: ApprovalView) -> None:
        with self._decided_lock:  # before the refs are read: see _catch_up
            self._decided[view.id] = view
            self._decided.move_to_end(view.id)
            while len(self._decided) > _DECIDED_KEPT:
                self._decided.popitem(last=False)
        view, batch_id = self._now(view)
        if batch_id is not None:
            self._sync_batch(batch_id)
        text, blocks = decided_card(view, self.label) if not is_open(view) else self._open_card(view)
        for ref in self.cards.cards(view.id):
            self._safely(
                f"update card {ref.channel}/{ref.ts}",
                partial(self.api.update_message, ref.channel, ref.ts, text=text, blocks=blocks),
            )
        if is_open(view) and batch_id is None:  # a stage was decided; the next stage's approvers need cards
            self._post_missing_cards(view)

    def approval_reminder(self, view: ApprovalView, *, escalated: bool) -> None:
        view, batch_id = self._now(view)
        if not is_open(view):
            return
        if batch_id is not None:
            fresh = self._sync_batch(batch_id)
            refs = [r for r in self.cards.cards(batch_id) if r.approver_id is None or r.approver_id in _waiting(view)]
        else:
            fresh = self._post_missing_cards(view)
            refs = self.cards.cards(view.id)
        word = "Escalated to you" if escalated else "Reminder"
        for ref in refs:
            if (ref.channel, ref.ts) in fresh:
                continue
            note = f":bell: {word}: *{escape(view.title)}* from {escape(view.requester_label)} is still waiting."
            self._safely(
                f"remind on {ref.channel}/{ref.ts}",
                partial(self.api.post_message, ref.channel, text=note, thread_ts=ref.ts),
            )

    # -- internals ---------------------------------------------------------------------------

    def _now(self, view: ApprovalView) -> tuple[ApprovalView, str | None]:
        """The request as it is now (with its end state and delivery), and its batch if any.

        Every card is rendered from the stored state, never from the event that caused the
        update: late, repeated or reordered notifications all converge on the same card."""
        from agent.errors import RecordNotFound

        try:
            # The same view as `approvals show`, GET /v1/approvals/{id} and the web page.
            now = self.approvals.view(view.id)
        except RecordNotFound:
            return view, None
        return now, now.batch_id

    def _sync_batch(self, batch_id: str) -> set[tuple[str, str]]:
        """Bring every copy of a batch card up to date and post it to each approver of an open
        item who has none yet (one copy per person, whatever the number of items)."""
        from agent.errors import RecordNotFound

        try:
            views = self.approvals.batch(batch_id)
        except RecordNotFound:
            return set()
        existing = self.cards.cards(batch_id)
        for ref in existing:
            text, blocks = batch_card(batch_id, views, self.label, viewer=ref.approver_id)
            self._safely(
                f"update batch card {ref.channel}/{ref.ts}",
                partial(self.api.update_message, ref.channel, ref.ts, text=text, blocks=blocks),
            )
        waiting = list(dict.fromkeys(a for v in views for a in _waiting(v) if a != v.requester_id))
        posted: set[tuple[str, str]] = set()
        if self.approvals_channel:
            if waiting and not any(ref.approver_id is None for ref in existing):
                text, blocks = batch_card(batch_id, views, self.label, viewer=None)
                who = ", ".join(self.users.mention(a) for a in waiting)
                result = self._safely(
                    f"post batch card to {self.approvals_channel}",
                    lambda: self.api.post_message(
                        self.approvals_channel or "", text=f"{text} · for {who}", blocks=blocks
                    ),
                )
                if result is not None:
                    self.cards.add(CardRef(batch_id, result[0], result[1], None))
                    posted.add(result)
            return posted
        have = {ref.approver_id for ref in existing}
        for approver in waiting:
            if approver in have:
                continue
            slack_id = self.users.slack_id_for(approver)
            if slack_id is None:
                log.warning("approver %s of batch %s has no Slack account; not notified", approver, batch_id)
                continue
            text, blocks = batch_card(batch_id, views, self.label, viewer=approver)
            result = self._safely(f"DM batch card to {approver}", partial(self._dm, slack_id, text, blocks))
            if result is not None:
                self.cards.add(CardRef(batch_id, result[0], result[1], approver))
                posted.add(result)
        return posted

    def _catch_up(self, posted_for: ApprovalView, posted: set[tuple[str, str]]) -> None:
        """Cards just posted for ``posted_for``: if a decision landed meanwhile, show it on them.

        A decision reads the stored card refs to update them; a card's ref is stored only after
        Slack answered its post. A click in between (a fast approver, a busy database) would
        leave that card with buttons for a request already decided. A decision is in the app
        database before it is notified, and the notification records it in ``_decided`` before
        reading the refs; a post checks both after storing its ref, so one of the two always
        sees the other."""
        with self._decided_lock:
            seen = self._decided.get(posted_for.id)
        now, _ = self._now(seen or posted_for)
        if is_open(now) and current_stage(now) == current_stage(posted_for):
            return  # nothing was decided since the cards were rendered
        text, blocks = decided_card(now, self.label) if not is_open(now) else self._open_card(now)
        for channel, ts in sorted(posted):
            self._safely(
                f"update card {channel}/{ts}",
                partial(self.api.update_message, channel, ts, text=text, blocks=blocks),
            )

    def _open_card(self, view: ApprovalView) -> tuple[str, list[dict[str, Any]]]:
        # Still open after a stage decision: keep the buttons, show where the request stands.
        text, blocks = decided_card(view, self.label)
        _, card = approval_card(view, self.label)
        return text, [*blocks, card[-1]]

    def _post_missing_cards(self, view: ApprovalView) -> set[tuple[str, str]]:
        """Post the card to every current-stage approver who has none yet; returns new cards."""
        stage = current_stage(view)  # None unless the request still waits for someone
        if stage is None:
            return set()
        existing = self.cards.cards(view.id)
        text, blocks = approval_card(view, self.label)
        posted: set[tuple[str, str]] = set()
        if self.approvals_channel:
            if any(ref.approver_id is None for ref in existing):
                return posted
            who = ", ".join(self.users.mention(a) for a in stage.approvers)
            ping = f"{text} · for {who}"
            result = self._safely(
                f"post card to {self.approvals_channel}",
                lambda: self.api.post_message(self.approvals_channel or "", text=ping, blocks=blocks),
            )
            if result is not None:
                self.cards.add(CardRef(view.id, result[0], result[1], None))
                posted.add(result)
            return posted
        have = {ref.approver_id for ref in existing}
        for approver in stage.approvers:
            if approver in have or approver == view.requester_id:
                continue
            slack_id = self.users.slack_id_for(approver)
            if slack_id is None:
                log.warning("approver %s of %s has no Slack account; not notified", approver, view.id)
                continue
            result = self._safely(f"DM card to {approver}", partial(self._dm, slack_id, text, blocks))
            if result is not None:
                self.cards.add(CardRef(view.id, result[0], result[1], approver))
                posted.add(result)
        return posted

    def _dm(self, slack_id: str, text: str, blocks: list[dict[str, Any]]) -> tuple[str, str]:
        return self.api.post_message(self.api.open_dm(slack_id), text=text, blocks=blocks)

    def _safely(self, what: str, call: Callable[[], Any]) -> tuple[str, str] | None:
        """Run one Slack call; a failure for one approver must not stop the others."""
        try:
            result = call()
        except ConnectorAuthError:
            raise
        except ConnectorUnavailable:
            if self.strict:
                raise
            log.warning("Slack notifier could not %s: Slack is unavailable", what)
            return None
        except ConnectorError as exc:
            log.warning("Slack notifier could not %s: %s", what, exc)
            return None
        return result if isinstance(result, tuple) else None


def _waiting(view: ApprovalView) -> tuple[str, ...]:
    stage = current_stage(view)
    return tuple(stage.approvers) if stage is not None else ()


def slack_notification_channel(settings: Any, engine: Any) -> Any:
    """The outbox's ``notify`` channel: approval cards in Slack, from the worker."""
    from agent.notify import NotificationChannel
    from agent.service.stores import Service
    from connectors.slack.client import SlackWebApi, build_web_client
    from policies.directory import Directory

    token = settings.slack_bot_token.get_secret_value()
    api = SlackWebApi(build_web_client(token, base_url=settings.slack_api_url, rate_limit_retries=0))
    directory = Directory.load(settings.directory_path)
    svc = Service.on_engine(engine, directory)
    notifier = SlackNotifier(
        api,
        SlackUsers(api, directory),
        svc.slack_cards,
        approvals_channel=settings.slack_approvals_channel,
        strict=True,
    )
    return NotificationChannel(notifier, svc.approvals.store, directory)


__all__ = ["SlackNotifier", "slack_notification_channel"]
