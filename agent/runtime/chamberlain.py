"""The runtime facade every surface uses (CLI, HTTP, Slack): ask, decide, resume, recover.

Build one with :func:`build_runtime`. For tests, pass a scripted chat model and the tools::

    from agent.models.scripted import ScriptedChatModel, tool_turn, text_turn
    rt = build_runtime(Settings(data_dir=tmp_path), chat_model=ScriptedChatModel.from_turns([...]),
                       registry=ToolRegistry(crm_tools(InMemoryCrm.seeded())))
    out = rt.ask("u_alice", "move the Acme renewal to closed won", thread_id="t1")
    rt.decide(out.pending[0].id, approver_id="u_raj", approve=True)   # resumes t1, runs the write once
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.types import Command
from sqlalchemy import Engine

from agent.approvals import Lifecycle, Taint
from agent.events import (
    ApprovalRequested,
    ApprovalView,
    DecisionResult,
    ErrorEvent,
    Event,
    Outcome,
    Progress,
)
from agent.graph.conversation import build_graph
from agent.graph.deps import Deps, Limits, Planner
from agent.graph.state import events_to
from agent.notify import Notifier
from agent.observability.telemetry import counted_expiry, traced_decision, traced_turn
from agent.runtime.answers import build_answer
from agent.runtime.checkpoints import ReadOnce
from agent.runtime.direct import ToolCallResult, call_tool
from agent.runtime.metering import NoModelPlanner, admitter, circuit_breaker, usage_recorder
from agent.settings import Settings
from agent.views import approval_view
from connectors.appdb import ApprovalStore, AuditLog, UsageStore, make_engine
from connectors.appdb.approvals import AGENT_KIND
from connectors.appdb.resumes import ResumeQueue
from policies.directory import Directory, Principal
from tools.base import ToolRegistry

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from agent.runtime.checkpoints import Checkpointer
    from agent.workflows.reports import ReportScheduler
    from agent.workflows.service import WorkflowService
    from connectors.appdb import ApprovalRecord
    from connectors.crm import CrmConnector

EventSink = Callable[[Event], None]


class Chamberlain:
    """One process's view of the assistant. Thread-safe; any worker can resume any thread."""

    def __init__(
        self,
        deps: Deps,
        checkpointer: Checkpointer,
        *,
        settings: Settings | None = None,
        workflows: WorkflowService | None = None,
        reports: ReportScheduler | None = None,
        closers: Sequence[Callable[[], None]] = (),
        resumes: ResumeQueue | None = None,
    ) -> None:
        self.deps = deps
        self.directory: Directory = deps.directory
        self.approvals: ApprovalStore = deps.approvals
        self.audit: AuditLog = deps.audit
        # The latest checkpoint of a thread is read once per turn (agent/runtime/checkpoints.py).
        self.graph = build_graph(ReadOnce(checkpointer.saver))
        self._checkpointer = checkpointer
        self._closers = list(closers)
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        # The one approval lifecycle: propose, decide, execute (agent/approvals.py).
        self.lifecycle: Lifecycle = deps.lifecycle
        # Built once with the runtime, never set afterwards (build_runtime passes them in).
        self.workflows = workflows  # business requests, on this runtime's lifecycle
        self.settings = settings  # surfaces read their options here
        self.reports = reports  # when the warehouse and outbox exist
        # Threads a decision asked to continue, claimed before each resume: across processes a
        # thread is resumed by one of them at a time (connectors/appdb/resumes.py).
        self.resumes = resumes if resumes is not None else ResumeQueue(deps.approvals.engine)

    # -- conversations -----------------------------------------------------------------------

    def ask(
        self, user_id: str, text: str, *, thread_id: str | None = None, on_event: EventSink | None = None
    ) -> Outcome:
        """Run one turn for ``user_id`` (raises UnknownPrincipal for users not in the directory)."""
        principal = self.directory.get(user_id)
        thread_id = thread_id or f"cli:{user_id}:{uuid.uuid4().hex[:12]}"
        sink = on_event or (lambda _e: None)
        with self._lock(thread_id), ReadOnce.turn():
            snap = self.graph.get_state(self._config(thread_id))
            # Only a thread with a checkpoint can be waiting to continue after a decision (a
            # queued resume of any other thread has nothing to run): a new thread costs no lookup.
            if not (snap.values and self.resumes.is_pending(thread_id)):
                return self._turn(principal, text, thread_id, sink, snap)
        # A decision made elsewhere (e.g. the CLI, without the graph) asked this thread to
        # continue: continue it here once (resuming takes the thread's lock), unless another
        # process is doing so right now.
        owner = (snap.values or {}).get("user_id")
        claimed, _ = self._resume_claimed(thread_id, sink if owner in (None, principal.id) else None)
        if not claimed:
            err = ErrorEvent(
                "This conversation is continuing after an approval decision; ask again in a moment.",
                retryable=True,
            )
            sink(err)
            return Outcome(thread_id, "failed", error=err)
        with self._lock(thread_id), ReadOnce.turn():
            return self._turn(principal, text, thread_id, sink, self.graph.get_state(self._config(thread_id)))

    def _turn(self, principal: Principal, text: str, thread_id: str, sink: EventSink, snap: Any) -> Outcome:
        """The turn itself, under the thread's lock; ``snap``: the thread's state read under it."""
        owner = (snap.values or {}).get("user_id")
        if owner and owner != principal.id:
            err = ErrorEvent(
                f"This conversation belongs to {self.directory.get(owner).name}; "
                "start your own conversation to ask me something."
            )
            sink(err)
            return Outcome(thread_id, "failed", error=err)
        if snap.next and not snap.interrupts:
            self._finish_crashed_turn(thread_id, principal.id)
            snap = self.graph.get_state(self._config(thread_id))
        if snap.next:
            # Unfinished work in this thread: waiting for approval.
            prior = self._run(None, thread_id, sink)
            if prior.status == "waiting_for_approval":
                names = ", ".join(v.title for v in prior.pending)
                err = ErrorEvent(
                    f"This conversation is waiting for approval of {names}. Wait for the decision, "
                    "withdraw the request, or start a new conversation."
                )
                sink(err)
                return replace(prior, status="failed", error=err)
        turn = {
            "messages": [HumanMessage(content=text)],
            "user_id": principal.id,
            "thread_id": thread_id,
            "turn_id": uuid.uuid4().hex[:12],
        }
        return self._run(turn, thread_id, sink)

    def _finish_crashed_turn(self, thread_id: str, user_id: str) -> None:
        """A run that stopped mid-way (a crash, a killed process) is resumed once, silently: its
        writes finish exactly once, but its answer belongs to the earlier question and is never
        shown as the answer to the new one. If the resume fails too, the turn is closed."""
        try:
            self._run(None, thread_id, lambda _e: None)
        except Exception as exc:
            message = "The previous request in this conversation was interrupted and could not be finished."
            self.graph.update_state(self._config(thread_id), {"error": message, "final": None}, as_node="respond")
            self.audit.append(
                "turn_closed", actor="system", thread_id=thread_id, data={"user": user_id, "error": repr(exc)[:300]}
            )
            return
        self.audit.append("turn_resumed", actor="system", thread_id=thread_id, data={"user": user_id})

    def resume(self, thread_id: str, *, on_event: EventSink | None = None) -> Outcome:
        """Continue a thread after its approvals were decided (or after a crash)."""
        with self._lock(thread_id):
            return self._run(None, thread_id, on_event or (lambda _e: None))

    def recover(self, *, on_event: EventSink | None = None) -> list[Outcome]:
        """Resume every thread whose approved writes have not run (e.g. after a restart)."""
        pending = self.approvals.list(status=("approved", "executing"), limit=1000)
        for r in pending:
            self.lifecycle.execute(r.id)
        for t in sorted({r.thread_id for r in pending if r.thread_id}):
            self.resumes.request(t)
        return self.resume_requested_threads(on_event=on_event)

    def resume_requested(self, thread_id: str, *, on_event: EventSink | None = None) -> Outcome | None:
        """Continue ``thread_id`` if a decision asked for it and no other process is continuing
        it (the durable queue's claim); None when there was nothing to do here."""
        return self._resume_claimed(thread_id, on_event)[1]

    def resume_requested_threads(self, *, on_event: EventSink | None = None) -> list[Outcome]:
        """Continue every thread waiting in the queue (servers' sweeper, ``recover``, the
        detached ``chamberlain resume --queued`` after a CLI decision)."""
        outs = []
        for thread_id in self.resumes.due():
            claimed, out = self._resume_claimed(thread_id, on_event)
            if claimed and out is not None:
                outs.append(out)
        return outs

    def _resume_claimed(self, thread_id: str, on_event: EventSink | None) -> tuple[bool, Outcome | None]:
        if not self.resumes.claim(thread_id):
            return False, None
        try:
            out = self._deliver_to_requester(thread_id, on_event)
        except BaseException:
            self.resumes.release(thread_id)  # still pending: the next resumer tries again
            raise
        self.resumes.done(thread_id)
        return True, out

    # -- a person's own tool call -------------------------------------------------------------

    def call_tool(
        self,
        user_id: str,
        tool: str,
        args: Mapping[str, Any],
        *,
        thread_id: str = "",
        artifacts_dir: Path | None = None,
        dedupe_key: str | None = None,
        via: Mapping[str, Any] | None = None,
        taint: Taint | None = None,
        asker_unseen: bool = False,
    ) -> ToolCallResult:
        """Call one tool as ``user_id`` without the model: the gate's permission check, the
        graph's audit entries; a read runs, a write becomes a request waiting for approval
        (``dedupe_key``, ``via``, ``taint``, ``asker_unseen``: see :func:`agent.runtime.direct.call_tool`)."""
        return call_tool(
            self.deps,
            user_id,
            tool,
            args,
            thread_id=thread_id,
            artifacts_dir=artifacts_dir,
            dedupe_key=dedupe_key,
            via=via,
            taint=taint,
            asker_unseen=asker_unseen,
        )

    # -- approvals ---------------------------------------------------------------------------

    @traced_decision
    def decide(
        self,
        approval_id: str,
        *,
        approver_id: str,
        approve: bool,
        reason: str | None = None,
        on_event: EventSink | None = None,
    ) -> DecisionResult:
        """Record one approver's decision and, once the request is approved as a whole, run it
        through the one executor. The result says only the decision and its outcome: the
        requester's resumed conversation goes to the requester (``on_event`` must be a sink in
        the requester's own channel, e.g. their Slack thread), never back to the approver."""
        res, outcome = self.lifecycle.settle(approval_id, approver_id=approver_id, approve=approve, reason=reason)
        if not res.accepted or not res.final:
            return DecisionResult(approval_view(res.record, self.directory), res.accepted, res.message, False, outcome)
        resumed = False
        if res.record.thread_id:
            # Recorded first, so a crash before the resume leaves it pending, never lost.
            self.resumes.request(res.record.thread_id)
            resumed = self.resume_requested(res.record.thread_id, on_event=on_event) is not None
        view = approval_view(self.approvals.get(approval_id), self.directory)
        return DecisionResult(view, True, res.message, True, outcome=outcome, resumed_thread=resumed)

    def _deliver_to_requester(self, thread_id: str, on_event: EventSink | None) -> Outcome | None:
        """Resume the requester's conversation; its answer is stored in their thread (and
        streamed to ``on_event``, the requester's channel, when given)."""
        snap = self.graph.get_state(self._config(thread_id))
        if not snap.next:
            return None  # a request filed without waiting (business requests): nothing to resume
        out = self.resume(thread_id, on_event=on_event)
        deliver = getattr(self.deps.notifier, "requester_update", None)
        if callable(deliver):  # optional notifier hook: the turn's end, to the requester only
            owner = (self.graph.get_state(self._config(thread_id)).values or {}).get("user_id")
            deliver(owner, thread_id, out)
        return out

    def retry(self, approval_id: str, *, operator_id: str) -> DecisionResult:
        """An operator retries a failed execution (``chamberlain approvals retry``)."""
        done = self.lifecycle.retry(approval_id, operator_id=operator_id)
        rec = done.record
        if rec.thread_id and done.outcome in ("executed", "failed"):
            self.resumes.request(rec.thread_id)
            self.resume_requested(rec.thread_id)
        view = approval_view(self.approvals.get(approval_id), self.directory)
        return DecisionResult(view, done.outcome in ("executed",), done.message, True, outcome=done.message)

    def thread_outcome(self, thread_id: str) -> Outcome:
        """How the conversation stands now (for the requester's own surface)."""
        return self._outcome(thread_id, lambda _e: None, emit=False)

    def pending_for(self, approver_id: str) -> list[ApprovalView]:
        engine = self.approvals.engine  # with the engine: end state and batch (agent/end_state.py)
        return [approval_view(r, self.directory, engine=engine) for r in self.approvals.pending_for(approver_id)]

    def get_approval(self, approval_id: str) -> ApprovalView:
        return approval_view(self.approvals.get(approval_id), self.directory, engine=self.approvals.engine)

    @counted_expiry
    def expire_due(self) -> list[ApprovalView]:
        """Expire the agent's overdue write requests and tell their threads (the model hears it
        as a tool result). Business requests expire through the workflow sweep (``tick``)."""
        out = []
        for pending in self.approvals.list(status="pending", kind=AGENT_KIND, limit=10_000):
            rec = self.approvals.expire(pending.id)
            if rec is None:
                continue
            self.audit.append("approval_expired", actor="system", thread_id=rec.thread_id, approval_id=rec.id)
            view = approval_view(rec, self.directory)
            self.deps.notifier.approval_decided(view)
            if rec.thread_id:
                self.resumes.request(rec.thread_id)
                self.resume_requested(rec.thread_id)
            out.append(view)
        return out

    # -- internals ---------------------------------------------------------------------------

    def history(self, thread_id: str) -> list[BaseMessage]:
        snap = self.graph.get_state(self._config(thread_id))
        return list((snap.values or {}).get("messages", []))

    def close(self) -> None:
        self._checkpointer.close()
        for c in self._closers:
            c()

    def __enter__(self) -> Chamberlain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _lock(self, thread_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks[thread_id]

    @staticmethod
    def _config(thread_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id}, "recursion_limit": 100}

    @traced_turn
    def _run(self, graph_input: Any, thread_id: str, sink: EventSink) -> Outcome:
        config = self._config(thread_id)
        if graph_input is None:
            snap = self.graph.get_state(config)
            if not snap.next:
                return self._outcome(thread_id, sink, emit=False)
            graph_input = Command(resume={"wake": True}) if snap.interrupts else None
        last: Mapping[str, Any] | None = None
        interrupted = False

        def deliver(chunk: Mapping[str, Any]) -> None:
            if (event := self._event(chunk)) is not None:
                sink(event)

        # Progress reaches the sink from the node itself (agent/graph/state.py events_to): a
        # stream without "custom" runs each step's node inline, no worker and waiter threads.
        # "values" alone: the final state, and an interrupt arrives in it as "__interrupt__".
        with events_to(deliver):
            # durability="sync": a step's checkpoint is on disk before the next step runs. Read
            # steps hand their audit entries on in the checkpoint (agent/graph/step_writes.py);
            # LangGraph's default ("async") saves it while the next step runs, so a process killed
            # then would lose the entries of reads that did run.
            for chunk in self.graph.stream(
                graph_input, config, context=self.deps, stream_mode="values", durability="sync"
            ):
                last = chunk
                interrupted = interrupted or "__interrupt__" in chunk
        # A run that ran to its end streamed its final state: no second read of the checkpoint.
        finished = None if interrupted or last is None else last
        return self._outcome(thread_id, sink, emit=True, finished=finished)

    def _event(self, chunk: Mapping[str, Any]) -> Event | None:
        kind = chunk.get("type")
        if kind == "progress":
            return Progress(str(chunk.get("text", "")))
        if kind == "approval_requested":
            views = tuple(self.get_approval(i) for i in chunk.get("approval_ids", []))
            return ApprovalRequested(views)
        return None

    def _outcome(
        self, thread_id: str, sink: EventSink, *, emit: bool, finished: Mapping[str, Any] | None = None
    ) -> Outcome:
        if finished is not None:
            values, waiting = finished, False
        else:
            snap = self.graph.get_state(self._config(thread_id))
            values, waiting = snap.values or {}, bool(snap.next)
        if waiting:
            pending = tuple(
                self.get_approval(g["approval_id"])
                for g in values.get("gated", [])
                if g.get("approval_id") and self.approvals.get(g["approval_id"]).status == "pending"
            )
            return Outcome(thread_id, "waiting_for_approval", pending=pending)
        if values.get("error"):
            err = ErrorEvent(str(values["error"]), retryable=True)
            if emit:
                sink(err)
            return Outcome(thread_id, "failed", error=err)
        answer = build_answer(values.get("messages", []), values.get("final") or "", values.get("citations", []))
        if emit:
            sink(answer)
        return Outcome(thread_id, "answered", answer=answer)


