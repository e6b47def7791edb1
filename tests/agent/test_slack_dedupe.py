"""At-most-once keys, on SQLite and PostgreSQL, under concurrent callers."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from connectors.appdb import DedupeStore as Dedupe
from connectors.appdb import make_engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dedupe.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    eng = make_engine(url)
    yield eng
    eng.dispose()


def test_first_time_is_true_exactly_once_across_threads(engine: Engine) -> None:
    dedupe = Dedupe(engine)
    key = f"event:Ev{uuid.uuid4().hex}"
    results: list[bool] = []
    barrier = threading.Barrier(12)

    def hit() -> None:
        barrier.wait()
        results.append(dedupe.first_time(key))

    threads = [threading.Thread(target=hit) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [False] * 11 + [True]
    # a second Dedupe on the same database (another worker) agrees
    assert Dedupe(engine).first_time(key) is False


def test_forget_lets_a_key_through_again_and_prune_drops_old_keys(engine: Engine) -> None:
    dedupe = Dedupe(engine)
    key = f"decide:{uuid.uuid4().hex}:U0RAJ"
    assert dedupe.first_time(key)
    dedupe.forget(key)
    assert dedupe.first_time(key)
    assert dedupe.prune(older_than=timedelta(seconds=-1)) >= 1
    assert dedupe.first_time(key)


def test_long_keys_are_hashed_not_truncated_into_collisions(engine: Engine) -> None:
    dedupe = Dedupe(engine)
    prefix = "x" * 300 + uuid.uuid4().hex
    assert dedupe.first_time(prefix + "a")
    assert dedupe.first_time(prefix + "b")
    assert not dedupe.first_time(prefix + "a")
    with pytest.raises(ValueError):
        dedupe.first_time("")
