"""Renders one conversation turn into its Slack thread.

A :class:`ThreadReporter` is the ``on_event`` callback of ``runtime.ask``/``runtime.decide``:
progress goes to the turn's single status message, approval requests and errors become short
thread messages, the answer is posted in Block Kit (with uploads), and :meth:`finish` closes the
status message with how the turn ended. Slack failures while reporting are logged, not raised:
the turn itself has already happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from agent.events import (
    Answer,
    ApprovalRequested,
    ApprovalView,
    ErrorEvent,
    Event,
    Outcome,
    Progress,
)
from agent.interfaces.slack.blocks import Upload, current_stage, error_blocks, escape, render_answer
from agent.interfaces.slack.progress import DEFAULT_INTERVAL, ProgressMessage
from connectors.errors import ConnectorAuthError, ConnectorError
from connectors.slack.client import SlackApi

log = logging.getLogger(__name__)

Labeler = Callable[[str], str]


class ThreadReporter:
    def __init__(
        self,
        api: SlackApi,
        channel: str,
        thread_ts: str,
        *,
        label: Labeler = str,
        progress_interval: float = DEFAULT_INTERVAL,
        files_root: Path | None = None,
    ) -> None:
        self.api = api
        self.channel = channel
        self.thread_ts = thread_ts
        self.label = label
        self.files_root = files_root
        self.progress = ProgressMessage(api, channel, thread_ts, min_interval=progress_interval)
        self.started = False
        self.answered = False
        self.errored = False
        self.waiting_on: list[ApprovalView] = []
        self.preamble: str | None = None  # posted before the first event (e.g. "Dana approved …")

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, text: str = ":hourglass_flowing_sand: Working on it…") -> None:
        if self.started:
            return
        self.started = True
        if self.preamble:
            self._post(self.preamble)
        self.progress.start(text)

    def __call__(self, event: Event) -> None:
        self.start()
        try:
            if isinstance(event, Progress):
                self.progress.update(f":hourglass_flowing_sand: {event.text}")
            elif isinstance(event, ApprovalRequested):
                self._approval_requested(event.approvals)
            elif isinstance(event, Answer):
                self._answer(event)
            elif isinstance(event, ErrorEvent):
                self._error(event.message, retryable=event.retryable)
        except ConnectorAuthError:
            raise
        except ConnectorError as exc:  # the turn goes on even if one Slack call failed
            log.warning("could not report %s in %s/%s: %s", event.kind, self.channel, self.thread_ts, exc)

    def finish(self, outcome: Outcome | None) -> None:
        """Close the status message; post whatever the stream did not already show."""
        self.start()
        if outcome is None:
            self.progress.close(":warning: Stopped.")
            return
        if outcome.status == "answered":
            if not self.answered and outcome.answer is not None:
                self._answer(outcome.answer)
            self.progress.close(":white_check_mark: Done.")
        elif outcome.status == "waiting_for_approval":
            pending = list(outcome.pending) or self.waiting_on
            if pending and not self.waiting_on:
                self._approval_requested(pending)
            self.progress.close(f":hourglass: {self._waiting_text(pending)}")
        else:
            if not self.errored:
                err = outcome.error
                self._error(
                    err.message if err else "I could not finish this request.",
                    retryable=err.retryable if err else False,
                )
            self.progress.close(":warning: Stopped: see the message below.")

    def crash(self, ref: str) -> None:
        """The runtime raised: say so plainly; the thread stays usable."""
        self.start()
        self._error(
            f"Something went wrong on my side and I could not finish (reference `{ref}`). Nothing was changed.",
            retryable=True,
        )
        self.progress.close(":warning: Stopped: see the message below.")

    # -- rendering ---------------------------------------------------------------------------

    def _waiting_text(self, views: Sequence[ApprovalView]) -> str:
        names: list[str] = []
        for view in views:
            stage = current_stage(view)
            for a in stage.approvers if stage else ():
                if self.label(a) not in names:
                    names.append(self.label(a))
        who = ", ".join(names) if names else "an approver"
        return f"Waiting for approval from {who}…"

    def _approval_requested(self, views: Sequence[ApprovalView]) -> None:
        self.waiting_on.extend(views)
        self.progress.update(f":hourglass: {self._waiting_text(self.waiting_on)}")
        for view in views:
            self._post(
                f":lock: *{escape(view.title)}* needs approval before I can do it: {escape(view.summary)}\n"
                f"{escape(self._waiting_text([view]))} I'll continue here once they decide."
            )

    def _answer(self, answer: Answer) -> None:
        rendered = render_answer(answer)
        self.api.post_message(self.channel, text=rendered.text, blocks=rendered.blocks, thread_ts=self.thread_ts)
        self.answered = True
        for upload in rendered.uploads:
            self._upload(upload)

    def _upload(self, upload: Upload) -> None:
        content = upload.content
        if content is None and upload.path is not None:
            path = Path(upload.path)
            if self.files_root is not None and not path.is_absolute():
                path = self.files_root / path
            try:
                content = path.read_bytes()
            except OSError as exc:
                log.warning("attachment %s could not be read: %s", path, exc)
                self._post(f"(I could not attach *{escape(upload.title)}*: the file is missing.)")
                return
        if not content:
            return
        try:
            self.api.upload_file(
                self.channel,
                filename=upload.filename,
                content=content,
                title=upload.title,
                thread_ts=self.thread_ts,
            )
        except ConnectorAuthError:
            raise
        except ConnectorError as exc:
            log.warning("upload of %s failed: %s", upload.filename, exc)
            self._post(f"(I could not attach *{escape(upload.title)}*: Slack refused the upload.)")

    def _error(self, message: str, *, retryable: bool) -> None:
        text, blocks = error_blocks(message, retryable=retryable)
        self.errored = True
        self.api.post_message(self.channel, text=text, blocks=blocks, thread_ts=self.thread_ts)

    def _post(self, text: str) -> None:
        try:
            self.api.post_message(self.channel, text=text, thread_ts=self.thread_ts)
        except ConnectorAuthError:
            raise
        except ConnectorError as exc:
            log.warning("could not post in %s/%s: %s", self.channel, self.thread_ts, exc)


__all__ = ["ThreadReporter"]
