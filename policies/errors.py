"""Errors raised by the policy layer.

PolicyError
├── PolicyFileError     a policy/directory/rules file is invalid (names file, place, problem)
├── UnknownPrincipal    a user id or email that is not in the directory
└── NotPermitted        the requester may not make this change (e.g. a discount on someone
                        else's deal); the message says why, in one line
"""

from __future__ import annotations


class PolicyError(Exception):
    """Base class for policy-layer errors."""


class PolicyFileError(PolicyError):
    """A policy file could not be loaded; the message names the file and what is wrong."""


class UnknownPrincipal(PolicyError):
    """The user is not in the directory."""


class NotPermitted(PolicyError):
    """The requester may not make this change; nothing was filed or written."""


__all__ = ["NotPermitted", "PolicyError", "PolicyFileError", "UnknownPrincipal"]
