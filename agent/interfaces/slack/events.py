"""Slack conversations: messages, mentions and thread replies become turns; the slash command."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any

from slack_bolt import Ack, Respond

from agent.events import Outcome
from agent.interfaces.slack.blocks import (
    HELP_TEXT,
    escape,
    help_blocks,
    pending_list,
)
from agent.interfaces.slack.bot import UNKNOWN_USER_TEXT, BotPlumbing
from agent.interfaces.slack.threads import slack_thread_id
from connectors.errors import ConnectorError, RecordNotFound
from policies.directory import Principal

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


class EventHandlers(BotPlumbing):
    """Conversations: app_mention, DMs, replies in threads the bot is part of, and ``/chamberlain``."""

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
        views = self.approvals.pending_for(principal.id)
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
