"""Chamberlain's governed tools as MCP tools: what a caller may list, and what a call does.

Nothing here decides anything: listing uses the access policy the model's turn uses
(``access.tools_for``), and every call goes through :meth:`Chamberlain.call_tool`, the gate a
person's own call takes (role check, schema validation, row/column permissions, audit). A read
returns the tool's result, masked to the caller's clearance; a write returns the approval
request it filed and runs only when a person approves it, once, through the approval executor.

MCP clients retry (a timeout, a reconnect, a model that repeats itself), so a write's request is
keyed by the caller, the tool and its normalised arguments: while that request is open (pending,
approved, executing) or failed (an operator may retry it), the same call returns it instead of
filing a second one. Once it has ended (executed, rejected, expired, withdrawn, stale) the same
call is a new request for a person to decide; the tool's own plan refuses one with nothing left
to change (a deal already in the asked-for stage).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp import types
from pydantic import ValidationError

from agent.approvals import Taint
from agent.errors import translate
from connectors.errors import ConnectorError
from policies.errors import PolicyError
from policies.injection import score as injection_score
from policies.pii import PiiKind, hidden_kinds, redact_obj
from policies.taint import Provenance, TaintState, trace_arguments
from tools.errors import ToolError

if TYPE_CHECKING:
    from agent.events import ApprovalView
    from agent.runtime.chamberlain import Chamberlain

log = logging.getLogger(__name__)

#: Requests in these states are over: the same call again is a new request. (Not "failed": an
#: operator may still retry that one, and a second request could then run the write twice.)
_ENDED = ("executed", "rejected", "expired", "withdrawn", "stale")
#: How many ended requests of one identical call we look past before giving up (a loop bound).
_MAX_GENERATIONS = 50

_WRITE_NOTE = (
    "\n\nThis is a write: calling it files an approval request and returns its id and who must "
    "approve it; it runs only after a person approves, once. Calling it again with the same "
    "arguments while it is open returns the same request and its state."
)


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the audit log names them: the directory user, the MCP client's own
    name and version (from its ``initialize``), and the session (HTTP) or server process (stdio)."""

    user_id: str
    client: str
    session: str
    transport: str

    def via(self) -> dict[str, str]:
        return {"surface": "mcp", "transport": self.transport, "client": self.client, "session": self.session}

    @property
    def thread_id(self) -> str:
        # Every audit entry of the call (the lifecycle's too) carries the thread id: naming the
        # session there ties the request, its decision and its execution to this MCP session.
        return f"mcp:{self.session}"


class GovernedTools:
    """The runtime's tools for MCP callers (synchronous: call it from a worker thread).

    The caller is an agent whose conversation we never see: what it read from untrusted tools
    in this session is kept (bounded, per session, as :class:`TaintState`) so that a write it
    then proposes carries that taint to the approval card — the sources it read and each
    argument found in them — as a write proposed by Chamberlain's own model does."""

    def __init__(self, runtime: Chamberlain, *, max_sessions: int = 1_000) -> None:
        from agent.service.stores import Service

        self.rt = runtime
        self.approvals = Service.for_runtime(runtime).approvals  # what the CLI, HTTP, web and Slack call
        self._taint: OrderedDict[str, TaintState] = OrderedDict()
        self._reads = 0
        self._lock = threading.Lock()
        self._max_sessions = max_sessions

    # -- listing ---------------------------------------------------------------------------------

    def list_for(self, user_id: str) -> list[types.Tool]:
        """The tools ``user_id``'s roles may use, exactly the set the model is offered."""
        principal = self.rt.directory.get(user_id)
        registry = self.rt.deps.registry
        out = []
        for name in sorted(self.rt.deps.access.tools_for(principal)):
            tool = registry.get(name)
            if tool is None:  # the policy names a tool this deployment did not configure
                continue
            write = tool.effect.value == "write"
            out.append(
                types.Tool(
                    name=tool.name,
                    description=tool.description + (_WRITE_NOTE if write else ""),
                    input_schema=tool.input_schema(),
                    # A read's result is its pydantic result model; a write's is the request.
                    output_schema=None if write else _object_schema(tool.result_model),
                    annotations=types.ToolAnnotations(
                        title=tool.progress.rstrip("…. ") or None,
                        read_only_hint=not write,
                        destructive_hint=write,
                        idempotent_hint=True if write else None,
                        open_world_hint=False,
                    ),
                    meta={"chamberlain/effect": tool.effect.value},
                )
            )
        return out

    # -- calling ---------------------------------------------------------------------------------

    def call(self, caller: Caller, name: str, arguments: Mapping[str, Any] | None) -> types.CallToolResult:
        """Run one call through the gate; every refusal or failure is an ``isError`` result with
        one line (a bug is logged here with its traceback and reported as an internal error)."""
        args = dict(arguments or {})
        tool = self.rt.deps.registry.get(name)
        try:
            done = self.rt.call_tool(
                caller.user_id,
                name,
                args,
                thread_id=caller.thread_id,
                dedupe_key=self._dedupe_key(caller, name, args),
                via=caller.via(),
                taint=self._taint_of(caller, args) if tool is not None and tool.effect.value == "write" else None,
                asker_unseen=True,  # the client's model called; the person's words never reach us
            )
        except Exception as exc:
            return _error(_one_line(exc))
        if done.status == "ran":
            untrusted = bool(tool and tool.untrusted_output)
            # What the caller's clearance may not see is masked, as the graph masks a read's
            # result before its model sees it: here the client's model is that reader.
            hidden = hidden_kinds(self.rt.directory.get(caller.user_id).clearance)
            result = _read_result(done.result, untrusted=untrusted, hidden=hidden)
            if untrusted:
                self._remember(caller, name, getattr(result.content[0], "text", ""))
            return result
        assert done.approval is not None  # "proposed" always carries its request
        # Re-read with the end state (executed and its result, failed and who may retry, ...).
        return _pending_result(self.approvals.view(done.approval.id), self._label)

    def _remember(self, caller: Caller, tool: str, text: str) -> None:
        with self._lock:
            self._reads += 1
            state = self._taint.pop(caller.session, TaintState())
            self._taint[caller.session] = state.add(Provenance(f"{tool}:mcp-{self._reads}", True), text)
            while len(self._taint) > self._max_sessions:  # the least recently used session goes
                self._taint.popitem(last=False)

    def _taint_of(self, caller: Caller, args: Mapping[str, Any]) -> Taint | None:
        with self._lock:
            state = self._taint.get(caller.session)
        if state is None or not state.sources:
            return None
        # No user messages: we never see what the person told their client, so any value that
        # appears in what the session read counts as coming from there.
        fields = [f"{t.path}={t.value} (from {', '.join(t.sources)})" for t in trace_arguments(dict(args), state, [])]
        score = max((injection_score(f.text).score for f in state.fragments), default=0.0)
        return Taint(tuple(state.sources), tuple(fields), score)

    def _label(self, user_id: str) -> str:
        person = self.rt.directory.find(user_id)
        return person.label if person is not None else user_id

    def _dedupe_key(self, caller: Caller, name: str, args: Mapping[str, Any]) -> str | None:
        tool = self.rt.deps.registry.get(name)
        if tool is None or tool.effect.value != "write":
            return None
        try:  # normalised: defaults filled in, so {"a": 1} and {"a": 1, "b": <default>} are one call
            shown = tool.parse_args(dict(args)).model_dump(mode="json")
        except ValidationError:
            return None  # the gate refuses it with the reason; nothing is filed
        body = json.dumps({"tool": name, "args": shown}, sort_keys=True, separators=(",", ":"), default=str)
        base = f"mcp:{caller.user_id}:{hashlib.sha256(body.encode()).hexdigest()[:32]}"
        for generation in range(1, _MAX_GENERATIONS + 1):
            key = base if generation == 1 else f"{base}:{generation}"
            rec = self.approvals.find_by_dedupe_key(key)
            if rec is None or rec.status not in _ENDED:
                return key  # free, or the open request this call repeats
        return None  # asked and refused this many times: a fresh, unkeyed request


