"""A thread's latest checkpoint is read once per turn (agent/runtime/checkpoints.py ReadOnce)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage

from agent.graph.conversation import build_graph
from agent.runtime.checkpoints import ReadOnce, open_checkpointer


class _Counting:
    """Counts the wrapped saver's reads of a latest checkpoint."""

    def __init__(self, saver: Any) -> None:
        self.reads = 0
        original = saver.get_tuple

        def get_tuple(config: Any) -> Any:
            self.reads += 1
            return original(config)

        saver.get_tuple = get_tuple


def test_a_turn_reads_the_latest_checkpoint_once_and_a_write_makes_it_read_again(tmp_path: Path) -> None:
    with open_checkpointer(f"sqlite:///{tmp_path / 'cp.db'}") as cp:
        counting = _Counting(cp.saver)
        graph = build_graph(ReadOnce(cp.saver))
        config = {"configurable": {"thread_id": "t"}}
        graph.update_state(config, {"messages": [HumanMessage("hi")], "user_id": "u"}, as_node="respond")
        counting.reads = 0
        with ReadOnce.turn():
            first = graph.get_state(config)
            second = graph.get_state(config)
            assert counting.reads == 1  # the second read is the first one's copy
            assert second.values == first.values and second.config == first.config
            graph.update_state(config, {"final": "done"}, as_node="respond")  # a write to the thread
            third = graph.get_state(config)
            assert third.values["final"] == "done"  # read afresh after the write
            reads = counting.reads
        graph.get_state(config)
        graph.get_state(config)
        assert counting.reads == reads + 2  # outside a turn, every read goes to the saver
