"""The outbox: where the assistant's outgoing messages (email, Slack DM, channel post, thread
reply, approval notifications) wait until a delivery worker has handed them to their channel.

- :class:`Outbox`: what the messaging tool needs, ``send(recipient, text, idempotency_key=...)``.
- :class:`SqlOutbox`: messages stored in the ``outbox`` table of the app database, plus the
  queue operations a delivery worker needs (claim with a lease, mark sent / retry / failed,
  retry by hand, list, show). Unique on the idempotency key, so a retried or concurrent
  execution of the same approved send stores exactly one message. ``send`` can join a caller's
  transaction (``connection=``), so a row is written with the state change that causes it.
- :class:`RecordingOutbox`: the in-memory fake that ships with the code, same rules for ``send``.

A message's life, as a person reads it:

    queued ──claim──▶ sending ──▶ sent (the channel's id: "D0BOB/1700000001.000001", a Message-ID)
       ▲                 │
       └──retry later────┤        (retryable error: next attempt after backoff or Retry-After)
                         └──────▶ failed (why) ──``outbox retry``──▶ queued

Claiming is ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so N workers never take the same
row; on SQLite every write transaction is ``BEGIN IMMEDIATE`` (see ``connectors.appdb``), which
makes the claim a single-writer lease. A ``sending`` row whose lease ran out (its worker died)
is claimed again; the channel's idempotency key (Slack ``client_msg_id``, email ``Message-ID``)
is what keeps that second attempt from becoming a second message. Every mark is conditional on
still holding the lease, so a worker that lost its lease cannot overwrite the new owner's state.

Reusing a key with a different recipient or text is a :class:`~connectors.errors.ConflictError`:
that is a bug in the caller, never a second message.
"""

from __future__ import annotations

from connectors.outbox.memory import RecordingOutbox
from connectors.outbox.model import (
    CHANNELS,
    FAILED,
    KINDS,
    MAX_TEXT_CHARS,
    QUEUED,
    SENDING,
    SENT,
    STATUSES,
    NewMessage,
    Outbox,
    SentMessage,
    channel_for,
    outbox_table,
)
from connectors.outbox.sql import SqlOutbox

__all__ = [
    "CHANNELS",
    "FAILED",
    "KINDS",
    "MAX_TEXT_CHARS",
    "QUEUED",
    "SENDING",
    "SENT",
    "STATUSES",
    "NewMessage",
    "Outbox",
    "RecordingOutbox",
    "SentMessage",
    "SqlOutbox",
    "channel_for",
    "outbox_table",
]
