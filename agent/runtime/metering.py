"""What build_runtime wires around the model: usage recording, turn admission against budgets, the
circuit breaker, and the planner used when no model is configured."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from langchain_core.messages import AIMessage
from sqlalchemy import Connection

from agent.settings import Settings
from connectors.appdb import AuditLog, UsageStore
from connectors.appdb.audit import RawEntry
from connectors.appdb.usage_store import insert_usage
from policies.directory import Directory


class NoModelPlanner:
    def __call__(self, **_kw: Any) -> AIMessage:
        from agent.models.chat import ModelAuthError

        raise ModelAuthError(
            "No model is configured: set ANTHROPIC_API_KEY to use Claude, or CHAMBERLAIN_MODEL_PROVIDER=openai "
            "with CHAMBERLAIN_MODEL_BASE_URL for an OpenAI-compatible server "
            "(`chamberlain demo` runs without one, on scripted model turns)."
        )


def usage_recorder(
    usage: UsageStore, directory: Directory, audit: AuditLog, prices: Any = None
) -> Callable[[str, str, AIMessage], None]:
    from agent.graph import step_writes
    from agent.models.usage import usage_from_message

    def record(user_id: str, thread_id: str, ai: AIMessage) -> None:
        u = usage_from_message(ai, prices=prices)
        route = ai.response_metadata.get("chamberlain_route") or {}
        name = str(route.get("route") or "")
        provider = name.split(":", 1)[0] if ":" in name else None
        who = directory.find(user_id)
        # With the step's audit entries: committed when the step (or its read-only turn) ends
        # (agent/graph/step_writes.py).
        step_writes.record_usage(
            audit,
            usage.model_call_row(
                user_id,
                thread_id or None,
                model=u.model,
                input_tokens=u.input_tokens,
                output_tokens=u.output_tokens,
                cache_read_tokens=u.cache_read_tokens,
                cache_write_tokens=u.cache_write_tokens,
                cost_usd=u.cost_usd,
                groups=sorted(who.groups) if who else (),
                task_kind=route.get("task_kind"),
                provider=provider,
                latency_ms=u.latency_ms,
            ),
        )

    return record


def circuit_breaker(settings: Settings) -> Any:
    from policies.limits import CircuitBreaker

    return CircuitBreaker(failure_threshold=settings.breaker_failures, cooldown_s=settings.breaker_cooldown_s)


def admitter(
    settings: Settings, usage: UsageStore, directory: Directory, audit: AuditLog
) -> Callable[[str], str | None]:
    """Admit a turn against the per-user request/token/cost limits (fixed hour and day windows)
    and the per-user / per-group budgets file, before any model call (agent.models.budgets); an
    admitted turn is counted as a request. Warnings past 80 % reach the asker as progress."""
    from agent.graph import step_writes
    from agent.graph.state import emit
    from agent.models.budgets import BudgetChecker, BudgetVerdict, load_budgets
    from policies.limits import Budgets

    checker = BudgetChecker(
        usage,
        Budgets(
            requests_per_hour=settings.requests_per_hour,
            requests_per_day=settings.requests_per_day,
            tokens_per_hour=settings.tokens_per_hour,
            tokens_per_day=settings.tokens_per_day,
            cost_usd_per_day=settings.cost_usd_per_day,
        ),
        load_budgets(settings.budgets_path),
        warn_ratio=settings.budget_warn_ratio,
    )

    def check(user_id: str) -> str | None:
        principal = directory.get(user_id)
        verdicts: list[BudgetVerdict] = []

        def admit(c: Connection) -> list[RawEntry]:
            # Read and count in one transaction (retried as a whole if the audit head moved):
            # two turns of one person cannot both pass a limit only one of them fits under.
            verdict = replace(checker, usage=usage.on(c)).check(principal)
            verdicts[:] = [verdict]
            if verdict.refusal:
                return [("budget_refused", user_id, None, None, {"message": verdict.refusal})]
            insert_usage(c, [usage.request_row(user_id, None, groups=principal.groups)])
            return [("budget_warning", user_id, None, None, {"message": w}) for w in verdict.warnings]

        # Committed now, with the turn's request entry, before the model is called.
        step_writes.write(audit, admit)
        step_writes.flush()
        verdict = verdicts[0]
        for warning in verdict.warnings:
            emit({"type": "progress", "text": warning})
        return verdict.refusal

    return check


__all__ = ["NoModelPlanner", "admitter", "circuit_breaker", "usage_recorder"]
