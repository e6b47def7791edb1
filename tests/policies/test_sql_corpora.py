"""The guard against public corpora of real read-only SQL (Spider gold, BIRD model output).

Spider: every gold query is accepted with its own database's tables as the allow-list.
BIRD: model-written SQL in three dialects; every rejection must carry a reason a person would
agree with — the SQL does not parse (and SQLite's own parser agrees for the SQLite ones), holds
several statements or none, or calls a function that does not exist in that dialect.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from policies.sql_guard import AllowList, SqlGuard, normalize_sql

CORPORA = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpora"

# Outside CI a checkout without shared/ beside it skips; in CI (CI=true) a missing corpus fails.
pytestmark = pytest.mark.skipif(
    not (CORPORA / "spider_dev_gold.jsonl").exists() and os.environ.get("CI") != "true",
    reason=f"corpora not found at {CORPORA}",
)

# Functions BIRD models called that do not exist in the dialect they wrote for: hallucinated
# helpers, column names used as calls, and other dialects' functions.
NOT_A_FUNCTION_THERE = {
    "sqlite": {"divide", "subtract", "multiply", "curdate", "now", "string_split", "c", "enrollment",
               "fastestlapspeed", "frpmcount", "charterschool", "freemealcount"},
    "mysql": {"divide", "dividide", "subtract", "multiply", "strftime", "c", "enrollment", "fastestlapspeed",
              "frpmcount", "freemealcount"},
    "postgres": {"divide", "subtract", "multiply", "strftime", "curdate", "enrollment", "fastestlapspeed"},
}  # fmt: skip
AGREEABLE = (
    re.compile(r"^could not parse the query as \w+ SQL"),
    re.compile(r"^exactly one statement is allowed; found \d+$"),
    re.compile(r"^no SQL statement found"),
    re.compile(r"^the query is empty$"),
    re.compile(r"^a SELECT must name what it selects$"),
    re.compile(r"^the query is nested too deeply to (parse|check)$"),
    re.compile(r"^schema-qualified function calls are not allowed"),  # `frpm.Enrollment (K-12)`
    re.compile(r"^table functions in FROM are not allowed"),  # string_split(...) in SQLite
)


def _rows(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (CORPORA / name).read_text(encoding="utf-8").splitlines() if line]


def test_every_spider_gold_query_is_accepted_with_its_own_tables() -> None:
    schemas = json.loads((CORPORA / "spider_dev_schemas.json").read_text(encoding="utf-8"))
    rows = _rows("spider_dev_gold.jsonl")
    rejected = []
    for row in rows:
        schema = schemas[row["db_id"]]
        guard = SqlGuard(row["dialect"], schema=schema)
        verdict = guard.check(row["sql"], AllowList.of(dict.fromkeys(schema)))
        if not verdict.allowed:
            rejected.append((row["sql"], verdict.reasons))
    print(f"\nspider dev gold: {len(rows)} queries, {len(rows) - len(rejected)} accepted, {len(rejected)} rejected")
    assert rows and not rejected, rejected[:5]


def test_bird_model_sql_is_accepted_unless_a_person_would_agree_it_should_not_run() -> None:
    rows = _rows("bird_minidev_llm_sql.jsonl")
    guards = {d: SqlGuard(d) for d in ("sqlite", "postgres", "mysql")}
    accepted: Counter[str] = Counter()
    total: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    unexplained: list[tuple[str, str, tuple[str, ...]]] = []
    sqlite_parse_rejects: list[str] = []
    for row in rows:
        dialect = row["dialect"]
        total[dialect] += 1
        verdict = guards[dialect].check(row["sql"], AllowList.any_table(), source_dialect=dialect)
        if verdict.allowed:
            accepted[dialect] += 1
            continue
        assert verdict.reasons and verdict.sql is None
        for reason in verdict.reasons:
            fn = re.match(r"function (\S+) is not allowed", reason)
            if fn:
                ok = fn.group(1) in NOT_A_FUNCTION_THERE[dialect]
                kind = "function that does not exist in the dialect"
            else:
                ok = any(p.search(reason) for p in AGREEABLE)
                kind = re.sub(r"[:(].*|\d+", "", reason).strip()
            reasons[kind] += 1
            if not ok:
                unexplained.append((dialect, row["sql"][:200], verdict.reasons))
        if dialect == "sqlite" and verdict.reasons[0].startswith("could not parse"):
            sqlite_parse_rejects.append(normalize_sql(row["sql"]))

    print(f"\nBIRD model SQL: {sum(total.values())} queries")
    for d in sorted(total):
        print(f"  {d:9} {accepted[d]:6} accepted of {total[d]:6}")
    print("  rejections by reason:")
    for kind, n in reasons.most_common():
        print(f"    {n:5}  {kind}")
    assert not unexplained, unexplained[:5]
    assert sum(accepted.values()) >= 0.9 * sum(total.values())

    # SQLite's own parser agrees that what we could not parse is not valid SQL.
    con = sqlite3.connect(":memory:")
    disagree = []
    for sql in sqlite_parse_rejects:
        try:
            con.execute(sql)
        except sqlite3.Warning:
            continue  # more than one statement
        except sqlite3.Error as exc:
            if any(s in str(exc) for s in ("syntax error", "incomplete input", "unrecognized token")):
                continue
            disagree.append((sql[:120], str(exc)))
        else:
            disagree.append((sql[:120], "ran"))
    print(
        f"  SQLite agrees on {len(sqlite_parse_rejects) - len(disagree)} of {len(sqlite_parse_rejects)}"
        " parse rejections"
    )
    assert len(disagree) <= 0.05 * len(sqlite_parse_rejects), disagree
