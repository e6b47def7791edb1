"""Narrators for report tests (loaded by CHAMBERLAIN_REPORT_NARRATOR=module:function)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any


def inventing(report: Any, results: Sequence[tuple[str, Any]]) -> str:
    """A model that makes up a figure."""
    return "Orders rose to 98,765 this week, a record."


def hanging(report: Any, results: Sequence[tuple[str, Any]]) -> str:
    """A narrator that never returns while REPORT_TEST_HANG names an existing file (a crash test)."""
    flag = os.environ.get("REPORT_TEST_HANG", "")
    while flag and os.path.exists(flag):
        time.sleep(0.1)
    from agent.workflows.reports import summary_narrative

    return summary_narrative(report, results)
