"""Trace spans for every layer, exported over OTLP when configured; free when not.

One process-wide tracer provider, owned here (not OpenTelemetry's global one, which can be set
only once per process: tests install an in-memory exporter and remove it again). Until
:func:`install` is called, :func:`span` yields a shared non-recording span and does no work, so
instrumented code costs a generator frame and nothing else.

Every layer may use this module (connectors import nothing else of ours, so this is the
lowest place it can live); :mod:`agent.observability.telemetry` decides from settings whether and where to
export, and holds the GenAI-specific helpers.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode

_INSTRUMENTATION = "chamberlain"
_state: dict[str, Any] = {"provider": None, "tracer": None, "capture_content": False}

AttrValue = str | bool | int | float | list[str] | list[int] | list[float]
# Span name -> callback(seconds, attributes, failed): how metrics see spans of lower layers
# without those layers importing the metrics module.
_observers: dict[str, Callable[[float, Mapping[str, Any], bool], None]] = {}


def observe(name: str, callback: Callable[[float, Mapping[str, Any], bool], None]) -> None:
    """Call ``callback(seconds, attributes, failed)`` whenever a span called ``name`` ends,
    traced or not."""
    _observers[name] = callback


def install(provider: Any, *, capture_content: bool = False) -> None:
    """Trace from now on with ``provider`` (an ``opentelemetry.sdk.trace.TracerProvider``)."""
    _state["provider"] = provider
    _state["tracer"] = provider.get_tracer(_INSTRUMENTATION)
    _state["capture_content"] = capture_content


def uninstall() -> Any:
    """Stop tracing; returns the provider that was installed (the caller shuts it down)."""
    provider = _state["provider"]
    _state.update(provider=None, tracer=None, capture_content=False)
    return provider


def enabled() -> bool:
    return _state["tracer"] is not None


def capture_content() -> bool:
    """Whether spans may carry (redacted) prompt/answer/argument text: an explicit opt-in."""
    return bool(_state["capture_content"])


def _ns(at: datetime | None) -> int | None:
    return int(at.timestamp() * 1_000_000_000) if at is not None else None


def span(
    name: str,
    attributes: Mapping[str, AttrValue | None] | None = None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    start_time: datetime | None = None,
) -> contextlib.AbstractContextManager[Span]:
    """A child of the current span; exceptions mark it as an error and propagate."""
    if _state["tracer"] is None and name not in _observers:
        return _NOOP  # tracing off: one dict lookup, no generator, no allocation
    return _span(name, attributes, kind, start_time)


class _Noop(contextlib.AbstractContextManager[Span]):
    def __enter__(self) -> Span:
        return INVALID_SPAN

    def __exit__(self, *exc: object) -> None:
        return None


_NOOP = _Noop()


@contextlib.contextmanager
def _span(
    name: str,
    attributes: Mapping[str, AttrValue | None] | None,
    kind: SpanKind,
    start_time: datetime | None,
) -> Iterator[Span]:
    tracer = _state["tracer"]
    observer = _observers.get(name)
    attrs = {k: v for k, v in (attributes or {}).items() if v is not None}
    started, failed = time.perf_counter(), False
    try:
        if tracer is None:
            yield INVALID_SPAN
        else:
            with tracer.start_as_current_span(
                name, kind=kind, attributes=attrs, start_time=_ns(start_time), record_exception=True
            ) as s:
                yield s
    except BaseException:
        failed = True
        raise
    finally:
        if observer is not None:
            observer(time.perf_counter() - started, attrs, failed)


def set_attributes(s: Span, attributes: Mapping[str, AttrValue | None]) -> None:
    if s.is_recording():
        s.set_attributes({k: v for k, v in attributes.items() if v is not None})


def set_error(s: Span, description: str) -> None:
    if s.is_recording():
        s.set_status(Status(StatusCode.ERROR, description))


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


__all__ = [
    "capture_content",
    "current_trace_id",
    "enabled",
    "install",
    "observe",
    "set_attributes",
    "set_error",
    "span",
    "uninstall",
]
