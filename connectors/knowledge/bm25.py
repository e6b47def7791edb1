"""The keyword index: SQLite FTS5 with ``bm25()`` ranking, over the same chunks as the vector
store, persisted on disk and updated incrementally (add / replace / delete chunks in
milliseconds, no rebuild).

Access control happens *inside* the index: each chunk's allowed groups are indexed as tokens of
a second FTS column, and every query is ``text MATCH terms AND groups MATCH reader's groups``, so
a restricted chunk is never scored, never takes a top-k slot, and never leaves this module. That
column has weight 0 in ``bm25()``, so it does not change the ranking.

Text is tokenised here (lower-case words, English stopwords dropped, plurals folded) and stored
as that token string, so indexing and querying agree exactly whatever SQLite's tokenizer does.

The index is derived data: it records the corpus generation it reflects, and the knowledge
index rebuilds it from the vector store when another worker changed the corpus.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PUBLIC = "*"  # the group marker of a chunk anyone may read

_WORD = re.compile(r"[a-z0-9]+")
# bm25s's English stopword list (bm25s.stopwords.STOPWORDS_EN), which built every index so far:
# kept verbatim so stored token strings stay valid. Written out here because importing bm25s for
# 33 words pulled in scipy (0.3-0.5 s of the first ingest or search in a process).
_STOP = frozenset(
    {
        *("a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no"),
        *("not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this"),
        *("to", "was", "will", "with"),
    }
)
_SCHEMA_VERSION = "fts5-1"
_DB_NAME = "keyword-v1.sqlite"  # a new name for a new layout: old files are simply ignored


@lru_cache(maxsize=500_000)
def _stem(word: str) -> str:
    """A deliberately light stemmer (plurals only): receipts -> receipt, policies -> policy."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP]


@lru_cache(maxsize=4096)
def group_token(group: str) -> str:
    """A group name as one FTS token (group names may hold any character, tokens may not)."""
    return "g" + hashlib.blake2b(group.encode(), digest_size=10).hexdigest()


@dataclass(frozen=True)
class KeywordHit:
    id: str
    score: float


class BM25Index:
    """An FTS5 keyword index of chunks with their allowed groups, in ``directory``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / _DB_NAME
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._ready = False

    # -- connections ----------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        # One connection per thread: searches run concurrently (WAL readers never block).
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        if not self._ready:
            self._create(conn)
        return conn

    def _create(self, conn: sqlite3.Connection) -> None:
        with self._write_lock:
            if self._ready:
                return
            conn.executescript(
                """
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS chunks (
                    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, groups TEXT NOT NULL
                );
                CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
                    body, groups, tokenize = 'unicode61'
                );
                """
            )
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None:
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (_SCHEMA_VERSION,))
                # body has weight 1, the groups column 0: access tokens never change a score.
                conn.execute("INSERT INTO fts(fts, rank) VALUES ('rank', 'bm25(1.0, 0.0)')")
            self._ready = True

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- writing --------------------------------------------------------------------------

    def build(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        groups: Sequence[Sequence[str]],
        fingerprint: str,
    ) -> None:
        """Replace the whole index with these chunks (one transaction: readers see the old
        index or the new one, never a mix)."""
        if not (len(ids) == len(texts) == len(groups)):
            raise ValueError("ids, texts and groups must have the same length")
        with self._writing() as conn:
            conn.execute("DELETE FROM fts")
            conn.execute("DELETE FROM chunks")
            self._insert(conn, ids, texts, groups)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fingerprint,))
            conn.execute("INSERT INTO fts(fts) VALUES ('optimize')")

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        groups: Sequence[Sequence[str]],
        fingerprint: str | None = None,
    ) -> None:
        """Add chunks, replacing any with the same id; optionally record a new generation."""
        if not (len(ids) == len(texts) == len(groups)):
            raise ValueError("ids, texts and groups must have the same length")
        with self._writing() as conn:
            self._remove(conn, ids)
            self._insert(conn, ids, texts, groups)
            if fingerprint is not None:
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fingerprint,))

    def delete(self, ids: Sequence[str], fingerprint: str | None = None) -> None:
        with self._writing() as conn:
            self._remove(conn, ids)
            if fingerprint is not None:
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fingerprint,))

    def set_fingerprint(self, fingerprint: str) -> None:
        with self._writing() as conn:
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fingerprint,))

    @staticmethod
    def _insert(
        conn: sqlite3.Connection, ids: Sequence[str], texts: Sequence[str], groups: Sequence[Sequence[str]]
    ) -> None:
        # Two statements for the whole batch (executemany), not two per chunk; the FTS row takes
        # the rowid and group tokens of the row just inserted into chunks.
        tokens = [" ".join(group_token(g) for g in gs) for gs in groups]
        conn.executemany("INSERT INTO chunks (id, groups) VALUES (?, ?)", zip(ids, tokens, strict=True))
        conn.executemany(
            "INSERT INTO fts (rowid, body, groups) SELECT rowid, ?, groups FROM chunks WHERE id = ?",
            ((" ".join(tokenize(text)), cid) for cid, text in zip(ids, texts, strict=True)),
        )

    @staticmethod
    def _remove(conn: sqlite3.Connection, ids: Iterable[str]) -> None:
        rows = [(cid,) for cid in ids]
        conn.executemany("DELETE FROM fts WHERE rowid = (SELECT rowid FROM chunks WHERE id = ?)", rows)
        conn.executemany("DELETE FROM chunks WHERE id = ?", rows)

    # -- reading --------------------------------------------------------------------------

    @property
    def fingerprint(self) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
        return str(row[0]) if row else None

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM chunks").fetchone()[0])

    def readable(self, ids: Sequence[str], groups: Iterable[str]) -> set[str]:
        """Those of ``ids`` a member of ``groups`` may read, by the groups indexed here (an id
        not indexed here counts as unreadable)."""
        if not ids:
            return set()
        readers = {group_token(g) for g in {*groups, PUBLIC}}
        out: set[str] = set()
        conn = self._conn()
        for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
            part = list(ids[start : start + 500])
            marks = ",".join("?" * len(part))
            for cid, tokens in conn.execute(f"SELECT id, groups FROM chunks WHERE id IN ({marks})", part):
                if readers.intersection(tokens.split()):
                    out.add(str(cid))
        return out

    def search(self, query: str, groups: Iterable[str], k: int) -> list[KeywordHit]:
        """Top ``k`` chunks by BM25 among those readable by a member of ``groups``."""
        if k <= 0:
            return []
        terms = sorted(set(tokenize(query)))
        if not terms:
            return []
        readers = sorted({group_token(g) for g in {*groups, PUBLIC}})
        match = "body : ({}) AND groups : ({})".format(
            " OR ".join(f'"{t}"' for t in terms), " OR ".join(f'"{g}"' for g in readers)
        )
        rows = (
            self._conn()
            .execute(
                "SELECT c.id, fts.rank FROM fts JOIN chunks c ON c.rowid = fts.rowid "
                "WHERE fts MATCH ? ORDER BY fts.rank LIMIT ?",
                (match, k),
            )
            .fetchall()
        )
        # FTS5's bm25() is negative (smaller is better); report the usual positive score.
        return [KeywordHit(str(cid), -float(rank)) for cid, rank in rows]


__all__ = ["PUBLIC", "BM25Index", "KeywordHit", "group_token", "tokenize"]
