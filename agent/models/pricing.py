"""Model prices (USD per million tokens) and the cost of a call.

The table lives in ``agent/models/pricing.yaml``, versioned with the code::

    table = PriceTable.load()
    table.cost("claude-haiku-4-5-20251001", input_tokens=1200, output_tokens=300, cache_read_tokens=4000)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Price", "PriceTable", "PricingError", "default_price_table"]

_PER_MTOK = 1_000_000
_FIELDS = ("input", "output", "cache_write", "cache_read")


class PricingError(ValueError):
    """The price table is malformed."""


@dataclass(frozen=True)
class Price:
    """USD per million tokens for each kind of token."""

    input: float
    output: float
    cache_write: float  # 5-minute ephemeral cache writes
    cache_read: float

    def cost(
        self,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float:
        """USD for one call; ``input_tokens`` are those billed at the base rate (uncached)."""
        total = (
            input_tokens * self.input
            + output_tokens * self.output
            + cache_read_tokens * self.cache_read
            + cache_write_tokens * self.cache_write
        ) / _PER_MTOK
        return round(total, 10)


@dataclass(frozen=True)
class PriceTable:
    """Prices by model name, with a ``default`` for models it does not know."""

    prices: Mapping[str, Price]
    default: Price

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "<mapping>") -> PriceTable:
        if not isinstance(data, Mapping):
            raise PricingError(f"{source}: expected a mapping of model name to prices")
        prices: dict[str, Price] = {}
        for name, entry in data.items():
            if isinstance(entry, Price):
                prices[str(name)] = entry
                continue
            if not isinstance(entry, Mapping):
                raise PricingError(f"{source}: {name!r} must map {', '.join(_FIELDS)} to numbers")
            missing = [f for f in _FIELDS if f not in entry]
            extra = sorted(set(entry) - set(_FIELDS))
            if missing or extra:
                raise PricingError(
                    f"{source}: {name!r} needs exactly {', '.join(_FIELDS)}"
                    + (f"; missing {', '.join(missing)}" if missing else "")
                    + (f"; unknown {', '.join(extra)}" if extra else "")
                )
            values = {}
            for f in _FIELDS:
                value = entry[f]
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise PricingError(f"{source}: {name}.{f} must be a number, got {value!r}")
                if value < 0 or not math.isfinite(value):
                    raise PricingError(f"{source}: {name}.{f} must be a finite number >= 0")
                values[f] = float(value)
            prices[str(name).strip().lower()] = Price(**values)
        if "default" not in prices:
            raise PricingError(f"{source}: a `default` entry is required for unknown models")
        default = prices.pop("default")
        return cls(prices=prices, default=default)

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        """Read a YAML price table; the packaged ``agent/models/pricing.yaml`` when no path is given."""
        if path is None:
            text = resources.files("agent.models").joinpath("pricing.yaml").read_text(encoding="utf-8")
            source = "agent/models/pricing.yaml"
        else:
            text = Path(path).read_text(encoding="utf-8")
            source = str(path)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PricingError(f"{source}: invalid YAML: {exc}") from exc
        return cls.from_mapping(data or {}, source=source)

    def overridden(self, path: str | Path) -> PriceTable:
        """This table with the entries of an operator's YAML file (``CHAMBERLAIN_PRICING_PATH``)
        replacing or adding to its own; the file needs no ``default`` unless it changes it."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise PricingError(
                f"{path}: cannot read the price table ({exc.strerror}); fix CHAMBERLAIN_PRICING_PATH"
            ) from exc
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise PricingError(f"{path}: invalid YAML: {exc}") from exc
        if not isinstance(data, Mapping):
            raise PricingError(f"{path}: expected a mapping of model name to prices")
        merged = PriceTable.from_mapping(
            {"default": self.default, **data} if "default" not in data else data, source=str(path)
        )
        return PriceTable(prices={**self.prices, **merged.prices}, default=merged.default)

    def lookup(self, model: str) -> Price:
        """The price of ``model``: exact name, else the longest dash-separated prefix, else default.

        ``claude-haiku-4-5-20251001`` finds ``claude-haiku-4-5``; ``claude-opus-45`` would
        not match ``claude-opus-4`` because prefixes only end at a ``-`` or ``[``.
        """
        name = model.strip().lower()
        if name in self.prices:
            return self.prices[name]
        best = ""
        for key in self.prices:
            if len(key) > len(best) and (name.startswith(key + "-") or name.startswith(key + "[")):
                best = key
        return self.prices[best] if best else self.default

    def knows(self, model: str) -> bool:
        """Whether ``model`` has its own entry (rather than falling back to ``default``)."""
        return self.lookup(model) is not self.default

    def cost(
        self,
        model: str,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float:
        """USD for one call of ``model``; ``input_tokens`` excludes cache reads and writes."""
        return self.lookup(model).cost(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read_tokens,
            cache_write_tokens=cache_write_tokens,
        )


@cache
def default_price_table() -> PriceTable:
    """The packaged price table, read once."""
    return PriceTable.load()
