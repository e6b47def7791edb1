"""Errors raised by the policy layer.

PolicyError
├── PolicyFileError     a policy/directory/rules file is invalid (names file, place, problem)
└── UnknownPrincipal    a user id or email that is not in the directory
"""

from __future__ import annotations


class PolicyError(Exception):
    """Base class for policy-layer errors."""


class PolicyFileError(PolicyError):
    """A policy file could not be loaded; the message names the file and what is wrong."""


class UnknownPrincipal(PolicyError):
    """The user is not in the directory."""


__all__ = ["PolicyError", "PolicyFileError", "UnknownPrincipal"]
