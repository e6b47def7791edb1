import socket

import pytest

from tests.conftest import NetworkBlocked


def test_network_outside_loopback_is_blocked() -> None:
    with socket.socket() as s, pytest.raises(NetworkBlocked):
        s.connect(("203.0.113.7", 443))


def test_postgres_server_starts(postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
