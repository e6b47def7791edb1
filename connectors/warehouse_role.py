"""Is the warehouse login really read-only? Checked wherever a warehouse URL is opened.

Read-only is a promise to the people whose data is in the warehouse, so it is not left to a
session setting (``default_transaction_read_only`` can be switched off by any session): the
role itself must be unable to write. A superuser, or a role that may insert, update, delete or
truncate any table, create objects in a schema or the database, or create temporary tables,
is refused unless the operator explicitly allows it, and then it is logged loudly.

SQLite warehouses are opened with ``mode=ro`` and need no check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from connectors.errors import ConnectorUnavailable, InvalidRequest

log = logging.getLogger(__name__)

PROVISIONING_HINT = "connect as a read-only role (README: 'PostgreSQL warehouse')"


class WritableWarehouseRole(InvalidRequest):
    """The warehouse login could change data; refused unless explicitly allowed."""


@dataclass(frozen=True)
class RoleReport:
    role: str
    superuser: bool
    capabilities: tuple[str, ...]  # what the role could write, e.g. "INSERT on public.orders"

    @property
    def writable(self) -> bool:
        return self.superuser or bool(self.capabilities)

    def summary(self) -> str:
        if self.superuser:
            return f"role {self.role!r} is a superuser"
        shown = ", ".join(self.capabilities[:3])
        more = f" and {len(self.capabilities) - 3} more" if len(self.capabilities) > 3 else ""
        return f"role {self.role!r} can write ({shown}{more})"


def normalise_url(url: str) -> str:
    """``postgres://`` (Heroku, many PaaS) → ``postgresql://``; everything else unchanged."""
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://") :]
    return url


def is_postgres(url: str) -> bool:
    try:
        return make_url(normalise_url(url)).get_backend_name() == "postgresql"
    except ArgumentError:
        return False


def libpq_dsn(url: str) -> str:
    """The URL as psycopg wants it (no SQLAlchemy driver suffix)."""
    u = make_url(normalise_url(url))
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


# Catalog queries; they only read, so they run inside a read-only transaction too.
_ROLE_SQL = "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
_TABLE_SQL = """
SELECT n.nspname || '.' || c.relname, p.priv
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN (VALUES ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE')) AS p(priv)
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  AND has_table_privilege(c.oid, p.priv)
ORDER BY 1, 2
LIMIT 50
"""
_SCHEMA_SQL = """
SELECT nspname FROM pg_namespace
WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%'
  AND has_schema_privilege(oid, 'CREATE')
ORDER BY 1
"""
_DATABASE_SQL = """
SELECT has_database_privilege(current_database(), 'CREATE'),
       has_database_privilege(current_database(), 'TEMPORARY')
"""


def inspect_postgres_role(url: str, *, connect_timeout: int = 10) -> RoleReport:
    """What the login in ``url`` may write (a short read-only session)."""
    import psycopg  # local: only PostgreSQL warehouses need the driver

    try:
        con = psycopg.connect(libpq_dsn(url), connect_timeout=connect_timeout, autocommit=True)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConnectorUnavailable(f"cannot connect to the warehouse: {first}") from exc
    with con:
        row = con.execute(_ROLE_SQL).fetchone()
        if row is None:  # pragma: no cover - current_user always has a pg_roles row
            raise ConnectorUnavailable("the warehouse did not report the current role")
        role, superuser = str(row[0]), bool(row[1])
        caps = [f"{priv} on {table}" for table, priv in con.execute(_TABLE_SQL).fetchall()]
        caps += [f"CREATE in schema {s}" for (s,) in con.execute(_SCHEMA_SQL).fetchall()]
        db_row = con.execute(_DATABASE_SQL).fetchone()
        if db_row is not None and db_row[0]:
            caps.append("CREATE on the database")
        if db_row is not None and db_row[1]:
            caps.append("TEMPORARY tables")
    return RoleReport(role, superuser, tuple(caps))


def guard_warehouse_url(url: str, *, allow_writable_role: bool = False) -> str:
    """The URL to open (``postgres://`` accepted), after checking its role cannot write.

    Raises :class:`WritableWarehouseRole` (one line, says how to fix it) for a superuser or a
    write-capable role; with ``allow_writable_role`` logs a warning instead.
    """
    url = normalise_url(url)
    if not is_postgres(url):
        return url
    report = inspect_postgres_role(url)
    if not report.writable:
        return url
    if not allow_writable_role:
        raise WritableWarehouseRole(
            f"refusing the warehouse login: {report.summary()}; {PROVISIONING_HINT}, "
            "or pass --allow-writable-role (CHAMBERLAIN_WAREHOUSE_ALLOW_WRITABLE_ROLE=1) to accept the risk"
        )
    log.warning(
        "WAREHOUSE IS NOT READ-ONLY: %s. Only the SQL guard and read-only transactions now stand "
        "between a query and a write; %s.",
        report.summary(),
        PROVISIONING_HINT,
    )
    return url


__all__ = [
    "PROVISIONING_HINT",
    "RoleReport",
    "WritableWarehouseRole",
    "guard_warehouse_url",
    "inspect_postgres_role",
    "is_postgres",
    "libpq_dsn",
    "normalise_url",
]
