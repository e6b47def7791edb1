"""The Slack bot's plumbing: what it needs from the runtime, its state, work after the ack, replies."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any, Protocol

from agent.events import ApprovalView, DecisionResult, Event, Outcome
from agent.interfaces.slack.ack import EventAcker
from agent.interfaces.slack.audience import AudienceCheck
from agent.interfaces.slack.conversation import ThreadReporter
from agent.interfaces.slack.progress import DEFAULT_INTERVAL
from agent.interfaces.slack.users import SlackUsers
from agent.service.records import DedupeStore as Dedupe
from connectors.errors import ConnectorAuthError, ConnectorError
from connectors.slack.client import SlackApi
from policies.directory import Directory

log = logging.getLogger(__name__)


class ConversationRuntime(Protocol):
    """What the bot needs from :class:`agent.runtime.chamberlain.Chamberlain` for conversations.

    Approvals are not here: every button goes through :class:`SlackApprovals` (the service API,
    :class:`agent.service.approvals.ApprovalService`), as the CLI, the HTTP API and the web page do."""

    directory: Directory

    def ask(
        self, user_id: str, text: str, *, thread_id: str, on_event: Callable[[Event], None] | None = None
    ) -> Outcome: ...

    def thread_outcome(self, thread_id: str) -> Outcome: ...


class SlackApprovals(Protocol):
    """The part of :class:`agent.service.approvals.ApprovalService` the buttons and commands call."""

    def view(self, typed: str, *, viewer: str | None = None) -> ApprovalView: ...

    def pending_for(self, approver_id: str) -> list[ApprovalView]: ...

    def batch(self, batch_id: str, *, viewer: str | None = None) -> list[ApprovalView]: ...

    def decide(
        self,
        typed: str,
        *,
        approver_id: str,
        approve: bool,
        reason: str | None = None,
        on_event: Callable[[Event], None] | None = None,
        approvers_only: bool = False,
    ) -> DecisionResult: ...

    def retry(self, typed: str, *, operator_id: str) -> DecisionResult: ...


def approvals_for(runtime: ConversationRuntime) -> SlackApprovals:
    """The service API on ``runtime``: decisions continue the requester's conversation here.

    A runtime that keeps its approvals elsewhere brings its own service (``approval_service()``:
    the scripted fake, agent/fakes/slack_runtime.py, an ApprovalService over its records)."""
    own = getattr(runtime, "approval_service", None)
    if callable(own):
        return own()
    from agent.service.stores import Service

    return Service.for_runtime(runtime).approvals  # type: ignore[arg-type]


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


class BotPlumbing:
    """What every listener shares: the bot's state, running work after the ack, posting and refusing."""

    def __init__(
        self,
        runtime: ConversationRuntime,
        api: SlackApi,
        users: SlackUsers,
        dedupe: Dedupe,
        *,
        executor: Executor,
        approvals: SlackApprovals | None = None,
        approvals_channel: str | None = None,
        progress_interval: float = DEFAULT_INTERVAL,
        files_root: Path | None = None,
    ) -> None:
        self.runtime = runtime
        self.approvals = approvals if approvals is not None else approvals_for(runtime)
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


def _container_channel(body: Mapping[str, Any]) -> str | None:
    channel = body.get("channel") or {}
    cid = channel.get("id") if isinstance(channel, Mapping) else None
    return str(cid) if cid else None


def _log_event(event: Event) -> None:
    log.info("event for a non-Slack conversation: %s", event.kind)
