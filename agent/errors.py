"""The errors a person sees, and how every interface (CLI, HTTP, Slack, web page) gets them.

Each layer keeps its own ``errors.py`` (connectors, policies, tools); this module draws the
assistant's tree over them and translates a lower layer's exception at the interface boundary
(the way httpx maps httpcore's), always with the original as ``__cause__``::

    ChamberlainError                 one or two lines for a person; ``status`` is the HTTP code
    ├── ConfigurationError           fix a setting, file or credential (a bad policy or tool file,
    │                                a writable warehouse login, a rejected token, a wrong data dir)
    ├── NotFound                     no such record or person (RecordNotFound, UnknownPrincipal)
    ├── PermissionDenied             the caller may not do this (NotPermitted)
    ├── Conflict                     already decided, changed meanwhile, or an ambiguous id prefix
    ├── Unavailable                  a service is down or slow; retrying later may work
    └── InvalidInput                 the request itself is malformed (InvalidRequest, ToolInputError)

:func:`translate` returns ``None`` for anything else: programming errors propagate as they are.
"""

from __future__ import annotations

from connectors.errors import (
    AmbiguousId,
    ConflictError,
    ConnectorAuthError,
    ConnectorError,
    ConnectorUnavailable,
    InvalidRequest,
    RecordNotFound,
)
from policies.errors import NotPermitted, PolicyError, PolicyFileError, UnknownPrincipal
from tools.errors import ToolError, ToolInputError


class ChamberlainError(Exception):
    """Base class: a failure a person can act on; ``str()`` is the message to show."""

    status: int = 500

    @property
    def message(self) -> str:
        return str(self)


class ConfigurationError(ChamberlainError):
    """A setting, file or credential must be fixed before this works."""

    status = 500


class NotFound(ChamberlainError):
    """The record or person does not exist."""

    status = 404


class PermissionDenied(ChamberlainError):
    """The caller may not do this."""

    status = 403


class Conflict(ChamberlainError):
    """The state changed meanwhile, the request was already decided, or an id is ambiguous."""

    status = 409


class Unavailable(ChamberlainError):
    """A service the request needs is down or overloaded; retrying later may work."""

    status = 503


class InvalidInput(ChamberlainError):
    """The request is malformed; the message says what to change."""

    status = 422


def translate(exc: BaseException) -> ChamberlainError | None:
    """``exc`` as one of ours (its ``__cause__`` set to ``exc``), or None for anything else."""
    if isinstance(exc, ChamberlainError):
        return exc
    # Imported here: tools.external and the warehouse role check pull in pydantic models and
    # SQLAlchemy, which ``chamberlain --help`` must not load.
    from connectors.warehouse_role import WritableWarehouseRole
    from tools.external import ToolRegistrationError

    result: ChamberlainError | None = None
    if isinstance(exc, (WritableWarehouseRole, PolicyFileError, ToolRegistrationError, ConnectorAuthError)):
        result = ConfigurationError(str(exc))
    elif isinstance(exc, ConnectorUnavailable):
        result = Unavailable(f"{exc} (check that the service is running and its URL setting is right)")
    elif isinstance(exc, (RecordNotFound, UnknownPrincipal)):
        result = NotFound(str(exc))
    elif isinstance(exc, NotPermitted):
        result = PermissionDenied(str(exc))
    elif isinstance(exc, (ConflictError, AmbiguousId)):
        result = Conflict(str(exc))
    elif isinstance(exc, (InvalidRequest, ToolInputError)):
        result = InvalidInput(str(exc))
    if result is not None:
        result.__cause__ = exc
    return result


#: The lower layers' bases, for boundaries that register one handler per family (FastAPI).
TRANSLATED_BASES: tuple[type[Exception], ...] = (ChamberlainError, ConnectorError, PolicyError, ToolError)

__all__ = [
    "TRANSLATED_BASES",
    "AmbiguousId",
    "ChamberlainError",
    "ConfigurationError",
    "Conflict",
    "ConflictError",
    "ConnectorAuthError",
    "ConnectorError",
    "ConnectorUnavailable",
    "InvalidInput",
    "InvalidRequest",
    "NotFound",
    "NotPermitted",
    "PermissionDenied",
    "PolicyError",
    "PolicyFileError",
    "RecordNotFound",
    "ToolError",
    "ToolInputError",
    "Unavailable",
    "UnknownPrincipal",
    "translate",
]
