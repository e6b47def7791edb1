"""Statements run on the driver (connectors/appdb/_prepared.py) behave as SQLAlchemy's own: same
stored values, same errors, same transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from connectors.appdb import AuditLog, make_engine
from connectors.appdb._prepared import Prepared
from connectors.appdb._schema import audit_head, audit_log, dedupe_keys, usage_rollup
from connectors.appdb.usage_store import UsageStore, insert_usage

_COLS = [c.name for c in audit_log.columns]


def _row(seq: int, at: datetime, **kw: Any) -> dict[str, Any]:
    base = {"seq": seq, "at": at, "actor": "u1", "event": "e", "thread_id": None, "approval_id": None,
            "data_json": "{}", "prev_hash": "0" * 64, "hash": f"{seq:064d}"}  # fmt: skip
    return {**base, **kw}


def test_rows_written_on_the_driver_read_back_like_sqlalchemys(app_engine: Any) -> None:
    at = datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=UTC)
    fast = Prepared(insert(audit_log), columns=_COLS)
    with app_engine.begin() as c:
        c.execute(insert(audit_log), [_row(1, at)])
        fast.executemany(c, [_row(2, at), _row(3, at.astimezone(timezone(timedelta(hours=2))))])
    with app_engine.connect() as c:
        stored = c.execute(select(audit_log.c.seq, audit_log.c.at).order_by(audit_log.c.seq)).all()
        raw = c.execute(text("SELECT CAST(at AS TEXT) FROM audit_log ORDER BY seq")).scalars().all()
    assert [s for s, _ in stored] == [1, 2, 3]
    assert stored[0][1] == stored[1][1]  # the same value read back, whichever way it was written
    assert raw[0] == raw[1]  # and the same bytes on disk (SQLite stores datetimes as text)
    # A lookup by time through the driver finds a row SQLAlchemy wrote, to the microsecond.
    by_at = Prepared(select(audit_log.c.seq).where(audit_log.c.at == bindparam("at")).order_by(audit_log.c.seq))
    with app_engine.begin() as c:
        assert [r[0] for r in by_at.execute(c, {"at": at}).rows][:2] == [1, 2]


def test_rowcount_rows_and_literal_binds(app_engine: Any) -> None:
    init = Prepared(insert(audit_head).values(id=1, seq=0, hash=bindparam("hash")))
    head = Prepared(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1))
    advance = Prepared(
        update(audit_head)
        .where(audit_head.c.id == 1, audit_head.c.seq == bindparam("prev"))
        .values(seq=bindparam("seq"))
    )
    with app_engine.begin() as c:
        assert head.execute(c).first() is None
        init.execute(c, {"hash": "h0"})
        assert head.execute(c).first() == (0, "h0")
        assert advance.execute(c, {"prev": 0, "seq": 1}).rowcount == 1
        assert advance.execute(c, {"prev": 0, "seq": 2}).rowcount == 0  # compare-and-set missed
        assert head.execute(c).first() == (1, "h0")


def test_driver_errors_are_sqlalchemys_and_roll_the_transaction_back(app_engine: Any) -> None:
    fast = Prepared(insert(dedupe_keys), columns=["key", "at"])
    at = datetime(2026, 12, 3, tzinfo=UTC)
    with app_engine.begin() as c:
        fast.executemany(c, [{"key": "k1", "at": at}])
    with pytest.raises(IntegrityError), app_engine.begin() as c:
        fast.executemany(c, [{"key": "k2", "at": at}])
        fast.executemany(c, [{"key": "k1", "at": at}])  # duplicate key
    with app_engine.connect() as c:
        assert c.execute(select(dedupe_keys.c.key)).scalars().all() == ["k1"]  # k2 rolled back with it


def test_outside_a_transaction_it_goes_through_sqlalchemy(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/app.db")
    store = UsageStore(engine)
    with engine.begin() as c:
        insert_usage(c, [store.request_row("u1", None, groups=["sales"])])
    # ``windows`` reads on a plain connection (no transaction begun): same answer.
    got = store.windows([("user", "u1"), ("group", "sales")])
    assert got[("user", "u1", "day")].requests == 1
    assert got[("group", "sales", "hour")].requests == 1
    with engine.connect() as c:
        assert c.execute(select(usage_rollup.c.requests)).scalars().all() == [1] * 6
    engine.dispose()


def test_a_locked_database_is_sqlalchemys_operational_error(tmp_path: Path) -> None:
    import sqlite3

    from sqlalchemy import event

    engine = make_engine(f"sqlite:///{tmp_path}/app.db")
    engine.dispose()

    @event.listens_for(engine, "connect")
    def _short_wait(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=50")

    holder = sqlite3.connect(tmp_path / "app.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="locked"), engine.begin():
            pass
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    AuditLog(engine).append("after", actor="u1")  # the pool is still usable
    engine.dispose()


def test_a_missing_value_names_the_bind(app_engine: Any) -> None:
    fast = Prepared(insert(dedupe_keys), columns=["key", "at"])
    with pytest.raises(ValueError, match="'at'"), app_engine.begin() as c:
        fast.executemany(c, [{"key": "k1"}])
