"""Token usage and cost of model calls.

:func:`usage_from_message` reads what LangChain put on an ``AIMessage`` (``usage_metadata``,
else Anthropic's raw ``response_metadata["usage"]``) and prices it with a
:class:`~agent.models.pricing.PriceTable`. :class:`UsageAggregator` sums calls per turn or session.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from langchain_core.messages import BaseMessage

from agent.models.pricing import PriceTable, default_price_table

__all__ = ["LATENCY_KEY", "Usage", "UsageAggregator", "usage_from_message"]

LATENCY_KEY = "latency_ms"
"""``response_metadata`` key where :func:`agent.models.chat.invoke_model` stores call latency."""


@dataclass(frozen=True)
class Usage:
    """Tokens and cost of one model call (or a sum of calls).

    ``input_tokens`` are the input tokens billed at the base rate: like Anthropic's own
    ``usage.input_tokens`` they exclude tokens read from or written to the prompt cache.
    """

    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0

    @property
    def total_input_tokens(self) -> int:
        """All prompt tokens: uncached + cache reads + cache writes."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.total_input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        models = sorted({*self.model.split("+"), *other.model.split("+")} - {""})
        return Usage(
            model="+".join(models),
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cost_usd=round(self.cost_usd + other.cost_usd, 10),
            latency_ms=self.latency_ms + other.latency_ms,
        )

    def priced(self, prices: PriceTable) -> Usage:
        """A copy with ``cost_usd`` computed from ``prices``."""
        cost = prices.cost(
            self.model,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
        )
        return replace(self, cost_usd=cost)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _model_name(message: BaseMessage) -> str:
    meta = message.response_metadata or {}
    for key in ("model_name", "model"):
        value = meta.get(key)
        if isinstance(value, str) and value:
            return value
    return "unknown"


def usage_from_message(
    message: BaseMessage,
    *,
    prices: PriceTable | None = None,
    model: str | None = None,
    latency_ms: float | None = None,
) -> Usage:
    """The usage and cost of the call that produced ``message`` (zeros if it carries none).

    ``model`` overrides the name found in ``response_metadata`` (``model_name``/``model``);
    ``latency_ms`` overrides ``response_metadata["latency_ms"]``.
    """
    meta: Mapping[str, Any] = message.response_metadata or {}
    name = model or _model_name(message)
    metadata = getattr(message, "usage_metadata", None)
    if metadata:
        details: Mapping[str, Any] = metadata.get("input_token_details") or {}
        cache_read = _int(details.get("cache_read"))
        # langchain-anthropic zeroes `cache_creation` when it reports the TTL split instead.
        cache_write = (
            _int(details.get("cache_creation"))
            + _int(details.get("ephemeral_5m_input_tokens"))
            + _int(details.get("ephemeral_1h_input_tokens"))
        )
        # LangChain's input_tokens include cache reads and writes; Anthropic's do not.
        uncached = max(0, _int(metadata.get("input_tokens")) - cache_read - cache_write)
        output = _int(metadata.get("output_tokens"))
    else:
        raw = meta.get("usage")
        raw = raw if isinstance(raw, Mapping) else {}
        uncached = _int(raw.get("input_tokens"))
        output = _int(raw.get("output_tokens"))
        cache_read = _int(raw.get("cache_read_input_tokens"))
        cache_write = _int(raw.get("cache_creation_input_tokens"))
    latency = latency_ms if latency_ms is not None else meta.get(LATENCY_KEY, 0.0)
    usage = Usage(
        model=name,
        input_tokens=uncached,
        output_tokens=output,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        latency_ms=float(latency) if isinstance(latency, int | float) else 0.0,
    )
    return usage.priced(prices if prices is not None else default_price_table())


class UsageAggregator:
    """Sums :class:`Usage` records (per turn, per thread, per session). Thread-safe."""

    def __init__(self, records: Iterable[Usage] = ()) -> None:
        self._lock = threading.Lock()
        self._records: list[Usage] = list(records)

    def add(self, usage: Usage) -> Usage:
        """Record one call; returns it, for chaining."""
        with self._lock:
            self._records.append(usage)
        return usage

    @property
    def records(self) -> tuple[Usage, ...]:
        with self._lock:
            return tuple(self._records)

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self._records)

    @property
    def cost_usd(self) -> float:
        return self.total().cost_usd

    def total(self) -> Usage:
        """The sum of all calls; ``model`` joins the distinct model names with ``+``."""
        total = Usage(model="")
        for record in self.records:
            total = total + record
        return total

    def by_model(self) -> dict[str, Usage]:
        """Sums per model name."""
        sums: dict[str, Usage] = {}
        for record in self.records:
            sums[record.model] = sums[record.model] + record if record.model in sums else record
        return sums

    def __len__(self) -> int:
        return self.calls