def _object_schema(model: type[Any]) -> dict[str, Any] | None:
    schema = model.model_json_schema() if hasattr(model, "model_json_schema") else None
    return schema if isinstance(schema, dict) and schema.get("type") == "object" else None


def _read_result(result: Any, *, untrusted: bool, hidden: frozenset[PiiKind]) -> types.CallToolResult:
    data = result.model_dump(mode="json") if hasattr(result, "model_dump") else {"result": result}
    if hidden:
        data = redact_obj(data, kinds=hidden)
    text = json.dumps(data, ensure_ascii=False, default=str)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=data if isinstance(data, dict) else None,
        # Written by people other than the caller (CRM notes, documents, query values): data to
        # quote, never instructions; a client that screens tool output can key on this.
        meta={"chamberlain/untrusted_output": True} if untrusted else None,
    )


def _pending_result(view: ApprovalView, label: Callable[[str], str]) -> types.CallToolResult:
    waiting = [s for s in view.stages if s.status == "pending"]
    approvers = [a for s in waiting for a in s.approvers]
    end = view.end.to_json() if view.end is not None else None
    data: dict[str, Any] = {
        "status": "pending_approval" if view.status == "pending" else view.status,
        "approval_id": view.id,
        "summary": view.summary,
        "reason": view.reason,
        "approvers": approvers,
        "stages": [
            {"name": s.name, "mode": s.mode, "approvers": list(s.approvers), "status": s.status} for s in view.stages
        ],
        "expires_at": view.expires_at.isoformat() if view.expires_at else None,
        "end_state": end,
    }
    if view.status == "pending":
        who = " or ".join(label(a) for a in approvers) or "an approver"
        headline = (
            f"pending approval {view.id}: {view.summary}. Nothing has changed yet; {who} must approve it "
            f"(Slack card, the web page, or `chamberlain approvals approve {view.id} --user <approver>`)."
        )
        data["how_to_approve"] = f"chamberlain approvals approve {view.id} --user <approver>"
    else:
        headline = f"approval {view.id} ({view.summary}): " + (end["headline"] if end else view.status)
    return types.CallToolResult(content=[types.TextContent(type="text", text=headline)], structured_content=data)


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def _one_line(exc: Exception) -> str:
    """What the caller may read: our own errors' message, a tool's or connector's failure; for
    anything else (a bug) only that it happened: the traceback goes to the server's log."""
    ours = translate(exc)
    if ours is not None:
        text = ours.message
    elif isinstance(exc, ToolError | ConnectorError | PolicyError):  # a refusal, said in its own words
        text = str(exc)
    else:
        log.exception("MCP tool call failed")
        return "internal error in Chamberlain (logged on the server); tell the operator"
    return " ".join(text.split()) or type(exc).__name__


__all__ = ["Caller", "GovernedTools"]
