"""The approvals store and directory without the runtime: for commands that need no model.

Importing ``agent.runtime.services`` pulls in the graph and the model stack (seconds); listing, showing
and auditing approvals must not wait for that.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from connectors.appdb import ApprovalStore, make_engine
from connectors.appdb.id_prefix import resolve_approval_id
from policies.directory import Directory


@contextlib.contextmanager
def open_store(settings: Any) -> Iterator[tuple[ApprovalStore, Directory]]:
    """The approvals store (on the app database) and the people directory; closed on exit."""
    engine = make_engine(settings.resolved_database_url)
    try:
        yield ApprovalStore(engine), Directory.load(settings.directory_path)
    finally:
        engine.dispose()


def resolve_id(settings: Any, typed: str) -> str:
    """The full approval id a person typed (a unique prefix is enough)."""
    engine = make_engine(settings.resolved_database_url)
    try:
        return resolve_approval_id(engine, typed)
    finally:
        engine.dispose()


__all__ = ["open_store", "resolve_id"]
