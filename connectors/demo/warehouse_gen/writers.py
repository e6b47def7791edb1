"""Writing the demo warehouse: a SQLite file, or a PostgreSQL database, and the module's command line."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from connectors.demo.warehouse_gen.data import Person, generate_data
from connectors.demo.warehouse_gen.schema import TABLE_ORDER, TABLES, Progress, WarehouseStats, ddl


def _insert_sql(table: str, placeholder: str) -> str:
    cols = [c[0] for c in TABLES[table][1]]
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([placeholder] * len(cols))})"


def generate_warehouse(
    path: str | Path,
    *,
    people: Iterable[Person],
    seed: int = 7,
    scale: float = 1.0,
    progress: Progress | None = None,
) -> WarehouseStats:
    """Write the demo warehouse to a SQLite file at ``path`` (replaced atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = generate_data(people=people, seed=seed, scale=scale)
    total = sum(len(v) for v in data.values())
    fd, tmp = tempfile.mkstemp(prefix=".warehouse-", suffix=".sqlite", dir=path.parent)
    os.close(fd)
    try:
        con = sqlite3.connect(tmp)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            with con:
                for stmt in ddl("sqlite"):
                    con.execute(stmt)
                con.execute(
                    "CREATE TABLE _column_comments (table_name TEXT NOT NULL, column_name TEXT NOT NULL,"
                    " comment TEXT NOT NULL, PRIMARY KEY (table_name, column_name))"
                )
                con.executemany(
                    "INSERT INTO _column_comments VALUES (?, ?, ?)",
                    [(t, "", TABLES[t][0]) for t in TABLE_ORDER]
                    + [(t, c[0], c[4]) for t in TABLE_ORDER for c in TABLES[t][1]],
                )
                done = 0
                for table in TABLE_ORDER:
                    rows = data[table]
                    for chunk in _chunks(rows, 20000):
                        con.executemany(_insert_sql(table, "?"), chunk)
                        done += len(chunk)
                        if progress:
                            progress(table, done, total)
            con.execute("ANALYZE")
        finally:
            con.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return WarehouseStats(str(path), seed, {t: len(data[t]) for t in TABLE_ORDER})


def load_postgres(
    url: str,
    *,
    people: Iterable[Person],
    seed: int = 7,
    scale: float = 1.0,
    progress: Progress | None = None,
) -> WarehouseStats:
    """Create the demo tables in the (empty) PostgreSQL database at ``url`` and load them (COPY)."""
    import psycopg  # local: only this path needs the driver

    data = generate_data(people=people, seed=seed, scale=scale)
    total = sum(len(v) for v in data.values())
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn) as con, con.cursor() as cur:
        for stmt in ddl("postgres"):
            cur.execute(stmt)  # our own DDL, not user input
        done = 0
        for table in TABLE_ORDER:
            cols = ", ".join(c[0] for c in TABLES[table][1])
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in data[table]:
                    copy.write_row(row)
            done += len(data[table])
            if progress:
                progress(table, done, total)
        cur.execute("ANALYZE")
    return WarehouseStats(url, seed, {t: len(data[t]) for t in TABLE_ORDER})


def _chunks(rows: Sequence[tuple[Any, ...]], size: int) -> Iterable[Sequence[tuple[Any, ...]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]
