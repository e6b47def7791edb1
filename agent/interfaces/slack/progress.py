"""One status message per turn, edited in place as the graph streams.

``chat.update`` is rate limited (Tier 3, and Slack dislikes rapid edits of one message), so
updates are throttled to one per ``min_interval`` seconds per message: intermediate texts are
dropped and the latest one wins; a timer flushes it when the interval has passed, and
:meth:`ProgressMessage.close` writes the final text. A 429 is retried by the client after
``Retry-After``. Progress is best effort: a failing update is logged, never raised into the turn.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from connectors.errors import ConnectorAuthError, ConnectorError
from connectors.slack.client import SlackApi

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 1.2


class ProgressMessage:
    def __init__(
        self,
        api: SlackApi,
        channel: str,
        thread_ts: str,
        *,
        min_interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.channel = channel
        self.thread_ts = thread_ts
        self.min_interval = min_interval
        self._clock = clock
        self.ts: str | None = None
        self.shown: str | None = None
        self._pending: str | None = None
        self._last_sent = float("-inf")
        self._timer: threading.Timer | None = None
        self._closed = False
        self._lock = threading.Lock()  # guards the fields above
        self._send_lock = threading.Lock()  # one Slack call at a time, in order

    def start(self, text: str) -> None:
        """Post the status message (right away: it is the user's first sign of life)."""
        with self._send_lock:
            try:
                channel, ts = self.api.post_message(self.channel, text=text, thread_ts=self.thread_ts)
            except ConnectorAuthError:
                raise
            except ConnectorError as exc:
                log.warning("could not post the status message in %s: %s", self.channel, exc)
                return
            with self._lock:
                self.channel, self.ts, self.shown = channel, ts, text
                self._last_sent = self._clock()

    def update(self, text: str) -> None:
        """Show ``text`` soon: now if the interval has passed, else when it has (if still latest)."""
        with self._lock:
            if self._closed or text == self._pending:
                return
            self._pending = text
            if self._timer is not None:
                return  # the scheduled flush will pick the latest text
            delay = max(0.0, self._last_sent + self.min_interval - self._clock())
            self._timer = threading.Timer(delay, self._flush)
            self._timer.daemon = True
            self._timer.start()

    def close(self, text: str | None = None) -> None:
        """Final flush: cancel the timer and show ``text`` (or the last pending text) now."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            timer, self._timer = self._timer, None
            final = text if text is not None else self._pending
            self._pending = None
        if timer is not None:
            timer.cancel()
        if final is not None:
            self._send(final)

    def _flush(self) -> None:
        with self._lock:
            self._timer = None
            text, self._pending = self._pending, None
            if text is None or self._closed:
                return
        self._send(text)

    def _send(self, text: str) -> None:
        with self._send_lock:
            with self._lock:
                if self.ts is None or text == self.shown:
                    return
                wait = self._last_sent + self.min_interval - self._clock()
            if wait > 0:  # only when a flush races close(); keeps the per-message limit
                time.sleep(wait)
            try:
                self.api.update_message(self.channel, self.ts, text=text)
            except ConnectorError as exc:
                log.warning("could not update the status message %s: %s", self.ts, exc)
                return
            finally:
                with self._lock:
                    self._last_sent = self._clock()
            with self._lock:
                self.shown = text


__all__ = ["DEFAULT_INTERVAL", "ProgressMessage"]
