"""Test-wide guards and shared fixtures.

- No network: any socket connection to a non-loopback address fails the test. Real model
  calls, Slack, HubSpot and Chroma servers are therefore impossible by construction.
- ``pg_cluster``: one private PostgreSQL server for the whole session (see tests/pg.py).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
for _var in ("ANTHROPIC_API_KEY", "SLACK_BOT_TOKEN", "HUBSPOT_TOKEN"):
    os.environ.pop(_var, None)

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_create_connection = socket.create_connection


def _is_local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode()
    if host in ("localhost", "", "testserver"):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False  # a hostname that is not localhost: never resolved in tests
    return ip.is_loopback or ip.is_unspecified


class NetworkBlocked(RuntimeError):
    pass


def _guard(sock: socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
        raise NetworkBlocked(f"test attempted a network connection to {address!r}")


def _connect(self: socket.socket, address: Any) -> None:
    _guard(self, address)
    return _real_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _guard(self, address)
    return _real_connect_ex(self, address)


socket.socket.connect = _connect  # type: ignore[method-assign]
socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    from tests.pg import start_cluster

    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(pg_cluster: Any) -> str:
    """Admin URL (postgresql://postgres@127.0.0.1:PORT/postgres) of the session's server."""
    return str(pg_cluster.admin_url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def app_engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Any]:
    """An app-database engine on SQLite, then on a fresh database of the session's PostgreSQL."""
    import uuid

    from connectors.appdb import make_engine

    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path}/app.db")
    else:
        import psycopg

        admin = request.getfixturevalue("postgres_url")
        db = "t_" + uuid.uuid4().hex[:10]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {db}")
        eng = make_engine(admin.rsplit("/", 1)[0] + "/" + db)
    yield eng
    eng.dispose()
