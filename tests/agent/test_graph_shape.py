"""Pin the graph's shape: a change to nodes or edges must update this snapshot on purpose."""

from pathlib import Path

from agent.graph.conversation import build_graph

SNAPSHOT = Path(__file__).with_name("graph.mmd")


def test_graph_shape_matches_snapshot() -> None:
    drawn = build_graph().get_graph().draw_mermaid()
    assert SNAPSHOT.exists(), f"write the snapshot: {SNAPSHOT}"
    assert drawn == SNAPSHOT.read_text(), "graph shape changed: review it, then update tests/agent/graph.mmd"
