"""Turn stored approval records into what surfaces show (:class:`agent.events.ApprovalView`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.events import ApprovalView, QuotedText, RouteStage
from connectors.appdb import ApprovalRecord
from policies.directory import Directory


def approval_view(rec: ApprovalRecord, directory: Directory, *, engine: Any = None) -> ApprovalView:
    """``engine``: the app database, to say what became of the action (delivery of a queued
    message, the request a stale one was re-routed as) and which batch it belongs to."""
    from agent.end_state import app_db_lookups, end_state

    delivery, find_request = app_db_lookups(engine) if engine is not None else (None, None)
    requester = directory.find(rec.requester_id)
    stages = []
    for i, s in enumerate(rec.stages):
        if rec.status == "rejected" and i == rec.current_stage:
            st = "rejected"
        elif i < rec.current_stage:
            st = "approved"
        elif i == rec.current_stage and rec.status == "pending":
            st = "pending"
        else:
            st = "waiting"
        stages.append(RouteStage(s.name, s.mode, tuple(s.approvers), st))  # type: ignore[arg-type]
    return ApprovalView(
        id=rec.id,
        thread_id=rec.thread_id or "",
        requester_id=rec.requester_id,
        requester_label=requester.label if requester else rec.requester_id,
        kind=rec.kind,
        title=rec.title,
        summary=rec.summary,
        reason=rec.reason,
        current=dict(rec.current),
        proposed=dict(rec.proposed),
        status=rec.status,
        stages=tuple(stages),
        created_at=rec.created_at,
        expires_at=rec.expires_at,
        decided_by=rec.decided_by,
        decision_reason=rec.decision_reason,
        untrusted_sources=tuple(rec.untrusted_sources),
        tainted_arguments=tuple(rec.tainted_arguments),
        injection_score=rec.injection_score,
        flags=tuple(rec.flags),
        quoted=quoted_text(rec),
        related=tuple(str(r) for r in ((rec.request or {}).get("related") or ())),
        end=end_state(rec, directory, delivery=delivery, find_request=find_request),
        batch_id=_batch_of(engine, rec) if engine is not None else None,
    )


def _batch_of(engine: Any, rec: ApprovalRecord) -> str | None:
    from connectors.appdb.batches import BatchStore

    return BatchStore(engine).batch_of(rec.dedupe_key)


# What a follow-up wrote, named for a person (the stored result names the table).
_RECORD_NAMES = {
    "ledger_entries": "ledger entry",
    "purchase_orders": "purchase order",
    "time_off": "time-off record",
    "access_grants": "access grant",
    "discount_applications": "discount",
}


def result_text(result: Any) -> str:
    """A follow-up's or write's result as one readable line (never a Python dict or raw JSON):
    ``{"table": "ledger_entries", "id": 1, "amount_usd": "84.50"}`` → ``ledger entry 1 (amount usd 84.50)``."""
    if result is None:
        return "nothing recorded"
    if not isinstance(result, Mapping):
        return str(result)
    rest = dict(result)
    table = rest.pop("table", None)
    ident = rest.pop("id", None)
    head = " ".join(str(x) for x in (_RECORD_NAMES.get(str(table), table), ident) if x not in (None, ""))
    details = ", ".join(f"{str(k).replace('_', ' ')} {plain_value(v)}" for k, v in rest.items() if v not in (None, ""))
    if head and details:
        return f"{head} ({details})"
    return head or details or "nothing recorded"


def plain_value(value: Any) -> str:
    """A stored value as a person reads it: lists joined, mappings as ``key value``, no brackets or quotes."""
    if isinstance(value, Mapping):
        return "; ".join(f"{str(k).replace('_', ' ')} {plain_value(v)}" for k, v in value.items())
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(plain_value(v) for v in value)
    return str(value)


def change_columns(status: str) -> tuple[str, str]:
    """Headings of a request's two value columns. "current" is the value when the request was
    made: once the change ran it is the old value, and after a refusal nothing changed."""
    if status == "executed":
        return "before", "after"
    if status in ("rejected", "expired", "withdrawn", "failed", "stale"):
        return "at request time", "proposed (not applied)"
    return "current", "proposed"


def quoted_text(rec: ApprovalRecord) -> tuple[QuotedText, ...]:
    """Every free-text value of a request, with its source. Business requests store theirs
    (``request["quoted"]``); for an agent write, each text argument is quoted as written by the
    model for the requester, or from the untrusted source the taint trace found it in."""
    stored = (rec.request or {}).get("quoted")
    if isinstance(stored, list):
        return tuple(QuotedText(str(q["field"]), str(q["text"]), str(q["source"])) for q in stored)
    traced: dict[str, str] = {}
    for entry in rec.tainted_arguments:
        path, _, rest = entry.partition("=")
        traced[path] = rest.rsplit("(from ", 1)[-1].rstrip(")") if "(from " in rest else "untrusted content"
    out = []
    for name, value in _strings(rec.args):
        if len(value) < 3 or value.replace(".", "").isdigit():
            continue
        source = f"from {traced[name]}" if name in traced else "written by the assistant for the requester"
        out.append(QuotedText(name, value, source))
    return tuple(out)


def _strings(args: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in args.items():
        path = f"{prefix}{k}"
        if isinstance(v, str):
            out.append((path, v))
        elif isinstance(v, Mapping):
            out += _strings(v, path + ".")
    return out


__all__ = ["approval_view", "change_columns", "plain_value", "result_text"]
