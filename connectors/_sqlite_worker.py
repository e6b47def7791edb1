"""The SQLite query worker: a child process that runs one read-only query at a time.

Started by :class:`connectors.query_workers.SqliteWorkerPool` as ``python -I -S this_file``
(stdlib only, no site-packages: it starts in milliseconds and trusts nothing on the path).
The parent kills it at the deadline plus a grace period, which bounds even a single function
call that runs inside one VM step where SQLite's progress handler never fires. Inside, each
query meets the database's own limits:

- the file opened ``mode=ro`` with ``PRAGMA query_only``; an authorizer that denies writes,
  DDL, ATTACH, pragmas, catalog reads and risky functions, and every read of a (table, column)
  outside the asker's scope — SQLite reports the real table and column for every read, through
  aliases, subqueries, views and ``*``, so no spelling of the query gets around it;
- ``SQLITE_LIMIT_LENGTH`` / ``LIKE_PATTERN_LENGTH`` / ``EXPR_DEPTH`` lowered to what analytics
  needs, ``PRAGMA hard_heap_limit`` on SQLite's heap, temp storage in that heap (no temp files);
- ``RLIMIT_AS`` on the whole process and ``RLIMIT_FSIZE=0`` (it can write no file at all);
- the result counted in bytes while it is fetched: fetching stops at the cap.

Wire format, both ways: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import struct
import sys
import time
from typing import Any

_HEADER = struct.Struct(">I")
_DENIED_FUNCTIONS = frozenset(
    {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "sqlite_dbpage", "randomblob",
     "zeroblob", "sqlite_version", "sqlite_source_id", "sqlite_compileoption_get", "sqlite_compileoption_used",
     "sqlite_offset", "changes", "total_changes", "last_insert_rowid", "json_each", "json_tree"}
)  # fmt: skip
_READ_ACTIONS = (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE)


class _Scope:
    """Which (table, column) reads the current query may make; records the first refusal.

    SQLite also reports reads of a CTE's columns under the CTE's name: names that are not
    tables or views of the file are left alone (the reads inside the CTE are checked as base
    reads). A CTE named like a real table is held to that table's rule.
    """

    def __init__(self, spec: dict[str, Any] | None, real: frozenset[str]) -> None:
        self.real = real
        self.tables: dict[str, tuple[frozenset[str] | None, frozenset[str]]] | None = None
        if spec is not None:
            self.tables = {
                t.lower(): (
                    None if rule.get("columns") is None else frozenset(c.lower() for c in rule["columns"]),
                    frozenset(c.lower() for c in rule.get("excluded") or ()),
                )
                for t, rule in spec.items()
            }
        self.denied: tuple[str, str] | None = None

    def allows(self, table: str, column: str) -> bool:
        t = table.lower()
        if t.startswith("sqlite_"):
            return False
        if self.tables is None or t not in self.real:
            return True
        rule = self.tables.get(t)
        if rule is None:
            return False
        columns, excluded = rule
        c = column.lower()
        if not c:  # a read that names no column (e.g. COUNT(*) over the table)
            return True
        return (columns is None or c in columns) and c not in excluded


def _authorizer(scope: _Scope) -> Any:
    def check(action: int, arg1: str | None, arg2: str | None, _db: str | None, _source: str | None) -> int:
        if action == sqlite3.SQLITE_READ:
            if scope.allows(arg1 or "", arg2 or ""):
                return sqlite3.SQLITE_OK
            if scope.denied is None:
                scope.denied = (arg1 or "", arg2 or "")
            return sqlite3.SQLITE_DENY
        if action in _READ_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION:
            return sqlite3.SQLITE_DENY if (arg2 or "").lower() in _DENIED_FUNCTIONS else sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY  # writes, DDL, ATTACH, PRAGMA, transactions, ...

    return check


class _Connections:
    """Open read-only connections by file, reopened when the file is replaced."""

    def __init__(self, limits: dict[str, int]) -> None:
        self.limits = limits
        self.open: dict[str, tuple[tuple[int, int, int], sqlite3.Connection, frozenset[str]]] = {}

    def get(self, path: str) -> tuple[sqlite3.Connection, frozenset[str]]:
        """The connection to ``path`` and the names of its tables and views (lower case)."""
        st = os.stat(path)  # FileNotFoundError is reported to the parent
        key = (st.st_dev, st.st_ino, st.st_mtime_ns)
        cached = self.open.get(path)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        if cached is not None:
            cached[1].close()
        if len(self.open) >= 8:
            _, (_, old, _) = self.open.popitem()
            old.close()
        uri = "file:" + path.replace("?", "%3f").replace("#", "%23") + "?mode=ro"
        con = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA temp_store = MEMORY")  # sorts and temp b-trees in the bounded heap
        con.execute("PRAGMA query_only = ON")
        real = frozenset(
            str(r[0]).lower() for r in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
        ) | {"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"}
        if hasattr(con, "enable_load_extension"):
            con.enable_load_extension(False)
        con.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, self.limits["value_bytes"])
        con.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, self.limits["like_pattern"])
        con.setlimit(sqlite3.SQLITE_LIMIT_EXPR_DEPTH, self.limits["expr_depth"])
        con.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, self.limits["sql_length"])
        con.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 0)
        self.open[path] = (key, con, real)
        return con, real


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value) if value.isascii() else 4 * len(value)
    if isinstance(value, bytes):
        return 2 * len(value)  # sent as hex
    return 8


def _run(conns: _Connections, job: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    deadline = time.monotonic() + float(job["timeout_s"])
    max_rows, max_bytes = int(job["max_rows"]), int(job["max_bytes"])
    try:
        con, real = conns.get(job["path"])
    except OSError as exc:
        return {"ok": False, "kind": "unavailable", "error": f"cannot open the warehouse file: {exc.strerror or exc}"}
    scope = _Scope(job.get("scope"), real)
    con.set_authorizer(_authorizer(scope))
    parent = os.getppid()

    def progress() -> int:
        # Stop at the deadline, or as soon as the parent is gone (nobody will read the answer).
        return 1 if time.monotonic() > deadline or os.getppid() != parent else 0

    con.set_progress_handler(progress, 1000)
    cur = con.cursor()
    try:
        cur.execute(job["sql"])
        if cur.description is None:
            return {"ok": False, "kind": "db", "error": "the statement returned no rows; only queries may run"}
        columns = [str(d[0]) for d in cur.description]
        rows: list[list[Any]] = []
        size = 0
        capped = ""
        while not capped:
            batch = cur.fetchmany(256)
            if not batch:
                break
            for row in batch:
                out = [v.hex() if isinstance(v, bytes) else v for v in row]
                size += sum(_size(v) for v in row)
                if size > max_bytes:
                    capped = "bytes"
                    break
                rows.append(out)
                if len(rows) > max_rows:
                    capped = "rows"
                    break
        return {
            "ok": True,
            "columns": columns,
            "rows": rows,
            "capped": capped,
            "bytes": size,
            "elapsed_ms": (time.perf_counter() - started) * 1000,
        }
    except sqlite3.Error as exc:
        message = str(exc)
        if scope.denied is not None:
            return {"ok": False, "kind": "denied", "error": message, "denied": list(scope.denied)}
        lowered = message.lower()
        if "interrupted" in lowered:
            return {"ok": False, "kind": "timeout", "error": message}
        if "out of memory" in lowered or "too big" in lowered:
            return {"ok": False, "kind": "memory", "error": message}
        return {"ok": False, "kind": "db", "error": message}
    except MemoryError:
        return {"ok": False, "kind": "memory", "error": "the worker ran out of memory"}
    finally:
        cur.close()
        con.set_progress_handler(None, 0)
        con.set_authorizer(None)


def _peak_rss_kb() -> int:
    # VmHWM is this process image's peak (ru_maxrss would include the parent's, from before exec).
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _read(stream: Any, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def main(argv: list[str]) -> int:
    config = json.loads(argv[1]) if len(argv) > 1 else {}
    address_space = int(config.get("address_space_bytes", 0))
    if address_space > 0:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    heap = int(config.get("heap_bytes", 256 << 20))
    limits = {
        "value_bytes": int(config.get("value_bytes", 1_000_000)),
        "like_pattern": int(config.get("like_pattern", 1000)),
        "expr_depth": int(config.get("expr_depth", 500)),
        "sql_length": int(config.get("sql_length", 100_000)),
    }
    conns = _Connections(limits)
    sqlite3.connect(":memory:").execute(f"PRAGMA hard_heap_limit = {heap}")  # process-wide
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stdout.write(_HEADER.pack(2) + b"{}")  # ready
    stdout.flush()
    while True:
        head = _read(stdin, _HEADER.size)
        if head is None:
            return 0  # the parent closed the pipe: exit quietly
        body = _read(stdin, _HEADER.unpack(head)[0])
        if body is None:
            return 0
        try:
            reply = _run(conns, json.loads(body))
            reply["rss_kb"] = _peak_rss_kb()
            data = json.dumps(reply, default=str).encode()
        except MemoryError:
            data = b'{"ok": false, "kind": "memory", "error": "the worker ran out of memory"}'
        stdout.write(_HEADER.pack(len(data)) + data)
        stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
