"""The outbox's vocabulary: statuses, kinds, the ``outbox`` table, message values and the :class:`Outbox` protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from connectors.errors import ConflictError, InvalidRequest

MAX_TEXT_CHARS = 40_000  # hard connector limit; each channel's own limit is lower (see delivery)

QUEUED, SENDING, SENT, FAILED = "queued", "sending", "sent", "failed"
STATUSES = (QUEUED, SENDING, SENT, FAILED)

#: What a row is: a message someone approved, the receipt that tells its requester what became
#: of it, or an approval notification (a card to post or update).
KINDS = ("message", "receipt", "notification")
CHANNELS = ("slack", "email", "notify")

_metadata = MetaData()

outbox_table = Table(
    "outbox",
    _metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("recipient", String(320), nullable=False),
    Column("text", Text, nullable=False),
    # When the message was accepted (queued); the name predates the delivery worker.
    Column("sent_at", DateTime(timezone=True), nullable=False),
    # -- delivery (added with the worker; server defaults fill rows of older databases) -------
    Column("kind", String(20), nullable=False, server_default="message"),
    Column("channel", String(10), nullable=False, server_default="slack"),
    Column("status", String(10), nullable=False, server_default=QUEUED),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("lease_owner", String(100)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("delivered_at", DateTime(timezone=True)),
    Column("delivery_ref", String(300)),
    Column("requester_id", String(100)),
    Column("thread_id", String(300)),  # the conversation the request came from
    Column("thread_ts", String(40)),  # post as a reply in this Slack thread
    Column("subject", Text),
    Column("parent_id", String(40)),  # a receipt's message
    Column("payload_json", Text),  # a notification's event
)
Index("ix_outbox_due", outbox_table.c.status, outbox_table.c.next_attempt_at)


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SentMessage:
    """A message accepted by the outbox. ``duplicate``: an earlier send with the same key."""

    id: str
    recipient: str
    text: str
    idempotency_key: str
    sent_at: datetime
    duplicate: bool = False
    kind: str = "message"
    channel: str = "slack"
    status: str = QUEUED
    attempts: int = 0
    next_attempt_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    delivery_ref: str | None = None
    requester_id: str | None = None
    thread_id: str | None = None
    thread_ts: str | None = None
    subject: str | None = None
    parent_id: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)

    @property
    def queued_at(self) -> datetime:
        return self.sent_at


@dataclass(frozen=True)
class NewMessage:
    """A row to queue alongside a mark (e.g. the receipt that tells the requester)."""

    recipient: str
    text: str
    idempotency_key: str
    kind: str = "receipt"
    channel: str = "slack"
    thread_ts: str | None = None
    requester_id: str | None = None
    thread_id: str | None = None
    parent_id: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)  # a notification's event


#: What a mark queues with it (a receipt, card updates): committed with the mark or not at all.
FollowUps = NewMessage | Sequence[NewMessage] | None


@runtime_checkable
class Outbox(Protocol):
    def send(
        self,
        recipient: str,
        text: str,
        *,
        idempotency_key: str,
        requester_id: str | None = None,
        thread_id: str | None = None,
    ) -> SentMessage:
        """Queue ``text`` for ``recipient`` exactly once per ``idempotency_key``; the requester
        and their conversation are where the worker reports delivery.

        Raises ``InvalidRequest`` for an empty recipient/text or a missing key,
        ``ConflictError`` when the key was used for a different message,
        ``ConnectorUnavailable`` when the store cannot be reached.
        """
        ...

    def messages(self, recipient: str | None = None) -> list[SentMessage]:
        """Stored messages in sending order (optionally for one recipient)."""
        ...


def channel_for(recipient: str) -> str:
    """The channel a recipient is reached on: an address with ``@`` is email, the rest Slack."""
    return "email" if "@" in recipient and not recipient.startswith("<@") else "slack"


def _validate(recipient: str, text: str, idempotency_key: str) -> None:
    if not recipient.strip():
        raise InvalidRequest("a message needs a recipient")
    if not text.strip():
        raise InvalidRequest("a message needs some text")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidRequest(f"a message may hold at most {MAX_TEXT_CHARS:,} characters, not {len(text):,}")
    if not idempotency_key:
        raise InvalidRequest("sending needs an idempotency key (so a retry never sends twice)")


def _same_or_conflict(existing: SentMessage, recipient: str, text: str) -> SentMessage:
    if existing.recipient != recipient or existing.text != text:
        raise ConflictError(
            f"idempotency key {existing.idempotency_key!r} was already used for a different message "
            f"(to {existing.recipient}); use a new key for a new message"
        )
    return replace(existing, duplicate=True)
