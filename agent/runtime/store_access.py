"""Kept for callers of the previous round: the light way in is now :func:`agent.service.stores.open_service`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from connectors.appdb import ApprovalStore, make_engine
from connectors.appdb.id_prefix import resolve_approval_id
from policies.directory import Directory

if TYPE_CHECKING:
    from agent.settings import Settings


@contextlib.contextmanager
def open_store(settings: Settings) -> Iterator[tuple[ApprovalStore, Directory]]:
    """The approvals store (on the app database) and the people directory; closed on exit."""
    engine = make_engine(settings.resolved_database_url)
    try:
        yield ApprovalStore(engine), Directory.load(settings.directory_path)
    finally:
        engine.dispose()


def resolve_id(settings: Settings, typed: str) -> str:
    """The full approval id a person typed (a unique prefix is enough)."""
    engine = make_engine(settings.resolved_database_url)
    try:
        return resolve_approval_id(engine, typed)
    finally:
        engine.dispose()


__all__ = ["open_store", "resolve_id"]
