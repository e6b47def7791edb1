"""Errors raised by connectors. Every SDK or driver exception is translated into one of these
at the boundary (``raise ... from exc``), so callers never see httpx, SQLAlchemy or Chroma types.

    ConnectorError
    ├── ConnectorUnavailable      retryable: timeouts, 429/5xx, connection refused
    ├── RecordNotFound            the id does not exist (not retryable)
    ├── ConflictError             version/precondition mismatch, duplicate key (not retryable)
    ├── ConnectorAuthError        credentials rejected (not retryable; a person must fix config)
    ├── InvalidRequest            the remote system rejected the request as malformed
    ├── RetryLater                retryable, after at least ``retry_after`` seconds (Slack 429, SMTP 4xx)
    ├── DeliveryRefused           a channel refused a message for good (not retryable; says why)
    └── AmbiguousId               a typed id prefix names more than one record
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class for every connector failure."""


class ConnectorUnavailable(ConnectorError):
    """The outside system could not be reached or is overloaded; trying again may work."""


class RecordNotFound(ConnectorError):
    """The record asked for does not exist."""


class ConflictError(ConnectorError):
    """The record changed underneath us, or a uniqueness rule was violated."""


class ConnectorAuthError(ConnectorError):
    """The outside system rejected our credentials."""


class InvalidRequest(ConnectorError):
    """The outside system rejected the request as malformed."""


class RetryLater(ConnectorUnavailable):
    """Try again later; ``retry_after`` is the wait the remote system asked for, if it said."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeliveryRefused(ConnectorError):
    """A channel refused a message for good (no such channel, bad credentials, 5xx from SMTP)."""


class AmbiguousId(ConnectorError):
    """An id prefix someone typed matches more than one record; they must type more of it."""


__all__ = [
    "AmbiguousId",
    "ConflictError",
    "ConnectorAuthError",
    "ConnectorError",
    "ConnectorUnavailable",
    "DeliveryRefused",
    "InvalidRequest",
    "RecordNotFound",
    "RetryLater",
]
