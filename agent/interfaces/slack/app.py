"""The Slack bot: a Bolt app whose listeners ack at once and hand the work to a pool.

Conversations: an ``app_mention`` or a DM starts one; a reply in its thread continues the same
conversation (``thread_id = slack:{channel}:{thread_ts}``) — in channels with or without
mentioning the bot, once the bot was mentioned in that thread. In a channel the bot answers in
the thread only if every member may see what the asker may (:mod:`agent.interfaces.slack.audience`);
otherwise it says so in the thread and answers the asker in a DM.
Approvals: the card buttons call ``runtime.decide``; Reject asks for a reason in a modal first.
A batch card's "Approve all" is one such decision per item waiting for the clicker (each with
the per-item dedupe key); Retry on a failed card calls ``runtime.retry``.
``/chamberlain ask|approvals|help``.

Every listener calls ``ack()`` before anything slow. With ``process_before_response=False``
(HTTP in production) the work then runs on a worker pool after the HTTP response has gone; with
``process_before_response=True`` (tests, FaaS) it runs inline before the response. Slack retries
(same ``event_id``) and double clicks are dropped by :class:`connectors.appdb.DedupeStore`, and the
runtime's compare-and-set is the final word on decisions.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from agent.events import ApprovalView, DecisionResult, Event, Outcome
from agent.interfaces.slack.ack import EventAcker
from agent.interfaces.slack.audience import AudienceCheck
from agent.interfaces.slack.blocks import (
    APPROVE_ACTION,
    APPROVE_ALL_ACTION,
    HELP_TEXT,
    REASON_BLOCK,
    REASON_INPUT,
    REJECT_ACTION,
    REJECT_CALLBACK,
    RETRY_ACTION,
    current_stage,
    escape,
    help_blocks,
    is_open,
    pending_list,
    reject_modal,
)
from agent.interfaces.slack.conversation import ThreadReporter
from agent.interfaces.slack.progress import DEFAULT_INTERVAL
from agent.interfaces.slack.threads import parse_slack_thread_id, slack_thread_id
from agent.interfaces.slack.users import SlackUsers
from connectors.appdb import DedupeStore as Dedupe
from connectors.errors import ConnectorAuthError, ConnectorError, RecordNotFound
from connectors.slack.client import SlackApi, SlackWebApi
from policies.directory import Directory, Principal

log = logging.getLogger(__name__)

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_IGNORED_SUBTYPES = {
    "bot_message",
    "message_changed",
    "message_deleted",
    "channel_join",
    "channel_leave",
    "thread_broadcast",
}


class ConversationRuntime(Protocol):
    """What the bot needs from :class:`agent.runtime.chamberlain.Chamberlain`."""

    directory: Directory

    def ask(
        self, user_id: str, text: str, *, thread_id: str, on_event: Callable[[Event], None] | None = None
    ) -> Outcome: ...

    def decide(
        self,
        approval_id: str,
        *,
        approver_id: str,
        approve: bool,
        reason: str | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> DecisionResult: ...

    def pending_for(self, approver_id: str) -> list[ApprovalView]: ...

    def get_approval(self, approval_id: str) -> ApprovalView: ...

    def retry(self, approval_id: str, *, operator_id: str) -> DecisionResult: ...

    def thread_outcome(self, thread_id: str) -> Outcome: ...


class InlineExecutor(Executor):
    """Runs submitted work at once, in the caller's thread (``process_before_response=True``)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # the Future carries it, like a pool would
            future.set_exception(exc)
        return future


UNKNOWN_USER_TEXT = (
    "Sorry <@{user}>, I can only help people in the company directory, and I could not match your "
    "Slack account (by its email address) to anyone there. If you think that is wrong, ask IT to "
    "check that your Slack email matches your directory entry."
)