def build_runtime(
    settings: Settings,
    *,
    registry: ToolRegistry,
    chat_model: BaseChatModel | None = None,
    planner: Planner | None = None,
    notifier: Notifier | None = None,
    checkpoint_url: str | None = None,
    engine: Engine | None = None,
    closers: Iterable[Callable[[], None]] = (),
    directory: Directory | None = None,
    on_change: Callable[[Connection, ApprovalRecord, str], None] | None = None,
    workflows_crm: CrmConnector | None = None,
    with_workflows: bool = False,
    reports: Callable[[AuditLog, Directory], ReportScheduler] | None = None,
) -> Chamberlain:
    """Wire a runtime from settings, once: everything it holds is built here, nothing is set on it
    afterwards. ``chat_model`` (e.g. a ScriptedChatModel) overrides Claude. ``engine``: an
    app-database engine the caller owns (and disposes); default: one of its own. ``directory``:
    the process's one loaded directory (default: load ``settings.directory_path``).
    ``on_change``: called in every approval state change's transaction (queued notifications).
    ``with_workflows``: business requests on this runtime's lifecycle (their follow-ups read the
    CRM ``workflows_crm``). ``reports``: builds the report scheduler on the runtime's audit log."""
    from agent.graph.planner import ChatPlanner
    from agent.models.chat import load_prompt
    from agent.runtime.checkpoints import open_checkpointer
    from policies.prompt_leak import PromptLeakGuard

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    owns_engine = engine is None
    engine = engine if engine is not None else make_engine(settings.resolved_database_url)
    directory = directory if directory is not None else Directory.load(settings.directory_path)
    prompt = load_prompt("system")
    if planner is None:
        if chat_model is not None:
            planner = ChatPlanner(
                chat_model,
                prompt,
                breaker=circuit_breaker(settings),
                redact_pii=settings.redact_pii_for_model,
                family_of=lambda name: t.family if (t := registry.get(name)) else "",
                history_budget_tokens=settings.history_budget_tokens,
            )
        elif not settings.uses_real_model:
            # Decisions, resumes and audits still work; only a model call fails, clearly.
            planner = NoModelPlanner()
        else:
            from agent.models.setup import build_routes

            routes = build_routes(settings)
            primary = routes.chain("answer")[0].chat
            planner = ChatPlanner(
                primary,
                prompt,
                breaker=circuit_breaker(settings),
                redact_pii=settings.redact_pii_for_model,
                routes=routes,
                family_of=lambda name: t.family if (t := registry.get(name)) else "",
                history_budget_tokens=settings.history_budget_tokens,
            )
    from agent.runtime.lifecycle import wire_lifecycle

    usage = UsageStore(engine)
    parts = wire_lifecycle(
        settings,
        engine=engine,
        directory=directory,
        registry=registry,
        notifier=notifier,
        on_change=on_change,
        with_workflows=with_workflows,
        workflows_crm=workflows_crm,
    )
    store, audit, lifecycle, notifier, access = parts.store, parts.audit, parts.lifecycle, parts.notifier, parts.access
    prices = None
    if settings.pricing_path is not None:
        from agent.models.pricing import default_price_table

        prices = default_price_table().overridden(settings.pricing_path)
    deps = Deps(
        registry=registry,
        access=access,
        directory=directory,
        approvals=store,
        audit=audit,
        usage=usage,
        planner=planner,
        lifecycle=lifecycle,
        notifier=notifier,
        limits=Limits(
            max_steps=settings.max_steps,
            max_tool_calls=settings.max_tool_calls,
            max_writes_per_turn=settings.max_writes_per_turn,
            max_input_chars=settings.max_message_chars,
            max_steps_per_conversation=settings.max_steps_per_conversation,
            max_tool_calls_per_conversation=settings.max_tool_calls_per_conversation,
            approval_ttl_hours=settings.approval_ttl_hours,
        ),
        artifacts_dir=settings.artifacts_dir,
        admit_request=admitter(settings, usage, directory, audit),
        leak_guard=PromptLeakGuard([prompt]),
        on_model_usage=usage_recorder(usage, directory, audit, prices),
    )
    cp = open_checkpointer(checkpoint_url or settings.resolved_checkpoint_url)
    return Chamberlain(
        deps,
        cp,
        settings=settings,
        workflows=parts.workflows,
        resumes=parts.resumes,
        reports=reports(audit, directory) if reports is not None else None,
        closers=[*closers, *([engine.dispose] if owns_engine else [])],
    )


__all__ = ["Chamberlain", "build_answer", "build_runtime"]
