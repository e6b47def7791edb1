"""The Slack bot: a Bolt app whose listeners ack at once and hand the work to a pool.

Conversations: an ``app_mention`` or a DM starts one; a reply in its thread continues the same
conversation (``thread_id = slack:{channel}:{thread_ts}``) — in channels with or without
mentioning the bot, once the bot was mentioned in that thread. In a channel the bot answers in
the thread only if every member may see what the asker may (:mod:`agent.interfaces.slack.audience`);
otherwise it says so in the thread and answers the asker in a DM.
Approvals: the card buttons call the service API (``ApprovalService.decide``, agent/service/, the
same call as the CLI, the HTTP API and the web page); Reject asks for a reason in a modal first.
A batch card's "Approve all" is one such decision per item waiting for the clicker (each with
the per-item dedupe key); Retry on a failed card calls ``ApprovalService.retry``.
``/chamberlain ask|approvals|help``.

Every listener calls ``ack()`` before anything slow. With ``process_before_response=False``
(HTTP in production) the work then runs on a worker pool after the HTTP response has gone; with
``process_before_response=True`` (tests, FaaS) it runs inline before the response. Slack retries
(same ``event_id``) and double clicks are dropped by :class:`connectors.appdb.DedupeStore`, and the
runtime's compare-and-set is the final word on decisions.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from agent.interfaces.slack.ack import EventAcker
from agent.interfaces.slack.actions import ActionHandlers
from agent.interfaces.slack.blocks import (
    APPROVE_ACTION,
    APPROVE_ALL_ACTION,
    REJECT_ACTION,
    REJECT_CALLBACK,
    RETRY_ACTION,
)
from agent.interfaces.slack.bot import ConversationRuntime, InlineExecutor, SlackApprovals
from agent.interfaces.slack.events import EventHandlers
from agent.interfaces.slack.progress import DEFAULT_INTERVAL
from agent.interfaces.slack.users import SlackUsers
from agent.service.records import DedupeStore as Dedupe
from connectors.slack.client import SlackWebApi

log = logging.getLogger(__name__)


class SlackBot(EventHandlers, ActionHandlers):
    """The listeners' logic, separate from Bolt's wiring so it reads top to bottom."""


def create_slack_bot(
    runtime: ConversationRuntime,
    *,
    client: WebClient,
    signing_secret: str,
    dedupe: Dedupe,
    approvals_channel: str | None = None,
    approvals: SlackApprovals | None = None,
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
        approvals=approvals,
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
