"""PostgreSQL roles that enforce the data-access policy inside the database.

Each data-access profile (the set of policy roles a person holds) gets one PostgreSQL role
holding exactly what :mod:`policies.data_access` grants: ``GRANT SELECT ON t`` for a table
granted in full, ``GRANT SELECT (c1, c2) ON t`` for a column-restricted one (an ``exclude:``
rule becomes the list of the table's other columns). A profile of several policy roles is a
role that inherits from each of theirs, so PostgreSQL grants the union, as the guard does.

The assistant logs in as one ``NOINHERIT`` role that is a member of every profile role but
holds no table privilege itself: each query runs under ``SET LOCAL ROLE <profile>`` inside its
read-only transaction (:class:`connectors.warehouse.SqlWarehouse`), so whatever the SQL says,
PostgreSQL reads only what the asker's profile may read.

Pure: builds SQL text from the policy, the directory's role sets and the warehouse columns.
``chamberlain sql roles`` prints it or applies it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence

from policies.data_access import DataAccessPolicy
from policies.sql_guard import TableGrant

ROLE_PREFIX = "chamberlain_"
NO_ACCESS_ROLE = "chamberlain_no_access"
DEFAULT_LOGIN_ROLE = "chamberlain_ro"
_PG_NAME_MAX = 63


def profile_of(roles: Iterable[str], policy: DataAccessPolicy) -> tuple[str, ...]:
    """The policy roles among ``roles`` that grant anything, sorted: one data-access profile."""
    return tuple(sorted({r for r in roles if policy.roles.get(r) is not None and policy.roles[r].tables}))


def role_name(profile: Sequence[str]) -> str:
    """The PostgreSQL role for ``profile`` (a stable name, at most 63 characters)."""
    if not profile:
        return NO_ACCESS_ROLE
    name = ROLE_PREFIX + "__".join(_slug(r) for r in profile)
    if len(name) <= _PG_NAME_MAX:
        return name
    digest = hashlib.sha256("\n".join(profile).encode()).hexdigest()[:16]
    return f"{ROLE_PREFIX}p_{digest}"


def role_for(roles: Iterable[str], policy: DataAccessPolicy) -> str:
    """The PostgreSQL role a person holding ``roles`` queries the warehouse as."""
    return role_name(profile_of(roles, policy))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", text.lower())


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def provisioning_sql(
    policy: DataAccessPolicy,
    columns: Mapping[str, Sequence[str]],
    *,
    profiles: Iterable[Iterable[str]] = (),
    login_role: str = DEFAULT_LOGIN_ROLE,
    schema: str = "public",
    statement_timeout_ms: int = 10_000,
    temp_file_limit: str = "1GB",
) -> list[str]:
    """Idempotent statements that create or reset every profile role and the login role.

    ``columns`` is the warehouse's tables → column names (as introspected); ``profiles`` the
    combinations of policy roles people hold (each single policy role is always included).
    Run as a superuser or the tables' owner. The login role must already exist (with a
    password); these statements strip its own table privileges and make it a member of the
    profile roles.
    """
    tables = {t.lower(): list(cols) for t, cols in columns.items()}
    singles = [(r,) for r in sorted(policy.roles) if profile_of([r], policy)]
    wanted: dict[str, tuple[str, ...]] = {role_name(p): p for p in singles}
    for p in profiles:
        prof = profile_of(p, policy)
        if prof:  # no profile at all is NO_ACCESS_ROLE, created below with nothing granted
            wanted.setdefault(role_name(prof), prof)
    out: list[str] = [f"-- data-access roles for schema {schema}, from the data-access policy"]
    sch = _ident(schema)
    for name in [NO_ACCESS_ROLE, *sorted(wanted)]:
        out.append(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {_literal(name)}) THEN "
            f"CREATE ROLE {_ident(name)} NOLOGIN INHERIT; END IF; END $$"
        )
        # Start from nothing, then grant exactly the profile: re-running follows policy changes.
        out.append(f"REVOKE ALL ON ALL TABLES IN SCHEMA {sch} FROM {_ident(name)}")
        out.append(f"GRANT USAGE ON SCHEMA {sch} TO {_ident(name)}")
    for name, prof in sorted(wanted.items()):
        if len(prof) == 1:
            grants = policy.roles[prof[0]].tables or {}
            for table, grant in sorted(grants.items()):
                out.extend(_grant(name, table, grant, tables, sch))
        else:
            members = ", ".join(_ident(role_name((r,))) for r in prof)
            out.append(f"GRANT {members} TO {_ident(name)}")
    login = _ident(login_role)
    out += [
        "-- the login role: no table privilege of its own; reads only under SET ROLE <profile>",
        f"ALTER ROLE {login} NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS",
        f"ALTER ROLE {login} SET default_transaction_read_only = on",
        f"ALTER ROLE {login} SET statement_timeout = {statement_timeout_ms}",
        f"ALTER ROLE {login} SET temp_file_limit = {_literal(temp_file_limit)}",
        f"ALTER ROLE {login} SET idle_in_transaction_session_timeout = 60000",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {sch} FROM {login}",
        f"REVOKE CREATE ON SCHEMA {sch} FROM {login}",
        # PostgreSQL grants TEMPORARY on every database to PUBLIC; a read-only login needs none.
        "DO $$ BEGIN EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database()); "
        f"EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM %I', current_database(), {_literal(login_role)}); "
        "END $$",
        f"GRANT USAGE ON SCHEMA {sch} TO {login}",
        f"GRANT {', '.join(_ident(n) for n in [NO_ACCESS_ROLE, *sorted(wanted)])} TO {login}",
    ]
    return out


def _grant(role: str, table: str, grant: TableGrant, tables: Mapping[str, list[str]], schema: str) -> list[str]:
    if table not in tables:
        return [f"-- {table}: granted by the policy but not in the warehouse; skipped"]
    target = f"{schema}.{_ident(table)}"
    if not grant.restricted:
        return [f"GRANT SELECT ON {target} TO {_ident(role)}"]
    readable = [c for c in tables[table] if grant.allows(c)]
    if not readable:
        return [f"-- {table}: no column of it is readable; nothing granted"]
    cols = ", ".join(_ident(c) for c in readable)
    return [f"GRANT SELECT ({cols}) ON {target} TO {_ident(role)}"]


__all__ = [
    "DEFAULT_LOGIN_ROLE",
    "NO_ACCESS_ROLE",
    "ROLE_PREFIX",
    "profile_of",
    "provisioning_sql",
    "role_for",
    "role_name",
]
