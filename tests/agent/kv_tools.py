"""A tiny versioned key-value "system of record" and its tools, for graph tests.

It counts every applied write so tests can prove exactly-once execution, and honours
idempotency keys like a well-behaved remote API.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from pydantic import Field

from tools.base import Tool, ToolArgs, ToolContext, ToolResult, WritePlan, tool
from tools.errors import ToolFailure, ToolInputError


class KvStore:
    def __init__(self) -> None:
        self.values: dict[str, str] = {"color": "blue", "size": "M"}
        self.versions: dict[str, int] = {"color": 1, "size": 1}
        self.applied: list[tuple[str, str, str]] = []  # (key, value, idempotency key)
        self.seen_keys: set[str] = set()
        self.down = False
        self.lock = threading.Lock()
        self.before_apply: Callable[[], None] | None = None

    def write(self, key: str, value: str, idem: str) -> int:
        with self.lock:
            if idem in self.seen_keys:
                return self.versions[key]
            if self.before_apply:
                self.before_apply()
            self.values[key] = value
            self.versions[key] = self.versions.get(key, 0) + 1
            self.applied.append((key, value, idem))
            self.seen_keys.add(idem)
            return self.versions[key]


class GetArgs(ToolArgs):
    key: str = Field(description="The key to read, e.g. 'color'.")


class GetResult(ToolResult):
    key: str
    value: str
    version: int


class SetArgs(ToolArgs):
    key: str = Field(description="The key to change.")
    value: str = Field(min_length=1, description="The new value.")


class SetResult(ToolResult):
    key: str
    value: str
    version: int


def kv_tools(store: KvStore) -> list[Tool]:  # type: ignore[type-arg]
    @tool(effect="read", progress="reading the store…", untrusted_output=True, family="kv")
    def kv_get(args: GetArgs, ctx: ToolContext) -> GetResult:
        """Read one key of the store."""
        if store.down:
            raise ToolFailure("the store is unavailable right now", retryable=True)
        if args.key not in store.values:
            raise ToolInputError(f"no key {args.key!r}; known keys: {', '.join(sorted(store.values))}")
        return GetResult(key=args.key, value=store.values[args.key], version=store.versions[args.key])

    def plan(args: SetArgs, ctx: ToolContext) -> WritePlan:
        if args.key not in store.values:
            raise ToolInputError(f"no key {args.key!r}")
        return WritePlan(
            target=f"key {args.key}",
            summary=f"Set {args.key} from {store.values[args.key]!r} to {args.value!r}",
            current={args.key: store.values[args.key]},
            proposed={args.key: args.value},
            target_version=str(store.versions[args.key]),
            facts={"owner": "u_alice"},
        )

    @tool(effect="write", progress="writing to the store…", plan=plan, family="kv")
    def kv_set(args: SetArgs, ctx: ToolContext) -> SetResult:
        """Change one key of the store (needs approval)."""
        if not ctx.idempotency_key:
            raise RuntimeError("writes need an idempotency key")
        version = store.write(args.key, args.value, ctx.idempotency_key)
        return SetResult(key=args.key, value=args.value, version=version)

    return [kv_get, kv_set]
