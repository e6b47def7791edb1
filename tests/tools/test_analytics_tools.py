"""Analytics tools end to end on the demo warehouse: schema description, guarded queries,
rendering (table, CSV, PNG), errors the model can fix, and the demo question's numbers."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from connectors.demo.company import REGIONS
from connectors.demo.warehouse_gen import generate_data
from connectors.warehouse import SqlWarehouse
from policies.directory import Directory
from policies.sql_guard import AllowList
from tests.warehouse_fixtures import SEED, demo_warehouse_path, demo_warehouse_url
from tools.analytics import analytics_tools, format_table
from tools.base import Effect, Tool, ToolContext, ToolRegistry
from tools.errors import ToolFailure, ToolInputError

__all__ = ["demo_warehouse_path", "demo_warehouse_url"]  # fixtures used here

DEMO_QUESTION = "What were 2025 Q3 net sales by region, excluding returns?"
DEMO_SQL = """
SELECT rg.name AS region, ROUND(SUM(oi.net_amount - COALESCE(rt.refund_amount, 0)), 2) AS net_sales
FROM orders o
JOIN order_items oi ON oi.order_id = o.order_id
LEFT JOIN returns rt ON rt.order_item_id = oi.order_item_id
JOIN regions rg ON rg.region_code = o.region_code
WHERE o.status = 'completed' AND o.order_date >= '2025-07-01' AND o.order_date < '2025-10-01'
GROUP BY rg.name
ORDER BY net_sales DESC
"""

# The answer, as the scripted-model trajectory should report it (seed 7).
DEMO_EXPECTED = {
    "North America West": 127_096_518.98,
    "North America East": 104_663_070.67,
    "Europe, Middle East & Africa": 103_664_867.95,
    "Asia Pacific": 87_862_513.46,
    "Latin America": 51_317_400.78,
}

DIRECTORY = Directory.load()


@pytest.fixture(scope="module")
def tools(demo_warehouse_url: str) -> Any:
    wh = SqlWarehouse(demo_warehouse_url)
    describe, run = analytics_tools(wh, max_rows=50)
    yield describe, run
    wh.close()


def ctx(user: str, artifacts: Path | None = None, thread: str = "t") -> ToolContext:
    return ToolContext(principal=DIRECTORY.get(user), thread_id=thread, artifacts_dir=artifacts)


def call(tool: Tool[Any, Any], args: dict[str, Any], context: ToolContext) -> Any:
    return tool.fn(tool.parse_args(args), context)


def python_net_sales_2025_q3() -> dict[str, float]:
    """The demo answer computed from the generator's rows, independently of SQL."""
    data = generate_data(people=Directory.load(), seed=SEED)
    refunds = {r[1]: r[4] for r in data["returns"]}
    orders = {o[0]: o for o in data["orders"]}
    totals: dict[str, float] = defaultdict(float)
    for item_id, order_id, _p, _q, _u, _d, net in data["order_items"]:
        o = orders[order_id]
        if o[5] == "completed" and "2025-07-01" <= o[1] < "2025-10-01":
            totals[o[3]] += net - refunds.get(item_id, 0.0)
    names = dict(REGIONS)
    return {names[code]: round(v, 2) for code, v in totals.items()}


def test_tools_are_reads_and_query_output_is_untrusted(tools: Any) -> None:
    describe, run = tools
    registry = ToolRegistry(tools)
    assert registry.names() == ["describe_schema", "run_query"]
    assert describe.effect is Effect.READ and run.effect is Effect.READ
    assert run.untrusted_output and not describe.untrusted_output


