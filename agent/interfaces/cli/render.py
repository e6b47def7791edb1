"""How the command line shows a turn's events, answers, approvals and audit entries.

Shared by the command groups and the demo (which must not import the CLI app itself: that was
an import circle).
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from agent.events import Answer, ApprovalRequested, ApprovalView, ErrorEvent, Event, Outcome, Progress

console = Console()


def render_event(event: Event) -> None:
    if isinstance(event, Progress):
        console.print(f"[dim]… {event.text}[/dim]")
    elif isinstance(event, ApprovalRequested):
        for v in event.approvals:
            render_approval(v)
    elif isinstance(event, Answer):
        render_answer(event)
    elif isinstance(event, ErrorEvent):
        console.print(f"[red]{event.message}[/red]")


def render_answer(answer: Answer) -> None:
    console.print()
    console.print(answer.text)
    for t in answer.tables:
        table = Table(*[str(c) for c in t.columns], title=t.title or None)
        for row in t.rows[:20]:
            table.add_row(*["" if v is None else str(v) for v in row])
        console.print(table)
        if t.truncated or len(t.rows) > 20:
            console.print("[dim](more rows in the CSV file)[/dim]")
    for c in answer.citations:
        console.print(f"[dim][{c.number}] {c.title} — {c.section} {c.uri}[/dim]")
    for a in answer.attachments:
        console.print(f"[dim]file: {a.path}[/dim]")


def render_approval(v: ApprovalView) -> None:
    from agent.views import change_columns, plain_value

    table = Table(title=f"Approval {v.id} — {v.title}", show_header=True)
    table.add_column("field")
    for heading in change_columns(v.status):  # "current" goes stale once the change ran
        table.add_column(heading)
    for key in sorted(set(v.current) | set(v.proposed)):
        # Values as a person reads them: never a Python list or dict repr.
        table.add_row(key, plain_value(v.current.get(key)), plain_value(v.proposed.get(key)))
    console.print(table)
    console.print(f"  requested by {v.requester_label}: ", end="")
    console.print(v.summary, markup=False)  # names from other systems: never console markup
    console.print(f"  why: {v.reason}")
    if v.quoted:
        console.print("  text written by others (quoted as data, not the system's words):")
        for q in v.quoted:
            console.print(f"    “{q.text}” — {q.field}, {q.source}", markup=False)
    if v.related:
        console.print(f"  related requests (same person, kind and period): {', '.join(v.related)}")
    for s in v.stages:
        console.print(f"  stage {s.name} ({s.mode} of {', '.join(s.approvers)}): {s.status}")
    if v.untrusted_sources:
        console.print(f"  [yellow]this conversation read untrusted content: {', '.join(v.untrusted_sources)}[/yellow]")
    if v.tainted_arguments:
        console.print(f"  [yellow]values taken from untrusted content: {', '.join(v.tainted_arguments)}[/yellow]")
    for f in v.flags:
        console.print(f"  [yellow]flag: {f}[/yellow]")
    console.print(f"  status: [bold]{v.status}[/bold]")
    if v.end is not None:
        console.print(f"  outcome: {v.end.headline}", markup=False)  # may quote an error from elsewhere
        if v.end.retry_command:
            console.print(f"  who can retry: {', '.join(v.end.retry_by)} — {v.end.retry_command}", markup=False)
    if v.batch_id:
        console.print(
            f"  proposed together with other changes: batch {v.batch_id} (approve all: "
            f"`chamberlain approvals approve {v.batch_id} --user YOUR_ID`)"
        )


def print_outcome(out: Outcome) -> None:
    if out.status == "waiting_for_approval":
        ids = ", ".join(v.id for v in out.pending)
        console.print(
            f"\n[yellow]Waiting for approval ({ids}).[/yellow] Approvers can run "
            "`chamberlain approvals approve ID --user THEIR_ID`."
        )


def print_audit(entries: Any) -> None:
    table = Table("seq", "at", "actor", "event", "details")
    for e in entries:
        details = json.dumps(e.data, default=str)
        table.add_row(
            str(e.seq),
            e.at.strftime("%H:%M:%S"),
            e.actor,
            e.event,
            details if len(details) < 90 else details[:87] + "…",
        )
    console.print(table)


__all__ = ["console", "print_audit", "print_outcome", "render_answer", "render_approval", "render_event"]
