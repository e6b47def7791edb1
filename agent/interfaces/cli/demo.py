"""``chamberlain demo``: one conversation end to end on the embedded default.

Alice (an account executive) asks about the Acme renewal and asks to close it. Chamberlain reads
the CRM, proposes the stage change, and stops for approval. Alice cannot approve her own request
and Mallory is not an approver; Raj (Alice's manager) approves; the write runs exactly once (a
second click changes nothing); the CRM shows the new stage; the audit trail is printed and its
hash chain verified.

With ``ANTHROPIC_API_KEY`` set the model is Claude; without it, scripted model turns are replayed
(and the demo says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from rich.console import Console
from rich.panel import Panel

from agent.events import ApprovalView
from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn
from agent.settings import Settings

QUESTION = (
    "What stage is the Acme Corporation 2027 renewal in? They signed this morning — please move it to Closed won."
)


def _last_artifact(messages: Sequence[BaseMessage]) -> Any:
    for m in reversed(messages):
        if isinstance(m, ToolMessage):
            return m.artifact
    return None


def _propose_update(messages: list[BaseMessage]) -> AIMessage:
    found = _last_artifact(messages) or {}
    deals = [r for r in found.get("records", []) if "renewal" in str(r.get("label", "")).lower()]
    if not deals:
        return text_turn("I could not find the Acme Corporation 2027 renewal in the CRM.")
    deal = deals[0]
    return tool_turn(
        "crm_update_deal",
        {"deal_id": deal["id"], "stage": "closedwon"},
        text=(
            f"The deal '{deal['label']}' is currently in stage {deal.get('stage') or 'unknown'}. "
            "I have proposed moving it to Closed won; it needs your manager's approval."
        ),
    )


def _report(messages: list[BaseMessage]) -> AIMessage:
    last = next((m for m in reversed(messages) if isinstance(m, ToolMessage)), None)
    if last is not None and last.status == "error":
        return text_turn(f"The change did not go through: {last.content}")
    return text_turn("Done — the Acme Corporation 2027 renewal is now Closed won (approved by your manager).")


def scripted_model() -> ScriptedChatModel:
    return ScriptedChatModel.from_turns(
        [
            tool_turn("crm_search", {"object_type": "deals", "query": "Acme Corporation 2027 renewal"}),
            _propose_update,
            _report,
        ]
    )


def _reset_demo_crm(settings: Settings, console: Console) -> None:
    """Every run starts from the seeded CRM: a previous run moved the demo deal to Closed won,
    and a second run would then have nothing to propose. Only the local demo CRM is reset."""
    if settings.crm_url:
        return
    db = settings.crm_db_path
    if not db.exists():
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    console.print("[dim]demo CRM reset to its seed data (the previous run changed it)[/dim]")


def run_demo(settings: Settings, *, console: Console | None = None, fake_server: str | None = None) -> None:
    """``fake_server`` ("openai" or "anthropic"): the scripted turns are served by a local fake of
    that provider's API and reached through its real SDK, configured as a user would
    (CHAMBERLAIN_MODEL_PROVIDER, CHAMBERLAIN_MODEL_BASE_URL, CHAMBERLAIN_MODEL_API_KEY)."""
    if fake_server is None:
        _run_demo(settings, console=console)
        return
    from pydantic import SecretStr

    from agent.fakes.scripted_wire import WIRE_MODELS, scripted_anthropic_server, scripted_openai_server

    if fake_server not in WIRE_MODELS:
        raise SystemExit(f"--fake-model-server {fake_server!r}: use openai or anthropic")
    serve = scripted_openai_server if fake_server == "openai" else scripted_anthropic_server
    from agent.interfaces.cli.demo_reports import add_scripted_turns

    turns = scripted_model()
    add_scripted_turns(turns)
    with serve(turns) as server:
        wired = settings.model_copy(
            update={
                "model_provider": fake_server,
                "model": WIRE_MODELS[fake_server],
                "model_base_url": server.url,
                "model_api_key": SecretStr(server.api_key),
                "fallback_model": None,
                "model_routes": {},
                "model_fallbacks": {},
            }
        )
        _run_demo(wired, console=console, note=f"a local fake {fake_server} API at {server.url} playing scripted turns")


def _run_demo(settings: Settings, *, console: Console | None = None, note: str | None = None) -> None:
    from agent.interfaces.cli.render import render_approval, render_event
    from agent.runtime.services import open_runtime, seed_all

    console = console or Console()
    console.rule("Chamberlain demo")
    _reset_demo_crm(settings, console)
    seed_all(settings, console=console)
    model = None
    if note is not None:
        console.print(f"Model: [bold]{settings.model_provider}:{settings.model}[/bold] via {note}")
    elif settings.uses_real_model:
        console.print(f"Model: Claude ([bold]{settings.model}[/bold]) via ANTHROPIC_API_KEY")
    else:
        model = scripted_model()
        from agent.interfaces.cli.demo_reports import add_scripted_turns

        add_scripted_turns(model)
        console.print(
            "[yellow]No ANTHROPIC_API_KEY set: replaying scripted model turns.[/yellow] "
            "Everything else (policy gate, approvals, CRM over HTTP, audit) is real."
        )
    with open_runtime(settings, chat_model=model) as rt:
        from agent.service.stores import Service

        approvals = Service.for_runtime(rt).approvals  # what every Approve button calls
        console.print(Panel(QUESTION, title="Alice Chen (Account Executive) asks"))
        out = rt.ask("u_alice", QUESTION, on_event=render_event)
        if out.status != "waiting_for_approval":
            raise SystemExit(f"demo failed: the model did not propose the write (status: {out.status})")
        view: ApprovalView = out.pending[0]
        approver = view.stages[0].approvers[0]
        for who in ("u_alice", "u_mallory"):
            res = approvals.decide(view.id, approver_id=who, approve=True)
            console.print(f"{rt.directory.get(who).name} clicks Approve → [red]{res.message}[/red]")
        name = rt.directory.get(approver).name
        console.print(f"{name} clicks Approve →")
        res = approvals.decide(view.id, approver_id=approver, approve=True, on_event=render_event)
        console.print(f"[green]{res.message}[/green]")
        again = approvals.decide(view.id, approver_id=approver, approve=True)
        console.print(f"{name} clicks Approve again → [dim]{again.message}[/dim]")
        final = approvals.view(view.id)
        render_approval(final)
        console.rule("Audit trail")
        from agent.interfaces.cli.render import print_audit

        print_audit(approvals.audit.entries(thread_id=out.thread_id))
        report = approvals.audit.verify()
        colour = "green" if report.ok else "red"
        console.print(
            f"[{colour}]audit chain: {'intact' if report.ok else 'BROKEN'} ({report.entries} entries)[/{colour}]"
        )
        executed = sum(1 for e in approvals.audit_trail(view.id) if e.event == "write_executed")
        console.print(f"write executed {executed} time(s)")
        if final.status != "executed" or executed != 1 or not report.ok:
            raise SystemExit("demo failed: the approved write did not run exactly once")
        from agent.interfaces.cli.demo_reports import run_report_demo

        run_report_demo(rt, console)


__all__ = ["run_demo", "scripted_model"]