def test_demo_question_end_to_end(tools: Any, tmp_path: Path) -> None:
    describe, run = tools
    schema = call(describe, {"question": DEMO_QUESTION}, ctx("u_priya"))
    shown = [t.name for t in schema.tables]
    assert {"orders", "order_items", "returns", "regions"} <= set(shown)
    result = call(run, {"sql": DEMO_SQL, "title": "2025 Q3 net sales by region"}, ctx("u_priya", tmp_path))
    got = {row[0]: row[1] for row in result.rows}
    assert got == pytest.approx(DEMO_EXPECTED, abs=0.01)
    assert got == pytest.approx(python_net_sales_2025_q3(), abs=0.01)
    assert not result.truncated and result.row_count == 5
    assert [c.type for c in result.columns] == ["text", "number"]
    assert "North America West" in result.table and "127,096,518.98" in result.table
    with open(result.csv_path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["region", "net_sales"] and len(rows) == 6
    # One label column and one number: a chart clearly fits, so one was drawn.
    assert result.chart_path and Path(result.chart_path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_schema_shows_only_what_the_asker_may_read(tools: Any) -> None:
    describe, _ = tools
    priya = call(describe, {"tables": ["employees"]}, ctx("u_priya"))
    cols = [c.name for c in priya.tables[0].columns]
    assert "salary" not in cols and "name" in cols
    hannah = call(describe, {"tables": ["employees"]}, ctx("u_hannah"))
    assert "salary" in [c.name for c in hannah.tables[0].columns]
    with pytest.raises(ToolInputError, match="unknown or unreadable table"):
        call(describe, {"tables": ["employees"]}, ctx("u_alice"))
    with pytest.raises(ToolInputError, match="no warehouse tables"):
        call(describe, {"question": "anything"}, ctx("u_casey"))
    alice = call(describe, {"question": "top customers by revenue"}, ctx("u_alice"))
    assert "employees" not in [t.name for t in alice.tables] + alice.other_tables


def test_the_model_reads_the_schema_as_one_line_per_column_with_every_fact_of_the_json(tools: Any) -> None:
    describe, _ = tools
    result = call(describe, {"question": "net sales by region", "max_tables": 3}, ctx("u_priya"))
    text = result.for_model()
    assert len(text) < 0.75 * len(result.model_dump_json(exclude_none=True))
    lines = text.splitlines()
    assert lines[0] == f"dialect: sqlite; results are cut at {result.max_rows} rows"
    for table in result.tables:
        assert f"table {table.name}: {table.description}" in lines
        for col in table.columns:
            key = f", {col.key}" if col.key else ""
            assert f"- {col.name} {col.type}{key}: {col.description}" in lines
    assert lines[-1].endswith(", ".join(result.other_tables)) and "salary" not in text


def test_guard_rejections_and_database_errors_go_back_to_the_model(tools: Any) -> None:
    _, run = tools
    with pytest.raises(ToolInputError, match="column salary is not readable"):
        call(run, {"sql": "SELECT name, salary FROM employees"}, ctx("u_priya", thread="a"))
    with pytest.raises(ToolInputError, match="table employees is not readable"):
        call(run, {"sql": "SELECT name FROM employees"}, ctx("u_alice", thread="a"))
    with pytest.raises(ToolInputError, match="no such column: revenue"):
        call(run, {"sql": "SELECT revenue FROM orders"}, ctx("u_alice", thread="a"))
    ok = call(run, {"sql": "SELECT name, salary FROM employees ORDER BY salary DESC"}, ctx("u_hannah", thread="a"))
    assert ok.rows[0][1] > 0 and ok.truncated  # 185 employees, row cap 50


def test_failed_queries_are_bounded_per_conversation(tools: Any) -> None:
    _, run = tools
    bad = {"sql": "SELECT nope FROM orders"}
    for _ in range(3):
        with pytest.raises(ToolInputError):
            call(run, bad, ctx("u_alice", thread="loop"))
    with pytest.raises(ToolFailure, match="queries in a row failed"):
        call(run, bad, ctx("u_alice", thread="loop"))
    # Another conversation is unaffected, and a success resets the count.
    with pytest.raises(ToolInputError):
        call(run, bad, ctx("u_alice", thread="other"))
    call(run, {"sql": "SELECT 1 AS one"}, ctx("u_alice", thread="other"))


def test_allow_list_override_and_explicit_chart(tools: Any, tmp_path: Path) -> None:
    _, run = tools
    narrow = ToolContext(
        principal=DIRECTORY.get("u_marcus"), thread_id="x", artifacts_dir=tmp_path,
        extras={"warehouse_allow_list": AllowList.of({"regions": None})},
    )  # fmt: skip
    with pytest.raises(ToolInputError, match="table orders is not readable"):
        call(run, {"sql": "SELECT COUNT(*) FROM orders"}, narrow)
    res = call(
        run,
        {"sql": "SELECT strftime('%Y', order_date) AS year, COUNT(*) AS orders FROM orders GROUP BY 1",
         "chart": {"kind": "line", "x": "year", "y": ["orders"]}},
        ctx("u_alice", tmp_path),
    )  # fmt: skip
    assert [r[0] for r in res.rows] == ["2023", "2024", "2025"]
    assert res.chart_path and Path(res.chart_path).stat().st_size > 1000
    with pytest.raises(ToolInputError, match="could not draw the chart"):
        call(run, {"sql": "SELECT region_code FROM regions", "chart": {"x": "missing"}}, ctx("u_alice", tmp_path))


def test_no_files_without_an_artifacts_dir(tools: Any) -> None:
    _, run = tools
    res = call(run, {"sql": "SELECT region_code, COUNT(*) AS n FROM orders GROUP BY 1"}, ctx("u_alice"))
    assert res.csv_path is None and res.chart_path is None


def test_format_table_is_compact() -> None:
    text = format_table(["name", "amount"], [("a" * 80, 1234.5), ("b", None)] * 15, limit=3, truncated=True)
    lines = text.splitlines()
    assert len(lines) == 6 and "1,234.50" in lines[2] and "…" in lines[2]
    assert lines[-1] == "(30 rows and more, truncated; 3 shown)"
