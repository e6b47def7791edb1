"""Small argument helpers shared by the fake's server and its Web API methods."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = json.loads(value)
    return list(value) if isinstance(value, Sequence) else []


def _json(value: Any) -> Any:
    """A JSON argument as sent (form bodies carry it as a string); ValueError if unparsable."""
    return json.loads(value) if isinstance(value, str) else value


def _invalid(error: str, errors: list[str]) -> dict[str, Any]:
    return {
        "ok": False,
        "error": error,
        "errors": errors,
        "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
    }


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return dict(value) if isinstance(value, Mapping) else {}


def _pop(queue: deque[Any] | None) -> Any:
    return queue.popleft() if queue else None


def _now() -> float:
    return time.monotonic()
