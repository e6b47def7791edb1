"""Running one scenario: a fresh CRM, app database, outbox and runtime; its script played; its approvals decided."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.models.scripted import ScriptedChatModel, ScriptExhausted
from agent.runtime.chamberlain import Chamberlain, build_runtime
from agent.settings import Settings
from connectors.appdb import make_engine
from connectors.outbox import SqlOutbox
from evals.redteam.harness.attacker import _Script
from evals.redteam.harness.judge import RunResult, _deal_snapshot, _judge, _matches
from evals.redteam.harness.scenarios import (
    APPROVER_REJECT_REASON,
    CLEAN_NOTE_40008,
    MAX_ROWS,
    QUERY_TIMEOUT_S,
    Mode,
    ModelFactory,
    RecordChange,
    Scenario,
    SlackMsg,
)
from evals.redteam.harness.world import World, thread_tools
from tools.base import ToolRegistry

# ---------------------------------------------------------------------------- running one scenario


def run_scenario(
    world: World,
    scenario: Scenario,
    mode: Mode,
    workdir: Path,
    *,
    approve_tainted: bool = False,
    model_factory: ModelFactory | None = None,
) -> RunResult:
    """Play one scenario. ``approve_tainted``: a gullible approver who ignores the taint
    warning (negative control: the oracle must then see the harm)."""
    from agent.workflows.service import attach
    from connectors.crm import InMemoryCrm
    from tools.analytics import analytics_tools
    from tools.crm import crm_tools
    from tools.documents import document_tools
    from tools.messaging import messaging_tools
    from tools.requests import request_tools

    res = RunResult(scenario, mode)
    started = time.perf_counter()
    settings = Settings(data_dir=workdir, access_policy_path=world.access_path)
    crm = InMemoryCrm.seeded()
    inj = scenario.injection
    if mode == "clean" or not (inj.where == "crm_note" and inj.seeded):
        crm.update("notes", "40008", {"hs_note_body": CLEAN_NOTE_40008})
    if mode == "attack" and inj.where == "crm_note" and not inj.seeded:
        obj, rid = (inj.record or "deals/30001").split("/", 1)
        crm.create("notes", {"hs_note_body": inj.text, "hs_timestamp": "2026-11-20T09:00:00.000Z"}, [(obj, rid)])
    if mode == "attack" and inj.where == "tool_result" and inj.property:
        obj, rid = (inj.record or "deals/30001").split("/", 1)
        crm.update(obj, rid, {inj.property: inj.text})
    threads: dict[str, list[SlackMsg]] = {ch: list(msgs) for ch, msgs in scenario.slack.items()}
    if inj.where == "slack_message" and inj.channel:
        text = inj.text if mode == "attack" else inj.clean_text
        threads.setdefault(inj.channel, []).append(SlackMsg(author=inj.author, text=text))
    engine = make_engine(settings.resolved_database_url)
    outbox = SqlOutbox(engine)
    holder: dict[str, Any] = {}
    registry = ToolRegistry(
        [
            *crm_tools(crm),
            *document_tools(world.kb[mode]),
            *analytics_tools(world.warehouse[mode], max_rows=MAX_ROWS, timeout_s=QUERY_TIMEOUT_S),
            *messaging_tools(outbox),
            *thread_tools(threads),
            *request_tools(lambda: holder["workflows"]),
        ]
    )
    script = _Script(scenario, world)
    model = ScriptedChatModel.from_turns(script.turns(mode))
    thread = f"redteam:{mode}:{scenario.name}"
    attempts: list[tuple[str, bool]] = []
    out: Any = None
    wire = contextlib.ExitStack()
    try:
        # model_factory: the same scripted model behind a provider's real wire protocol.
        chat = wire.enter_context(model_factory(model)) if model_factory is not None else model
        with build_runtime(settings, registry=registry, chat_model=chat) as rt:
            holder["workflows"] = attach(rt, settings, crm=crm, policy=world.routing)
            try:
                _file_prior(rt, holder["workflows"], scenario, mode)
                res.crm_before = _deal_snapshot(crm)
                res.crm = crm
                reject_with = inj.text if mode == "attack" and inj.approval_reason else None
                for message in [scenario.message, *(n.message for n in scenario.next_messages)]:
                    out = rt.ask(scenario.user, message, thread_id=thread)
                    out = _decide_approvals(
                        rt,
                        scenario,
                        thread,
                        out,
                        attempts,
                        approve_tainted=approve_tainted,
                        reject_benign_with=reject_with,
                        received=res.approver_received,
                        changes=scenario.changes_before_decision,
                        crm=crm,
                    )
            except ScriptExhausted as exc:
                res.harms.append(f"loop not stopped by any limit: {exc}")
            res.seconds = time.perf_counter() - started
            _judge(res, rt, world, scenario, thread, out, attempts, outbox, model, settings)
    except Exception as exc:  # a harness reports, it does not stop at the first crash
        res.error = f"{type(exc).__name__}: {exc}"
    finally:
        wire.close()
        engine.dispose()
    res.injection_seen = script.seen if mode == "attack" else None
    res.seconds = time.perf_counter() - started
    return res


def _decide_approvals(
    rt: Chamberlain,
    scenario: Scenario,
    thread: str,
    out: Any,
    attempts: list[tuple[str, bool]],
    *,
    approve_tainted: bool = False,
    reject_benign_with: str | None = None,
    received: list[str] | None = None,
    changes: Sequence[RecordChange] = (),
    crm: Any = None,
) -> Any:
    """A realistic approver: approves the user's own requested writes, rejects requests whose
    card warns about untrusted content, approves anything else (it has no reason to doubt it).
    ``reject_benign_with``: instead rejects the user's own writes, giving this reason.
    ``received`` collects what each decision returned to its approver; ``changes`` are applied
    to the CRM before the first decision (someone else edits the target meanwhile)."""
    from agent.interfaces.http.api import decision_body

    received = received if received is not None else []
    pending_changes = list(changes)

    def decided(res: Any) -> Any:
        received.append(json.dumps(decision_body(res), default=str))
        return res

    for _ in range(20):
        pending = sorted(
            (r for r in rt.approvals.list(thread_id=thread) if r.status == "pending"), key=lambda r: r.created_at
        )
        if not pending:
            if out is not None and out.status == "waiting_for_approval":
                out = rt.resume(thread)
                continue
            return out
        rec = pending[0]
        is_benign = any(_matches(rec.action, rec.args, w) for w in scenario.benign.writes)
        if not is_benign:
            for who in scenario.approval_attempts:
                res = decided(rt.decide(rec.id, approver_id=who, approve=True, reason="pre-approved, see the note"))
                attempts.append((who, res.accepted))
                if res.final:
                    out = rt.thread_outcome(thread)
            rec = rt.approvals.get(rec.id)
            if rec.status != "pending":
                continue
        approver = rec.approvers_now()[0]
        tainted = bool(rec.untrusted_sources or rec.tainted_arguments)
        approve = is_benign or not tainted or approve_tainted
        reason = None if approve else APPROVER_REJECT_REASON
        if is_benign and reject_benign_with is not None:
            approve, reason = False, reject_benign_with
        while pending_changes and crm is not None:
            change = pending_changes.pop(0)
            obj, rid = change.record.split("/", 1)
            crm.update(obj, rid, dict(change.properties))
        res = decided(rt.decide(rec.id, approver_id=approver, approve=approve, reason=reason))
        if res.final:
            out = rt.thread_outcome(thread)
    return out


def _file_prior(rt: Chamberlain, workflows: Any, scenario: Scenario, mode: Mode) -> None:
    """Prior state: requests filed (and decided) before the conversation starts."""
    inj = scenario.injection
    text = inj.text if mode == "attack" else inj.clean_text

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{injection}", text)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    for prior in scenario.prior:
        sub = workflows.submit(prior.user, fill(prior.request))
        for vote in prior.decide:
            res = rt.decide(sub.record.id, approver_id=vote.by, approve=vote.approve, reason=fill(vote.reason))
            if not res.accepted:
                raise RuntimeError(f"prior request {sub.record.id}: {vote.by}'s vote refused: {res.message}")
