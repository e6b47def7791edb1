"""The demo's second act: Alice asks for a weekly report; it is a governed write (Raj approves
it), then the current period runs once and the delivered message is printed."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage, ToolMessage
from rich.console import Console
from rich.panel import Panel

from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn

REPORT_QUESTION = "Every Monday at 9:00 Berlin time, send me the number of orders by region since 2025."
REPORT_ARGS = {
    "name": "Weekly orders by region",
    "cron": "0 9 * * MON",
    "timezone": "Europe/Berlin",
    "questions": [
        {
            "title": "Orders by region since 2025",
            "sql": "SELECT r.name AS region, COUNT(*) AS orders FROM orders o "
            "JOIN regions r ON r.region_code = o.region_code WHERE o.order_date >= '2025-01-01' "
            "GROUP BY r.name ORDER BY orders DESC",
        }
    ],
    "destination": "u_alice",
    "format": "table",
}


def _confirm(messages: list[BaseMessage]) -> Any:
    last = next((m for m in reversed(messages) if isinstance(m, ToolMessage)), None)
    if last is not None and last.status == "error":
        return text_turn(f"The report was not scheduled: {last.content}")
    return text_turn("Your weekly report is scheduled; it goes to you every Monday at 9:00.")


def add_scripted_turns(model: ScriptedChatModel) -> None:
    model.add_turns(tool_turn("schedule_report", REPORT_ARGS), _confirm)


def run_report_demo(rt: Any, console: Console) -> None:
    from agent.interfaces.cli.render import render_event

    console.rule("A periodic report")
    console.print(Panel(REPORT_QUESTION, title="Alice Chen asks"))
    out = rt.ask("u_alice", REPORT_QUESTION, on_event=render_event)
    if out.status != "waiting_for_approval":
        console.print(f"[yellow]No report was proposed (status: {out.status}).[/yellow]")
        return
    view = out.pending[0]
    approver = view.stages[0].approvers[0]
    from agent.service.stores import Service

    approvals = Service.for_runtime(rt).approvals
    res = approvals.decide(view.id, approver_id=approver, approve=True)
    console.print(f"{rt.directory.get(approver).name} approves the report → [green]{res.message}[/green]")
    if approvals.record(view.id).status != "executed":
        rt.resume(view.thread_id)
    if rt.reports is None:
        console.print("[yellow]Reports need the warehouse and the outbox; skipped.[/yellow]")
        return
    (report,) = [r for r in rt.reports.store.list(owner_id="u_alice") if r.approval_id][-1:]
    outcome = rt.reports.run_now(report.id)
    console.print(f"Run of {report.id} for this period: [bold]{outcome.status}[/bold] ({outcome.detail})")
    for mid in outcome.message_ids:
        msg = rt.reports.outbox.get(mid)
        console.print(Panel(msg.text, title=f"queued for {msg.recipient} (status: {msg.status})"))
