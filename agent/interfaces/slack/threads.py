"""Conversation ids for Slack threads: ``slack:{channel}:{thread_ts}``.

A Slack thread is one LangGraph thread, so replies continue the same conversation and an
approval's ``thread_id`` says where the resumed turn must be posted.
"""

from __future__ import annotations

PREFIX = "slack:"


def slack_thread_id(channel: str, thread_ts: str) -> str:
    if not channel or not thread_ts or ":" in channel or ":" in thread_ts:
        raise ValueError(f"not a Slack channel/thread pair: {channel!r}, {thread_ts!r}")
    return f"{PREFIX}{channel}:{thread_ts}"


def parse_slack_thread_id(thread_id: str) -> tuple[str, str] | None:
    """``(channel, thread_ts)`` of a Slack conversation id, or None for other surfaces."""
    if not thread_id.startswith(PREFIX):
        return None
    channel, sep, thread_ts = thread_id[len(PREFIX) :].partition(":")
    if not sep or not channel or not thread_ts or ":" in thread_ts:
        return None
    return channel, thread_ts


__all__ = ["parse_slack_thread_id", "slack_thread_id"]