class SlackBot:
    """The listeners' logic, separate from Bolt's wiring so it reads top to bottom."""

    def __init__(
        self,
        runtime: ConversationRuntime,
        api: SlackApi,
        users: SlackUsers,
        dedupe: Dedupe,
        *,
        executor: Executor,
        approvals_channel: str | None = None,
        progress_interval: float = DEFAULT_INTERVAL,
        files_root: Path | None = None,
    ) -> None:
        self.runtime = runtime
        self.api = api
        self.users = users
        self.dedupe = dedupe
        self.executor = executor
        self.approvals_channel = approvals_channel
        self.progress_interval = progress_interval
        self.files_root = files_root
        self._thread_locks = [threading.Lock() for _ in range(1024)]
        self._inflight: set[Future[Any]] = set()
        self._inflight_lock = threading.Lock()
        self.bot_user_id: str | None = None
        self.audience = AudienceCheck(api.channel_members, users.principal_for, bot_user_id=lambda: self.bot_user_id)
        # (channel, thread_ts, user) → the DM thread a redirected channel conversation went to.
        self._dm_threads: dict[tuple[str, str, str], tuple[str, str]] = {}
        self.acker: EventAcker | None = None  # the HTTP fast ack path, when serving over HTTP

    # -- plumbing ----------------------------------------------------------------------------

    def label(self, principal_id: str) -> str:
        p = self.runtime.directory.find(principal_id)
        return p.label if p else principal_id

    def submit(self, what: str, fn: Callable[[], object], *, tell: tuple[str, str | None] | None = None) -> None:
        """Run ``fn`` after the ack. A crash is logged with a reference and, when ``tell`` gives
        (channel, thread_ts), reported in Slack so the user is not left waiting."""

        def run() -> None:
            try:
                fn()
            except Exception:
                ref = uuid.uuid4().hex[:8]
                log.exception("Slack %s failed (ref %s)", what, ref)
                if tell is not None:
                    self._say(
                        tell[0],
                        f":warning: Something went wrong on my side (reference `{ref}`). "
                        "Nothing was changed; you can try again.",
                        thread_ts=tell[1],
                    )

        future = self.executor.submit(run)
        with self._inflight_lock:
            if not future.done():
                self._inflight.add(future)
                future.add_done_callback(self._done)

    def _done(self, future: Future[Any]) -> None:
        with self._inflight_lock:
            self._inflight.discard(future)

    def drain(self, timeout: float = 60.0) -> bool:
        """Wait until all submitted work has finished (tests, benchmark, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._inflight_lock:
                if not self._inflight and (self.acker is None or not self.acker.pending()):
                    return True
            time.sleep(0.01)
        return False

    def _lock_for(self, thread_id: str) -> threading.Lock:
        # Turns of one conversation run one at a time (in this process); the runtime's
        # checkpointer is the cross-process guard.
        return self._thread_locks[hash(thread_id) % len(self._thread_locks)]

    def _say(self, channel: str, text: str, *, thread_ts: str | None = None) -> None:
        try:
            self.api.post_message(channel, text=text, thread_ts=thread_ts)
        except ConnectorAuthError:
            raise
        except ConnectorError as exc:
            log.warning("could not post to %s: %s", channel, exc)

    def _refuse(self, channel: str | None, user: str, text: str) -> None:
        """An ephemeral refusal where the user clicked; a DM when there is no channel."""
        try:
            if channel:
                self.api.post_ephemeral(channel, user, text=text)
            else:
                self.api.post_message(self.api.open_dm(user), text=text)
        except ConnectorAuthError:
            raise
        except ConnectorError as exc:
            log.warning("could not tell %s: %s", user, exc)

    def _reporter(self, channel: str, thread_ts: str) -> ThreadReporter:
        return ThreadReporter(
            self.api,
            channel,
            thread_ts,
            label=self.label,
            progress_interval=self.progress_interval,
            files_root=self.files_root,
        )

    # -- conversations -----------------------------------------------------------------------

    def on_message_event(
        self, body: Mapping[str, Any], event: Mapping[str, Any], *, bot_user_id: str | None = None
    ) -> None:
        """app_mention, a message in a DM with the bot, or a reply in a channel thread the bot was
        mentioned in (already acked)."""
        if bot_user_id:
            self.bot_user_id = bot_user_id
        if event.get("bot_id") or event.get("subtype") in _IGNORED_SUBTYPES or not event.get("user"):
            return
        channel, ts = str(event.get("channel", "")), str(event.get("ts", ""))
        if event.get("type") == "message" and event.get("channel_type") != "im":
            # message.channels / message.groups: only follow-ups in a thread we are part of.
            parent = str(event.get("thread_ts") or "")
            if not parent or not self._in_thread(channel, parent):
                return
        elif event.get("type") == "app_mention":
            self.dedupe.first_time(f"thread:{channel}:{event.get('thread_ts') or ts}")
        event_id = str(body.get("event_id") or "")
        # The same message may arrive again (Slack retry, same event_id) or twice (app_mention
        # plus message.im): both keys must be new.
        if event_id and not self.dedupe.first_time(f"event:{event_id}"):
            return
        if not self.dedupe.first_time(f"msg:{channel}:{ts}"):
            return
        thread_ts = str(event.get("thread_ts") or ts)
        user = str(event["user"])
        text = str(event.get("text") or "")
        if bot_user_id:
            text = text.replace(f"<@{bot_user_id}>", "")
        text = text.strip()
        self.submit(
            "conversation",
            lambda: self.converse(user, channel, thread_ts, text, message_ts=ts),
            tell=(channel, thread_ts),
        )

    def converse(self, user: str, channel: str, thread_ts: str, text: str, *, message_ts: str | None = None) -> None:
        principal = self.users.principal_for(user)
        if principal is None:
            self._say(channel, UNKNOWN_USER_TEXT.format(user=user), thread_ts=thread_ts)
            return
        text = self._named_mentions(text)
        if not text:
            self._say(channel, HELP_TEXT, thread_ts=thread_ts)
            return
        if message_ts:
            try:
                self.api.add_reaction(channel, message_ts, "eyes")
            except ConnectorError as exc:
                log.debug("could not add a reaction: %s", exc)
        self.answer_for_audience(principal, user, channel, thread_ts, text)

    def _in_thread(self, channel: str, thread_ts: str) -> bool:
        key = f"thread:{channel}:{thread_ts}"
        if self.dedupe.first_time(key):  # not a thread the bot was mentioned in
            self.dedupe.forget(key)
            return False
        return True

    def answer_for_audience(self, principal: Principal, user: str, channel: str, thread_ts: str, text: str) -> None:
        """Answer in the thread if everyone in the channel may read it; else in a DM, saying so."""
        audience = self.audience(channel, principal)
        if audience.safe:
            self.run_turn(principal, channel, thread_ts, text)
            return
        log.info("answering %s in a DM instead of %s: %s", principal.id, channel, audience.reason)
        key = (channel, thread_ts, user)
        where = self._dm_threads.get(key)
        if where is None:
            self._say(channel, f":lock: {audience.reason}, so I'll answer you in a DM.", thread_ts=thread_ts)
            dm = self.api.open_dm(user)
            where = self.api.post_message(dm, text=f"You asked in <#{channel}>: {escape(text)}")
            self._dm_threads[key] = where
        else:
            self._say(channel, ":lock: Answered in our DM.", thread_ts=thread_ts)
        self.run_turn(principal, where[0], where[1], text)

    def _named_mentions(self, text: str) -> str:
        """``<@U0DANA>`` → ``Dana Whitfield (Finance)``: the model knows people by name."""

        def name(match: re.Match[str]) -> str:
            person = self.users.principal_for(match.group(1))
            return person.label if person else "someone"

        return _MENTION.sub(name, text).strip()

    def run_turn(self, principal: Principal, channel: str, thread_ts: str, text: str) -> Outcome | None:
        thread_id = slack_thread_id(channel, thread_ts)
        reporter = self._reporter(channel, thread_ts)
        with self._lock_for(thread_id):
            reporter.start()
            try:
                outcome = self.runtime.ask(principal.id, text, thread_id=thread_id, on_event=reporter)
            except Exception:
                ref = uuid.uuid4().hex[:8]
                log.exception("turn of %s failed (ref %s)", thread_id, ref)
                reporter.crash(ref)
                return None
            reporter.finish(outcome)
        return outcome

    # -- slash command -----------------------------------------------------------------------

    def on_command(self, ack: Ack, command: Mapping[str, Any], respond: Respond) -> None:
        text = str(command.get("text") or "").strip()
        verb, _, rest = text.partition(" ")
        verb = verb.lower()
        user = str(command.get("user_id"))
        channel = str(command.get("channel_id") or "")
        if verb in ("", "help"):
            ack(text=HELP_TEXT, blocks=help_blocks())
            return
        if verb == "approvals":
            ack()
            self.submit("approvals list", lambda: self.list_approvals(user, respond))
            return
        question = rest.strip() if verb == "ask" else text
        if not question:
            ack(text="Ask me something: `/chamberlain ask what were sales in Q3?`")
            return
        ack(text=":speech_balloon: On it — I'll answer in a thread.")
        self.submit("command ask", lambda: self.ask_from_command(user, channel, question))

    def list_approvals(self, user: str, respond: Respond) -> None:
        principal = self.users.principal_for(user)
        if principal is None:
            respond(text=UNKNOWN_USER_TEXT.format(user=user), response_type="ephemeral")
            return
        views = self.runtime.pending_for(principal.id)
        blocks = pending_list(views, self.label)
        respond(text=f"{len(views)} request(s) waiting for you", blocks=blocks, response_type="ephemeral")

    def ask_from_command(self, user: str, channel: str, question: str) -> None:
        principal = self.users.principal_for(user)
        if principal is None:
            self._refuse(channel, user, UNKNOWN_USER_TEXT.format(user=user))
            return
        root = f"<@{user}> asked: {escape(question)}"
        try:
            channel, thread_ts = self.api.post_message(channel, text=root)
        except RecordNotFound:  # a channel the bot is not in: continue in a DM instead
            channel, thread_ts = self.api.post_message(self.api.open_dm(user), text=root)
        self.dedupe.first_time(f"thread:{channel}:{thread_ts}")
        self.answer_for_audience(principal, user, channel, thread_ts, question)

    # -- approvals ---------------------------------------------------------------------------

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
        from agent.batches import batch_views

        principal = self.users.principal_for(user)
        views = batch_views(self.runtime.approvals.engine, self.runtime.directory, batch_id)  # type: ignore[attr-defined]
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
                res = self.runtime.retry(approval_id, operator_id=principal.id)
            except PermissionError as exc:
                self._refuse(channel, user, f":no_entry: {exc}")
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
            return self.runtime.get_approval(approval_id)
        except (LookupError, RecordNotFound):
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
            result = self.runtime.decide(
                approval_id,
                approver_id=principal.id,
                approve=approve,
                reason=reason,
                on_event=reporter if reporter is not None else _log_event,
            )
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


def _container_channel(body: Mapping[str, Any]) -> str | None:
    channel = body.get("channel") or {}
    cid = channel.get("id") if isinstance(channel, Mapping) else None
    return str(cid) if cid else None


def _log_event(event: Event) -> None:
    log.info("event for a non-Slack conversation: %s", event.kind)


def create_slack_bot(
    runtime: ConversationRuntime,
    *,
    client: WebClient,
    signing_secret: str,
    dedupe: Dedupe,
    approvals_channel: str | None = None,
    users: SlackUsers | None = None,
    process_before_response: bool = False,
    executor: Executor | None = None,
    work_threads: int = 16,
    progress_interval: float = DEFAULT_INTERVAL,
    files_root: Path | None = None,
    token_verification_enabled: bool = False,
    logger: logging.Logger | None = None,
) -> tuple[App, SlackBot]:
    """The Bolt app and the bot behind it (tests and the benchmark use ``bot.drain()``)."""
    if not signing_secret:
        raise ValueError("no Slack signing secret: set SLACK_SIGNING_SECRET (app settings → Basic Information)")
    api = SlackWebApi(client)
    if executor is None:
        executor = (
            InlineExecutor()
            if process_before_response
            else ThreadPoolExecutor(max_workers=work_threads, thread_name_prefix="slack-work")
        )
    bot = SlackBot(
        runtime,
        api,
        users or SlackUsers(api, runtime.directory),
        dedupe,
        executor=executor,
        approvals_channel=approvals_channel,
        progress_interval=progress_interval,
        files_root=files_root,
    )
    app = App(
        client=client,
        signing_secret=signing_secret,
        process_before_response=process_before_response,
        token_verification_enabled=token_verification_enabled,
        logger=logger,
    )

    def app_mention(ack: Ack, body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
        ack()
        bot.on_message_event(body, event, bot_user_id=context.bot_user_id)

    def direct_message(ack: Ack, body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
        ack()
        bot.on_message_event(body, event, bot_user_id=context.bot_user_id)

    def on_error(error: Exception, body: dict[str, Any], context: BoltContext) -> None:
        log.error("Slack listener error: %s", error, exc_info=error)

    targets = [app]
    if not process_before_response:
        # Events API deliveries over HTTP are acked by agent/interfaces/slack/ack.py (signature, dedupe,
        # enqueue, 200) and dispatched afterwards to a twin app that runs the listeners inline:
        # the ack has gone already, and drain() then sees the work from dispatch to hand-off.
        events_app = App(
            client=client,
            signing_secret=signing_secret,
            process_before_response=True,
            token_verification_enabled=token_verification_enabled,
            logger=logger,
        )
        targets.append(events_app)
        bot.acker = EventAcker(events_app, signing_secret)
        app.chamberlain_acker = bot.acker  # type: ignore[attr-defined]
    for target in targets:
        target.event("app_mention")(app_mention)
        target.event("message")(direct_message)
        target.error(on_error)

    @app.command("/chamberlain")
    def slash_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        bot.on_command(ack, command, respond)

    @app.action(APPROVE_ACTION)
    def approve(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        bot.on_approve(body)

    @app.action(APPROVE_ALL_ACTION)
    def approve_all(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        bot.on_approve_all(body)

    @app.action(RETRY_ACTION)
    def retry(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        bot.on_retry(body)

    @app.action(REJECT_ACTION)
    def reject(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        bot.on_reject_click(body)

    @app.view(REJECT_CALLBACK)
    def reject_reason(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        bot.on_reject_submit(ack, body, view)

    return app, bot


def create_slack_app(
    runtime: ConversationRuntime,
    *,
    client: WebClient,
    signing_secret: str,
    dedupe: Dedupe,
    approvals_channel: str | None = None,
    **options: Any,
) -> App:
    """The Bolt app (see :func:`create_slack_bot` for the options)."""
    app, _ = create_slack_bot(
        runtime,
        client=client,
        signing_secret=signing_secret,
        dedupe=dedupe,
        approvals_channel=approvals_channel,
        **options,
    )
    return app


__all__ = [
    "ConversationRuntime",
    "InlineExecutor",
    "SlackBot",
    "create_slack_app",
    "create_slack_bot",
]
