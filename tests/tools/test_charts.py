"""Charts: numeric COUNT(*) columns, a title, labelled axes, readable ticks, the query shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.warehouse import QueryResult
from tools.analytics import ChartSpec, auto_chart, draw_chart


def _result(n: int, types: tuple[str, str] = ("text", "unknown")) -> QueryResult:
    rows = tuple((f"customer number {i} with a long name", i * 3) for i in range(n))
    return QueryResult(
        ("customer", "COUNT(*)"), types, rows, False, 1.0, sql="SELECT customer, COUNT(*) FROM t GROUP BY 1"
    )


def test_count_star_without_a_declared_type_is_numeric() -> None:
    spec = auto_chart(_result(5))
    assert spec is not None and spec.y == ["COUNT(*)"] and spec.x == "customer"


@pytest.mark.parametrize("rows", [3, 40, 500])
def test_chart_has_title_axes_query_and_few_ticks(rows: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    saved: list[Figure] = []
    real = Figure.savefig

    def keep(self: Figure, *a: object, **k: object) -> None:
        saved.append(self)
        real(self, *a, **k)

    monkeypatch.setattr(Figure, "savefig", keep)
    out = tmp_path / "c.png"
    draw_chart(out, _result(rows), ChartSpec(kind="bar"), title="Orders per customer")
    assert out.stat().st_size > 1000
    fig = saved[0]
    ax = fig.axes[0]
    assert ax.get_title() == "Orders per customer"
    assert ax.get_xlabel() == "customer" and ax.get_ylabel() == "COUNT(*)"
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert 1 <= len(labels) <= 26 and all(len(lb) <= 18 for lb in labels)
    assert any("query: SELECT customer" in t.get_text() for t in fig.texts)
