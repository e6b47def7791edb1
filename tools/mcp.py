"""MCP servers' tools, governed like built-in ones: Chamberlain is the MCP client.

Each server is paired with an operator tool policy (:mod:`policies.tool_effects`) that says what
each of its tools does. A tool the policy does not list is never offered (fail closed). A tool
whose description or input schema differs from the fingerprint the operator reviewed — at start
or at any later call (a "rug pull") — is disabled until the operator re-approves it
(``chamberlain tools fingerprints`` prints the current values to review and paste).

Calls have a bounded wait and a bounded output; a server that is down, slow or returns
malformed results gives the model a clear tool error and never executes anything twice (writes
run only through the approval executor, which claims each approval once).

The MCP SDK is asynchronous; the graph is not. One background event loop per server holds the
session open; calls are submitted to it and waited for with a timeout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies.tool_effects import ToolEffectPolicy, fingerprint
from tools.base import Tool, ToolContext
from tools.errors import ToolFailure
from tools.external import ToolRegistrationError, json_schema_args, tool_from_declaration


@dataclass(frozen=True)
class McpServerConfig:
    """One MCP server: a command (stdio) or a Streamable HTTP URL, and its tool policy file."""

    name: str
    policy: Path
    command: Sequence[str] = ()
    url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0  # the longest wait for one call
    # Starting a stdio server is a process start plus its imports (seconds on a busy machine), so it gets its own,
    # longer bound than a call.
    start_timeout_s: float = 30.0
    max_output_chars: int = 20_000

    def __post_init__(self) -> None:
        if bool(self.command) == bool(self.url):
            raise ToolRegistrationError(f"MCP server {self.name!r}: give exactly one of command or url")


@dataclass(frozen=True)
class ListedTool:
    name: str
    description: str
    input_schema: Mapping[str, Any]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.description, self.input_schema)


class McpUnavailable(ToolFailure):
    """The MCP server could not be reached or did not answer in time (retryable)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class McpSession:
    """A long-lived client session on a background event loop (thread-safe, synchronous API)."""

    def __init__(self, config: McpServerConfig) -> None:
        self.config = config
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"mcp-{config.name}", daemon=True)
        self._queue: asyncio.Queue[Any] | None = None
        self._ready = concurrent.futures.Future[None]()
        self._done = concurrent.futures.Future[None]()
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        try:
            self._ready.result(timeout=config.start_timeout_s)
        except concurrent.futures.TimeoutError:
            self.close()
            raise McpUnavailable(
                f"MCP server {config.name!r} did not start within {config.start_timeout_s:g} s"
            ) from None
        except Exception as exc:
            self.close()
            raise McpUnavailable(f"MCP server {config.name!r} is unavailable: {_reason(exc)}") from exc

    def _server_target(self) -> Any:
        if self.config.url:
            return self.config.url
        from mcp import StdioServerParameters

        cmd = list(self.config.command)
        return StdioServerParameters(command=cmd[0], args=cmd[1:], env=dict(self.config.env) or None)

    async def _serve(self) -> None:
        import anyio
        from mcp import Client

        try:
            async with (
                Client(
                    # The SDK's read timeout also bounds `initialize`, i.e. the server's start; each call is bounded
                    # by `timeout_s` in _handle.
                    self._server_target(),
                    read_timeout_seconds=max(self.config.start_timeout_s, self.config.timeout_s),
                    cache=None,
                    mode="legacy",
                ) as client,
                anyio.create_task_group() as tg,
            ):
                self._queue = asyncio.Queue()
                self._ready.set_result(None)
                while True:
                    item = await self._queue.get()
                    if item is None:
                        tg.cancel_scope.cancel()
                        break
                    fn, fut = item
                    tg.start_soon(self._handle, client, fn, fut)
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
        finally:
            if not self._done.done():
                self._done.set_result(None)

    async def _handle(
        self, client: Any, fn: Callable[[Any], Awaitable[Any]], fut: concurrent.futures.Future[Any]
    ) -> None:
        try:
            result = await asyncio.wait_for(fn(client), self.config.timeout_s)
        except BaseException as exc:
            if not fut.done():
                fut.set_exception(exc)
        else:
            if not fut.done():
                fut.set_result(result)

    def run(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        if self._queue is None or self._done.done():
            raise McpUnavailable(f"MCP server {self.config.name!r} is not connected")
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (fn, fut))
        try:
            return fut.result(timeout=self.config.timeout_s + 1)
        except (concurrent.futures.TimeoutError, TimeoutError):
            raise McpUnavailable(
                f"MCP server {self.config.name!r} did not answer within {self.config.timeout_s:g} s"
            ) from None
        except ToolFailure:
            raise
        except Exception as exc:
            raise McpUnavailable(f"MCP server {self.config.name!r} failed: {_reason(exc)}") from exc

    def list_tools(self) -> list[ListedTool]:
        async def go(client: Any) -> Any:
            return await client.list_tools()

        result = self.run(go)
        return [ListedTool(t.name, t.description or "", dict(t.input_schema or {})) for t in result.tools]

    def call_tool(self, name: str, arguments: dict[str, Any], meta: Mapping[str, Any] | None = None) -> Any:
        async def go(client: Any) -> Any:
            return await client.call_tool(name, arguments, meta=dict(meta) if meta else None)

        return self.run(go)

    def close(self) -> None:
        if self._queue is not None and not self._done.done():
            self._loop.call_soon_threadsafe(self._queue.put_nowait, None)
            with contextlib.suppress(concurrent.futures.TimeoutError):
                self._done.result(timeout=5)
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            if not self._thread.is_alive():
                self._loop.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _reason(exc.exceptions[0])
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class McpToolset:
    """The governed tools of one MCP server."""

    def __init__(self, config: McpServerConfig, policy: ToolEffectPolicy | None = None) -> None:
        self.config = config
        self.policy = policy or ToolEffectPolicy.load(config.policy)
        self.session = McpSession(config)
        self.disabled: dict[str, str] = {}  # tool name -> why
        self.skipped: dict[str, str] = {}  # listed by the server, not offered: why
        self._tools: list[Tool[Any, Any]] = []
        for listed in self.session.list_tools():
            declared = self.policy.get(listed.name)
            if declared is None:
                self.skipped[listed.name] = f"not declared in {self.policy.path} (unknown tools are denied)"
                continue
            if declared.fingerprint and declared.fingerprint != listed.fingerprint:
                self.disabled[listed.name] = _rug_pull(config.name, listed.name, self.policy.path)
                continue
            if not declared.fingerprint:
                self.disabled[listed.name] = (
                    f"{self.policy.path}:{declared.line}: tool {listed.name!r} has no fingerprint: review it and add "
                    f"`fingerprint: {listed.fingerprint}`"
                )
                continue
            self._tools.append(self._governed(listed, declared.fingerprint))

    def tools(self) -> list[Tool[Any, Any]]:
        return list(self._tools)

    def _check_unchanged(self, name: str, expected: str) -> None:
        if name in self.disabled:
            raise ToolFailure(self.disabled[name])
        now = {t.name: t for t in self.session.list_tools()}
        if name not in now or now[name].fingerprint != expected:
            self.disabled[name] = _rug_pull(self.config.name, name, self.policy.path)
            raise ToolFailure(self.disabled[name])

    def _governed(self, listed: ListedTool, expected: str) -> Tool[Any, Any]:
        declared = self.policy.get(listed.name)
        assert declared is not None

        def call(args: dict[str, Any], ctx: ToolContext) -> Any:
            self._check_unchanged(listed.name, expected)
            meta = {"idempotency_key": ctx.idempotency_key} if ctx.idempotency_key else None
            result = self.session.call_tool(listed.name, args, meta)
            return self._output(listed.name, result)

        return tool_from_declaration(
            name=listed.name,
            description=listed.description,
            args_model=json_schema_args(listed.name, listed.input_schema),
            call=call,
            declared=declared,
            family=f"mcp:{self.config.name}",
        )

    def _output(self, name: str, result: Any) -> Any:
        texts: list[str] = []
        for block in getattr(result, "content", None) or []:
            text = getattr(block, "text", None)
            texts.append(text if isinstance(text, str) else f"[{getattr(block, 'type', 'content')} omitted]")
        structured = getattr(result, "structured_content", None)
        if getattr(result, "is_error", False):
            raise ToolFailure(f"{name} reported an error: {' '.join(texts)[:500] or 'no details'}")
        out: Any = structured if structured is not None else "\n".join(texts)
        size = len(str(out))
        if size > self.config.max_output_chars:
            return str(out)[: self.config.max_output_chars] + (
                f"\n[output cut at {self.config.max_output_chars:,} of {size:,} characters]"
            )
        return out

    def close(self) -> None:
        self.session.close()


