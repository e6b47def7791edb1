"""Load the demo warehouse into PostgreSQL (``chamberlain warehouse load --url postgresql://…``).

The same deterministic data as the embedded SQLite warehouse (``warehouse_gen``), written with
COPY in one transaction: a failure or Ctrl-C leaves the database as it was. Existing demo tables
are never dropped unless asked (``replace=True``); other tables are never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from connectors.demo.warehouse_gen import TABLE_ORDER, TABLES, Person, ddl, generate_data
from connectors.errors import ConnectorUnavailable, InvalidRequest
from connectors.warehouse_role import is_postgres, libpq_dsn

# (table, rows written so far in that table, rows in that table)
LoadProgress = Callable[[str, int, int], None]

_ROLE_NAME = r"^[a-z_][a-z0-9_]{0,62}$"


@dataclass(frozen=True)
class LoadResult:
    database: str  # host:port/db, no credentials
    seed: int
    rows: Mapping[str, int]
    replaced: tuple[str, ...]
    granted_to: str | None


def load_demo_warehouse(
    url: str,
    *,
    people: Iterable[Person],
    seed: int = 7,
    scale: float = 1.0,
    replace: bool = False,
    grant_select_to: str | None = None,
    progress: LoadProgress | None = None,
) -> LoadResult:
    """Create and fill the demo tables in the PostgreSQL database at ``url``.

    ``grant_select_to`` names the read-only role Chamberlain will connect as; it gets
    ``SELECT`` on the new tables (and nothing else).
    """
    import re

    import psycopg
    from psycopg import sql

    if not is_postgres(url):
        raise InvalidRequest(
            "warehouse load needs a PostgreSQL URL, e.g. postgresql://loader@db.example:5432/warehouse "
            "(the embedded SQLite warehouse is generated with: chamberlain sql generate)"
        )
    if not 0 < scale <= 10:
        raise InvalidRequest(f"--scale must be between 0 and 10, got {scale}")
    if grant_select_to is not None and not re.fullmatch(_ROLE_NAME, grant_select_to):
        raise InvalidRequest(f"--grant-select-to needs a plain role name like chamberlain_ro, got {grant_select_to!r}")
    dsn = libpq_dsn(url)
    try:
        con = psycopg.connect(dsn, connect_timeout=10)
    except psycopg.OperationalError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConnectorUnavailable(f"cannot connect to {_where(dsn)}: {first}") from exc
    where = _where(dsn)
    data = generate_data(people=people, seed=seed, scale=scale)
    try:
        with con, con.cursor() as cur:  # one transaction: committed at the end, rolled back on error
            existing = [
                r[0]
                for r in cur.execute(
                    "SELECT table_name FROM information_schema.tables"
                    " WHERE table_schema = current_schema() AND table_name = ANY(%s)",
                    (list(TABLE_ORDER),),
                ).fetchall()
            ]
            if existing and not replace:
                raise InvalidRequest(
                    f"{where} already has demo tables ({', '.join(sorted(existing))}); "
                    "pass --replace to drop and reload them"
                )
            for table in reversed(TABLE_ORDER):
                if table in existing:
                    cur.execute(sql.SQL("DROP TABLE {} CASCADE").format(sql.Identifier(table)))
            for stmt in ddl("postgres"):
                cur.execute(stmt.encode())  # our own fixed DDL, not input
            for table in TABLE_ORDER:
                rows = data[table]
                cols = sql.SQL(", ").join(sql.Identifier(c[0]) for c in TABLES[table][1])
                copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), cols)
                with cur.copy(copy_sql) as copy:
                    for i, row in enumerate(rows, 1):
                        copy.write_row(row)
                        if progress is not None and i % 5000 == 0:
                            progress(table, i, len(rows))
                if progress is not None:
                    progress(table, len(rows), len(rows))
            if grant_select_to is not None:
                exists = cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (grant_select_to,)).fetchone()
                if exists is None:
                    raise InvalidRequest(
                        f"role {grant_select_to!r} does not exist in {where}; create it first (README: "
                        "'PostgreSQL warehouse')"
                    )
                tables = sql.SQL(", ").join(sql.Identifier(t) for t in TABLE_ORDER)
                cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(tables, sql.Identifier(grant_select_to)))
            cur.execute("ANALYZE")
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InvalidRequest(f"loading the demo warehouse into {where} failed: {first}") from exc
    finally:
        con.close()
    return LoadResult(where, seed, {t: len(data[t]) for t in TABLE_ORDER}, tuple(sorted(existing)), grant_select_to)


def _where(dsn: str) -> str:
    """host:port/db for messages, never the password."""
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(dsn)
    return f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


__all__ = ["LoadProgress", "LoadResult", "load_demo_warehouse"]
