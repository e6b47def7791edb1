"""``chamberlain approvals submit|simulate|withdraw|stats|tick``: business requests from the CLI.

Mounted on the ``approvals`` sub-command by ``agent/interfaces/cli/app.py`` (``register(approvals_app)``). A
request file is either ``{"requester": "u_alice", "request": {"kind": "expense", ...}}``
(optionally with ``"today": "YYYY-MM-DD"`` for ``simulate``) or just the request, with ``--user``.
None of these commands needs Slack or a model.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="CHAMBERLAIN_DATA_DIR", help="Where all state lives (default ./.chamberlain)."),
]
RequestFile = Annotated[Path, typer.Argument(help="JSON file: the request, or {requester, request[, today]}.")]
UserOpt = Annotated[
    str | None, typer.Option("--user", "-u", help="Requester's directory id (if the file does not say).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _settings(data_dir: Path | None) -> Any:
    from agent.interfaces.cli.support import load_settings

    return load_settings(data_dir)


def _fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _read_payload(path: Path, user: str | None) -> dict[str, Any]:
    """``{"requester", "request", "today"?}`` from a file, with clear errors."""
    from policies.requests import REQUEST_KINDS, field_question, missing_fields, request_model

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")
    if not isinstance(raw, dict):
        _fail(f"{path}: expected a JSON object (the request, or {{requester, request}})")
    if "request" in raw:
        payload = dict(raw)
        if user and payload.get("requester") not in (None, user):
            _fail(f"{path} says the requester is {payload['requester']!r} but --user is {user!r}")
        payload["requester"] = payload.get("requester") or user
    else:
        payload = {"requester": user, "request": raw}
    if not payload["requester"]:
        _fail('who is asking? give --user ID or a "requester" in the file')
    request = payload["request"]
    if not isinstance(request, dict):
        _fail(f'{path}: "request" must be an object with a "kind" field')
    kind = request.get("kind")
    if not kind:
        _fail(f'{path}: the request needs a "kind": one of {", ".join(REQUEST_KINDS)}')
    try:
        request_model(str(kind))
    except ValueError as exc:
        _fail(f"{path}: {exc}")
    missing = missing_fields(str(kind), request)
    if missing:
        lines = "; ".join(f"{m} ({field_question(str(kind), m)})" for m in missing)
        _fail(f"{path}: {kind} request is missing required field(s): {lines}")
    return payload


def _validation_message(exc: ValidationError) -> str:
    from policies.requests import REQUEST_KINDS

    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in REQUEST_KINDS) or "request"
        msg = "unknown field" if err.get("type") == "extra_forbidden" else err.get("msg")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def _route_table(decision: Any, directory: Any) -> Table:
    table = Table("#", "stage", "mode", "approvers", "SLA", "because")
    for i, s in enumerate(decision.stages, 1):
        who = ", ".join(p.label if (p := directory.find(a)) else a for a in s.approvers)
        table.add_row(str(i), " + ".join(s.covers), s.mode, who, f"{s.sla_hours} h" if s.sla_hours else "", s.reason)
    return table


def register(approvals_app: typer.Typer) -> None:
    """Add the business-request commands to ``chamberlain approvals``."""

    @approvals_app.command("simulate")
    def simulate_cmd(
        request_file: RequestFile,
        user: UserOpt = None,
        today: Annotated[str | None, typer.Option(help="Route as of this date (YYYY-MM-DD).")] = None,
        policy_file: Annotated[
            Path | None, typer.Option("--policy", help="Route with this rules file (e.g. a draft) instead.")
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Show the route, auto-approval decision and every rule that fired. Saves nothing."""
        from policies.directory import Directory
        from policies.errors import PolicyError
        from policies.routing import explain, load_default, simulate

        payload = _read_payload(request_file, user)
        if today:
            payload["today"] = today
        from agent.settings import Settings

        settings = Settings()  # only the directory and policy paths: no data dir needed
        try:
            directory = Directory.load(settings.directory_path)
            from policies.routing import RoutingPolicy

            path = policy_file or settings.routing_policy_path
            policy = RoutingPolicy.load(path, directory=directory) if path else load_default(directory)
            decision = simulate(payload, policy, directory, today=dt.date.today())
        except ValidationError as exc:
            _fail(f"invalid {payload['request'].get('kind')} request: {_validation_message(exc)}")
        except (PolicyError, ValueError) as exc:
            _fail(str(exc))
        if as_json:
            print(json.dumps(decision.model_dump(mode="json"), indent=2, ensure_ascii=False))
            return
        console.print(explain(decision, directory), highlight=False)

    @approvals_app.command("submit")
    def submit_cmd(
        request_file: RequestFile, user: UserOpt = None, as_json: JsonOpt = False, data_dir: DataDir = None
    ) -> None:
        """File a business request: it is routed, stored and (if policy allows) auto-approved."""
        from agent.runtime.services import open_workflows
        from connectors.errors import ConnectorError
        from policies.errors import PolicyError

        payload = _read_payload(request_file, user)
        request = payload["request"]
        with open_workflows(_settings(data_dir), with_crm=request.get("kind") == "discount") as svc:
            try:
                sub = svc.submit(str(payload["requester"]), request)
            except ValidationError as exc:
                _fail(f"invalid {request.get('kind')} request: {_validation_message(exc)}")
            except (PolicyError, ConnectorError) as exc:
                _fail(str(exc))
            rec, decision = sub.record, sub.decision
            if as_json:
                out = {
                    "id": rec.id,
                    "status": rec.status,
                    "result": rec.result,
                    "decision": decision.model_dump(mode="json"),
                }
                print(json.dumps(out, indent=2, ensure_ascii=False, default=str))
                return
            console.print(f"[bold]{rec.id}[/bold] {rec.title} — [bold]{rec.status}[/bold]", highlight=False)
            if decision.auto_approved:
                from agent.views import result_text

                console.print(
                    f"auto-approved ({rec.decided_by}); follow-up: {result_text(rec.result)}", highlight=False
                )
            else:
                console.print(_route_table(decision, svc.directory))
            for f in decision.flags:
                console.print(f"  [yellow]flag {f.code}:[/yellow] {f.message}", highlight=False)
            console.print(f"[dim]rules fired: {', '.join(r.id for r in decision.fired) or 'none'}[/dim]")

    @approvals_app.command("withdraw")
    def withdraw_cmd(
        approval_id: str,
        user: Annotated[str, typer.Option("--user", "-u", help="The requester (only they may withdraw).")],
        reason: Annotated[str | None, typer.Option(help="Why, for the audit trail.")] = None,
        data_dir: DataDir = None,
    ) -> None:
        """Withdraw one of your own pending requests."""
        from agent.runtime.services import open_workflows
        from connectors.errors import RecordNotFound

        with open_workflows(_settings(data_dir)) as svc:
            try:
                rec = svc.withdraw(approval_id, by=user, reason=reason)
            except RecordNotFound as exc:
                _fail(f"{exc}; list requests with `chamberlain approvals list`")
            except PermissionError as exc:
                _fail(str(exc))
            if rec is None:
                _fail(f"{approval_id} is {svc.store.get(approval_id).status}; only pending requests can be withdrawn")
            console.print(f"[green]{approval_id} withdrawn.[/green]")

    @approvals_app.command("stats")
    def stats_cmd(
        since_days: Annotated[int | None, typer.Option("--since-days", help="Only the last N days.")] = None,
        as_json: JsonOpt = False,
        data_dir: DataDir = None,
    ) -> None:
        """Volume by kind, auto-approval rate, time to decision (p50/p90), overdue items."""
        from agent.runtime.services import open_workflows

        with open_workflows(_settings(data_dir)) as svc:
            since = svc.now() - dt.timedelta(days=since_days) if since_days else None
            st = svc.stats(since)
        if as_json:
            print(json.dumps(st.to_json(), indent=2))
            return

        def hours(v: float | None) -> str:
            return "—" if v is None else f"{v:.1f} h"

        table = Table("kind", "requests")
        for kind, n in st.by_kind.items():
            table.add_row(kind, str(n))
        table.add_row("[bold]total[/bold]", f"[bold]{st.total}[/bold]")
        console.print(table)
        rate = "—" if st.auto_approval_rate is None else f"{st.auto_approval_rate:.0%}"
        console.print(f"auto-approved: {st.auto_approved} ({rate})")
        console.print(f"time to decision: p50 {hours(st.p50_hours)}, p90 {hours(st.p90_hours)} over {st.decided}")
        console.print(f"overdue: {st.overdue}" + (f" ({', '.join(st.overdue_ids)})" if st.overdue_ids else ""))
        console.print("by status: " + ", ".join(f"{k} {v}" for k, v in st.by_status.items()))

    @approvals_app.command("tick")
    def tick_cmd(as_json: JsonOpt = False, data_dir: DataDir = None) -> None:
        """Sweep requests: expire, remind after the stage SLA, escalate after twice the SLA,
        finish follow-ups left behind. Run it from cron (e.g. every 15 minutes)."""
        from agent.runtime.services import open_workflows

        settings = _settings(data_dir)
        with open_workflows(settings) as svc:
            # Only a discount left behind needs the CRM; do not start one otherwise.
            need_crm = any(r.kind == "discount" for r in svc.store.list(status=("approved", "executing")))
        with open_workflows(settings, with_crm=need_crm) as svc:
            report = svc.tick()
        if as_json:
            print(json.dumps(report.to_json(), indent=2))
            return
        for what, ids in report.to_json().items():
            console.print(f"{what}: {len(ids)}" + (f" ({', '.join(ids)})" if ids else ""))


__all__ = ["register"]
