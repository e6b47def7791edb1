"""Traces (OpenTelemetry, GenAI semantic conventions) and metrics for the graph and runtime.

Off unless configured with the standard variables: ``OTEL_TRACES_EXPORTER=otlp`` (or ``console``)
or an ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; the OTLP/HTTP
exporter itself reads the other ``OTEL_EXPORTER_OTLP_*`` variables (headers, timeout).
``OTEL_SDK_DISABLED=true`` wins over everything. Spans carry no prompt, answer or argument
text unless ``CHAMBERLAIN_TRACE_CONTENT=true``, and then only after PII/secret redaction.

The span tree of one turn::

    invoke_agent chamberlain              (turn; gen_ai.conversation.id = thread)
    ├── chat <model>                      (gen_ai.usage.*, gen_ai.response.finish_reasons)
    ├── chamberlain.gate                  (one child per proposed call: decision, approval id)
    │   └── chamberlain.policy <tool>
    ├── execute_tool <tool>               (reads; children: chamberlain.sql.query, chamberlain.retrieval)
    └── ...
    chamberlain.approval.decide           (a person's decision, in the process that received it)
    ├── chamberlain.approval.wait         (from the stage's start to the decision)
    └── invoke_agent chamberlain          (the resumed turn)
        └── execute_tool <tool>           (the approved write: chamberlain.approval.outcome)

Call sites are one-line decorators, so instrumentation stays out of the node bodies.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from opentelemetry.trace import SpanKind

from connectors import telemetry as otel

F = TypeVar("F", bound=Callable[..., Any])

AGENT_NAME = "chamberlain"
_MAX_CONTENT = 2000


def configure(settings: Any) -> bool:
    """Install the OTLP (or console) exporter if the OTEL_* settings ask for one. Idempotent."""
    if otel.enabled() or settings.otel_sdk_disabled:
        return otel.enabled()
    exporter_name = (settings.otel_traces_exporter or "").strip().lower()
    endpoint = settings.otel_exporter_otlp_traces_endpoint or settings.otel_exporter_otlp_endpoint
    if exporter_name in ("", "none") and not (endpoint and exporter_name != "none"):
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: settings.otel_service_name}))
    if exporter_name == "console":
        exporter: Any = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # endpoint, headers, timeout: from OTEL_EXPORTER_OTLP_*
    provider.add_span_processor(BatchSpanProcessor(exporter))
    otel.install(provider, capture_content=settings.trace_content)
    return True


def shutdown() -> None:
    provider = otel.uninstall()
    if provider is not None:
        provider.shutdown()


def _content(value: Any) -> str | None:
    """Redacted, truncated text for a span — only with the explicit opt-in."""
    if not otel.capture_content():
        return None
    from policies.logging_filter import scrub

    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return str(scrub(text))[:_MAX_CONTENT]


# -- the turn ------------------------------------------------------------------------------------


def traced_turn(fn: F) -> F:
    """For ``Chamberlain._run(self, graph_input, thread_id, sink) -> Outcome``."""

    @functools.wraps(fn)
    def wrapper(self: Any, graph_input: Any, thread_id: str, *args: Any, **kwargs: Any) -> Any:
        from agent.observability.metrics import metrics

        started = time.perf_counter()
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": AGENT_NAME,
            "gen_ai.conversation.id": thread_id,
            "chamberlain.turn.resumed": graph_input is None or not isinstance(graph_input, Mapping),
        }
        with otel.span(f"invoke_agent {AGENT_NAME}", attrs) as s:
            try:
                out = fn(self, graph_input, thread_id, *args, **kwargs)
            except Exception as exc:
                metrics().turns.labels("crashed").inc()
                metrics().errors.labels(type(exc).__name__).inc()
                raise
            finally:
                metrics().turn_seconds.observe(time.perf_counter() - started)
            metrics().turns.labels(out.status).inc()
            otel.set_attributes(
                s,
                {
                    "chamberlain.turn.status": out.status,
                    "chamberlain.approvals.pending": len(out.pending),
                    "gen_ai.output.messages": _content(out.answer.text) if out.answer else None,
                },
            )
            if out.status == "failed":
                metrics().errors.labels("turn_failed").inc()
                otel.set_error(s, "turn failed")
        return out

    return wrapper  # type: ignore[return-value]


# -- graph nodes ---------------------------------------------------------------------------------


def _model_name(deps: Any) -> str | None:
    model = getattr(getattr(deps, "planner", None), "model", None)
    name = getattr(model, "model", None) or getattr(model, "model_name", None)
    return str(name) if name else None


def traced_model_call(fn: F) -> F:
    """For the ``call_model`` node: one ``chat <model>`` span with usage and finish reason."""

    @functools.wraps(fn)
    def wrapper(state: Any, runtime: Any) -> Any:
        from agent.observability.metrics import metrics

        requested = _model_name(runtime.context)
        attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": requested,
            "gen_ai.conversation.id": state.get("thread_id"),
        }
        started = time.perf_counter()
        with otel.span(f"chat {requested or 'model'}", attrs, kind=SpanKind.CLIENT) as s:
            update = fn(state, runtime)
            msgs = update.get("messages") or []
            if not msgs:  # budget spent or the model failed: no call result to describe
                if update.get("error"):
                    otel.set_error(s, "model call failed or was not made")
                    metrics().errors.labels("model").inc()
                return update
            ai = msgs[-1]
            meta = getattr(ai, "response_metadata", {}) or {}
            from agent.models.usage import usage_from_message

            u = usage_from_message(ai)
            model = str(meta.get("model_name") or meta.get("model") or u.model or requested or "unknown")
            finish = meta.get("stop_reason") or meta.get("finish_reason")
            system = str(meta.get("model_provider") or "anthropic")
            metrics().model_seconds.labels(model).observe(time.perf_counter() - started)
            for kind, n in (
                ("input", u.input_tokens),
                ("output", u.output_tokens),
                ("cache_read", u.cache_read_tokens),
                ("cache_write", u.cache_write_tokens),
            ):
                if n:
                    metrics().tokens.labels(model, kind).inc(n)
            if u.cost_usd:
                metrics().cost.labels(model).inc(u.cost_usd)
            otel.set_attributes(
                s,
                {
                    "gen_ai.system": system,
                    "gen_ai.response.model": model,
                    "gen_ai.request.model": requested or model,
                    "gen_ai.response.id": getattr(ai, "id", None),
                    "gen_ai.usage.input_tokens": u.total_input_tokens,
                    "gen_ai.usage.output_tokens": u.output_tokens,
                    "gen_ai.usage.cache_read_input_tokens": u.cache_read_tokens,
                    "gen_ai.response.finish_reasons": [str(finish)] if finish else None,
                    "chamberlain.model.cost_usd": u.cost_usd,
                    "chamberlain.model.tool_calls": len(getattr(ai, "tool_calls", []) or []),
                    "gen_ai.output.messages": _content(getattr(ai, "text", "")),
                },
            )
            return update

    return wrapper  # type: ignore[return-value]


def traced_gate(fn: F) -> F:
    """For the ``gate`` node: a span per policy decision (tool, decision, approval id)."""

    @functools.wraps(fn)
    def wrapper(state: Any, runtime: Any) -> Any:
        from agent.observability.metrics import metrics, refusal_rule

        with otel.span("chamberlain.gate", {"gen_ai.conversation.id": state.get("thread_id")}) as s:
            update = fn(state, runtime)
            gated = update.get("gated") or []
            otel.set_attributes(s, {"chamberlain.gate.calls": len(gated)})
            for g in gated:
                decision = g.get("decision", "deny")
                if decision == "deny":
                    metrics().refusals.labels(refusal_rule(str(g.get("reason", "")))).inc()
                with otel.span(
                    f"chamberlain.policy {g.get('name')}",
                    {
                        "gen_ai.tool.name": g.get("name"),
                        "gen_ai.tool.call.id": g.get("id"),
                        "chamberlain.policy.decision": decision,
                        "chamberlain.policy.rule": refusal_rule(str(g.get("reason", "")))
                        if decision == "deny"
                        else None,
                        "chamberlain.approval.id": g.get("approval_id"),
                        "gen_ai.tool.call.arguments": _content(g.get("args")),
                    },
                ):
                    pass
            return update

    return wrapper  # type: ignore[return-value]


def traced_tool(fn: F) -> F:
    """For ``_run_read(deps, tool, g, ...)`` and ``_run_approved_write(deps, tool, g, ...)``:
    an ``execute_tool <name>`` span; for a write, the approval it ran under and the outcome."""

    @functools.wraps(fn)
    def wrapper(deps: Any, tool: Any, g: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        from agent.observability.metrics import metrics

        effect = getattr(getattr(tool, "effect", None), "value", "read")
        attrs = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool.name,
            "gen_ai.tool.call.id": g.get("id"),
            "gen_ai.tool.type": "function",
            "chamberlain.tool.effect": effect,
            "chamberlain.approval.id": g.get("approval_id"),
            "gen_ai.tool.call.arguments": _content(g.get("args")),
        }
        started = time.perf_counter()
        with otel.span(f"execute_tool {tool.name}", attrs) as s:
            msg = fn(deps, tool, g, *args, **kwargs)
            metrics().tool_seconds.labels(tool.name, effect).observe(time.perf_counter() - started)
            failed = getattr(msg, "status", "success") == "error"
            outcome = None
            if g.get("approval_id"):
                outcome = deps.approvals.get(g["approval_id"]).status
            otel.set_attributes(s, {"chamberlain.approval.outcome": outcome, "chamberlain.tool.failed": failed})
            if failed:
                metrics().errors.labels("tool").inc()
                otel.set_error(s, "tool call failed or was not executed")
            return msg

    return wrapper  # type: ignore[return-value]


# -- approvals -----------------------------------------------------------------------------------


def traced_decision(fn: F) -> F:
    """For ``Chamberlain.decide``: the decision, the wait it ended, and (inside) the resumed turn."""

    @functools.wraps(fn)
    def wrapper(self: Any, approval_id: str, *args: Any, **kwargs: Any) -> Any:
        from agent.observability.metrics import metrics

        before = None
        try:
            before = self.approvals.get(approval_id)
        except Exception:  # unknown id: the call below raises the user-facing error
            before = None
        attrs = {"chamberlain.approval.id": approval_id, "chamberlain.approval.approve": kwargs.get("approve")}
        with otel.span("chamberlain.approval.decide", attrs) as s:
            if before is not None and before.status == "pending":
                # Covers the time people took, from this stage's start until now.
                with otel.span(
                    "chamberlain.approval.wait",
                    {
                        "chamberlain.approval.id": approval_id,
                        "chamberlain.approval.kind": before.kind,
                        "chamberlain.approval.stage": before.stage.name if before.stage else None,
                    },
                    start_time=before.stage_started_at,
                ):
                    pass
            res = fn(self, approval_id, *args, **kwargs)
            stage = before.stage.name if before is not None and before.stage else "-"
            kind = before.kind if before is not None else "unknown"
            decision = ("approve" if kwargs.get("approve") else "reject") if res.accepted else "refused"
            metrics().decisions.labels(kind, stage, decision).inc()
            otel.set_attributes(
                s,
                {
                    "chamberlain.approval.kind": kind,
                    "chamberlain.approval.stage": stage,
                    "chamberlain.approval.accepted": res.accepted,
                    "chamberlain.approval.final": res.final,
                    "chamberlain.approval.status": _status_after(self, approval_id),
                },
            )
            return res

    return wrapper  # type: ignore[return-value]


def _status_after(runtime: Any, approval_id: str) -> str | None:
    try:
        return str(runtime.approvals.get(approval_id).status)
    except Exception:  # reporting only; the decision's own result stands
        return None


def counted_expiry(fn: F) -> F:
    """For ``Chamberlain.expire_due``: count what it expired."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from agent.observability.metrics import metrics

        views = fn(*args, **kwargs)
        for v in views:
            metrics().expired.labels(v.kind).inc()
        return views

    return wrapper  # type: ignore[return-value]


__all__ = [
    "configure",
    "counted_expiry",
    "shutdown",
    "traced_decision",
    "traced_gate",
    "traced_model_call",
    "traced_tool",
    "traced_turn",
]
