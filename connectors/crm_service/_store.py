"""SQLite storage for the local HubSpot-compatible service (stdlib ``sqlite3``)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from connectors.crm.hubspot._engine import CrmEngine, _now_ms
from connectors.crm.hubspot._models import Association, CrmDataset, CrmRecord, Owner, Pipeline, Stage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    object_type TEXT NOT NULL,
    id INTEGER NOT NULL,
    properties TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (object_type, id)
);
CREATE TABLE IF NOT EXISTS associations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    from_type TEXT NOT NULL,
    from_id TEXT NOT NULL,
    to_type TEXT NOT NULL,
    to_id TEXT NOT NULL,
    UNIQUE (from_type, from_id, to_type, to_id)
);
CREATE INDEX IF NOT EXISTS associations_to ON associations (to_type, to_id);
CREATE TABLE IF NOT EXISTS owners (
    position INTEGER NOT NULL,
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pipelines (
    object_type TEXT NOT NULL,
    position INTEGER NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (object_type, id)
);
"""


class SqliteCrmStore(CrmEngine):
    """The CRM kept in one SQLite file; one connection guarded by the engine's lock."""

    def __init__(self, db_path: str | Path, *, clock_ms: Callable[[], int] = _now_ms) -> None:
        super().__init__(clock_ms=clock_ms)
        self.db_path = str(db_path)
        # One connection shared by uvicorn's worker threads; the engine lock serialises use.
        self._db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def is_empty(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM records LIMIT 1").fetchone() is None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        if self._db.in_transaction:  # nested: the outer transaction decides
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ------------------------------------------------------------ storage primitives

    @staticmethod
    def _row(object_type: str, row: tuple[int, str, str, str, int]) -> CrmRecord:
        rid, props, created, updated, archived = row
        return CrmRecord(object_type, str(rid), json.loads(props), created, updated, bool(archived))

    def _read(self, object_type: str, id: str) -> CrmRecord | None:
        row = self._db.execute(
            "SELECT id, properties, created_at, updated_at, archived FROM records WHERE object_type = ? AND id = ?",
            (object_type, int(id)),
        ).fetchone()
        return None if row is None else self._row(object_type, row)

    def _scan(self, object_type: str) -> Iterable[CrmRecord]:
        rows = self._db.execute(
            "SELECT id, properties, created_at, updated_at, archived FROM records WHERE object_type = ? ORDER BY id",
            (object_type,),
        ).fetchall()
        return [self._row(object_type, r) for r in rows]

    def _write(self, record: CrmRecord) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO records (object_type, id, properties, created_at, updated_at, archived)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                record.object_type,
                int(record.id),
                json.dumps(dict(record.properties), ensure_ascii=False),
                record.created_at,
                record.updated_at,
                int(record.archived),
            ),
        )

    def _max_id(self, object_type: str) -> int | None:
        row = self._db.execute("SELECT MAX(id) FROM records WHERE object_type = ?", (object_type,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def _linked(self, object_type: str, id: str, to_type: str) -> list[str]:
        rows = self._db.execute(
            "SELECT seq, to_id FROM associations WHERE from_type = ? AND from_id = ? AND to_type = ?"
            " UNION ALL"
            " SELECT seq, from_id FROM associations WHERE to_type = ? AND to_id = ? AND from_type = ?"
            " ORDER BY seq",
            (object_type, id, to_type, object_type, id, to_type),
        ).fetchall()
        return list(dict.fromkeys(str(r[1]) for r in rows))

    def _link(self, association: Association) -> None:
        a = association
        self._db.execute(
            "INSERT OR IGNORE INTO associations (from_type, from_id, to_type, to_id) VALUES (?, ?, ?, ?)",
            (a.from_type, a.from_id, a.to_type, a.to_id),
        )

    def _stored_owners(self) -> list[Owner]:
        rows = self._db.execute("SELECT id, email, first_name, last_name FROM owners ORDER BY position")
        return [Owner(*r) for r in rows.fetchall()]

    def _stored_pipelines(self, object_type: str) -> list[Pipeline]:
        rows = self._db.execute(
            "SELECT data FROM pipelines WHERE object_type = ? ORDER BY position", (object_type,)
        ).fetchall()
        return [_pipeline_from_json(json.loads(r[0])) for r in rows]

    def _store_dataset(self, dataset: CrmDataset) -> None:
        for table in ("records", "associations", "owners", "pipelines"):
            self._db.execute(f"DELETE FROM {table}")  # fixed table names, not input
        for r in dataset.records:
            self._write(r)
        for a in dataset.associations:
            self._link(a)
        self._db.executemany(
            "INSERT INTO owners (position, id, email, first_name, last_name) VALUES (?, ?, ?, ?, ?)",
            [(i, o.id, o.email, o.first_name, o.last_name) for i, o in enumerate(dataset.owners)],
        )
        for object_type, pipelines in dataset.pipelines.items():
            self._db.executemany(
                "INSERT INTO pipelines (object_type, position, id, data) VALUES (?, ?, ?, ?)",
                [(object_type, i, p.id, json.dumps(_pipeline_to_json(p))) for i, p in enumerate(pipelines)],
            )


def _pipeline_to_json(p: Pipeline) -> dict[str, object]:
    return {
        "id": p.id,
        "label": p.label,
        "display_order": p.display_order,
        "stages": [
            {
                "id": s.id,
                "label": s.label,
                "display_order": s.display_order,
                "probability": s.probability,
                "is_closed": s.is_closed,
            }
            for s in p.stages
        ],
    }


def _pipeline_from_json(d: dict[str, object]) -> Pipeline:
    stages = tuple(Stage(**s) for s in d["stages"])  # type: ignore[attr-defined]
    return Pipeline(str(d["id"]), str(d["label"]), int(d["display_order"]), stages)  # type: ignore[call-overload]


__all__ = ["SqliteCrmStore"]
