"""Errors raised by connectors. Every SDK or driver exception is translated into one of these
at the boundary (``raise ... from exc``), so callers never see httpx, SQLAlchemy or Chroma types.

    ConnectorError
    ├── ConnectorUnavailable      retryable: timeouts, 429/5xx, connection refused
    ├── RecordNotFound            the id does not exist (not retryable)
    ├── ConflictError             version/precondition mismatch, duplicate key (not retryable)
    ├── ConnectorAuthError        credentials rejected (not retryable; a person must fix config)
    ├── InvalidRequest            the remote system rejected the request as malformed
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


class AmbiguousId(ConnectorError):
    """An id prefix someone typed matches more than one record; they must type more of it."""


__all__ = [
    "AmbiguousId",
    "ConflictError",
    "ConnectorAuthError",
    "ConnectorError",
    "ConnectorUnavailable",
    "InvalidRequest",
    "RecordNotFound",
]