def _rug_pull(server: str, name: str, policy: Path) -> str:
    return (
        f"MCP tool {name!r} of server {server!r} changed its description or schema since it was approved; "
        f"it is disabled until an operator reviews it and updates its fingerprint in {policy}"
    )


def current_fingerprints(config: McpServerConfig) -> list[ListedTool]:
    """What the server offers now, for an operator to review (``chamberlain tools fingerprints``)."""
    session = McpSession(config)
    try:
        return session.list_tools()
    finally:
        session.close()


def load_mcp_servers(path: str | Path) -> list[McpServerConfig]:
    """Read the operator's MCP server list::

    servers:
      tickets:
        command: [python, -m, tickets_server]   # or  url: http://127.0.0.1:8000/mcp
        policy: mcp/tickets.tools.yaml          # relative to this file
        timeout_s: 10
        max_output_chars: 20000
    """
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ToolRegistrationError(f"{path}: MCP server list not found (CHAMBERLAIN_MCP_SERVERS)") from None
    except yaml.YAMLError as exc:
        raise ToolRegistrationError(f"{path}: not valid YAML: {exc}") from exc
    servers = raw.get("servers") if isinstance(raw, dict) else None
    if not isinstance(servers, dict):
        raise ToolRegistrationError(f"{path}: expected 'servers:' mapping name -> {{command|url, policy}}")
    out = []
    for name, spec in servers.items():
        if not isinstance(spec, dict) or "policy" not in spec:
            raise ToolRegistrationError(f"{path}: server {name!r} needs a 'policy:' file declaring its tools' effects")
        cmd = spec.get("command") or []
        if isinstance(cmd, str):
            cmd = cmd.split()
        out.append(
            McpServerConfig(
                name=str(name),
                policy=(path.parent / str(spec["policy"])).resolve(),
                command=tuple(str(c) for c in cmd),
                url=spec.get("url"),
                env={str(k): str(v) for k, v in (spec.get("env") or {}).items()},
                timeout_s=float(spec.get("timeout_s", 10)),
                start_timeout_s=float(spec.get("start_timeout_s", 30)),
                max_output_chars=int(spec.get("max_output_chars", 20_000)),
            )
        )
    return out


__all__ = [
    "ListedTool",
    "McpServerConfig",
    "McpSession",
    "McpToolset",
    "McpUnavailable",
    "current_fingerprints",
    "load_mcp_servers",
]
