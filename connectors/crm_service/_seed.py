"""Seeding the local HubSpot-compatible service (or the in-memory fake) with the demo company.

The content itself is vendor-neutral and lives in :mod:`connectors.demo.crm_seed`; this module
only loads it in HubSpot's shape.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Protocol

from connectors.crm.hubspot._dataset import to_dataset
from connectors.crm.hubspot._models import CrmDataset
from connectors.demo.crm_seed import DEFAULT_SEED, demo_crm


class _Loadable(Protocol):
    def load(self, dataset: CrmDataset) -> None: ...


@lru_cache(maxsize=4)
def build_dataset(seed: int = DEFAULT_SEED) -> CrmDataset:
    """The demo CRM content for ``seed`` as HubSpot records (pure; cached)."""
    return to_dataset(demo_crm(seed))


def seed_crm(target: _Loadable | str | Path, seed: int = DEFAULT_SEED) -> CrmDataset:
    """Replace the content of ``target`` with the demo CRM and return what was loaded.

    ``target``: an :class:`~connectors.crm.InMemoryCrm`, a :class:`SqliteCrmStore`, or the path
    of a SQLite database file for the local service (created if missing).
    """
    dataset = build_dataset(seed)
    if isinstance(target, (str, Path)):
        from connectors.crm_service._store import SqliteCrmStore

        store = SqliteCrmStore(target)
        try:
            store.load(dataset)
        finally:
            store.close()
    else:
        target.load(dataset)
    return dataset


__all__ = ["build_dataset", "seed_crm"]
