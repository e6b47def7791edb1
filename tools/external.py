"""Bring your own tools: Python functions (and, via :mod:`tools.mcp`, MCP servers' tools)
governed exactly like the built-in ones — schema-validated arguments, the same gate, taint,
approval, exactly-once execution and audit.

A Python tool is a typed function with a declared effect::

    from tools.external import governed

    @governed(effect="read")
    def lookup_ticket(ticket_id: str) -> dict:
        '''Look up a support ticket by id.'''

    @governed(effect="write", target="ticket {ticket_id}", changes="closes the ticket",
              sensitive=["ticket_id"], verbs=["close", "resolve"])
    def close_ticket(ticket_id: str, note: str = "", ctx: ToolContext | None = None) -> dict:
        '''Close a support ticket.'''   # ctx.idempotency_key is stable across retries

List the modules in ``CHAMBERLAIN_TOOL_MODULES`` (comma-separated) and grant the tools to roles
in the access policy. A function without ``effect`` is refused when its module is imported,
with its file and line. ``verbs`` (optional, writes) are the words an asker uses to ask for
the action; a card none of them asks for is shown as not asked for (``policies.intent``).
"""

from __future__ import annotations

import importlib
import inspect
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from policies.tool_effects import ToolEffect
from tools.base import Effect, Tool, ToolArgs, ToolContext, ToolResult, WritePlan


class ToolRegistrationError(Exception):
    """An external tool cannot be registered; the message names the file/line or module to fix."""


class ExternalResult(ToolResult):
    """What an external tool returned (JSON-able), passed to the model as data."""

    output: Any = Field(description="The tool's output.")


def _where(fn: Callable[..., Any]) -> str:
    try:
        return f"{inspect.getsourcefile(fn)}:{inspect.getsourcelines(fn)[1]}"
    except (OSError, TypeError):
        return getattr(fn, "__qualname__", repr(fn))


class _SafeFormat(string.Formatter):
    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return kwargs.get(str(key), f"{{{key}}}")


def render_target(template: str, args: Mapping[str, Any], default: str) -> str:
    """The card's target line from the declared template; unknown fields stay as written."""
    if not template:
        return default
    try:
        return _SafeFormat().format(template, **args)
    except (ValueError, IndexError):
        return template


def plan_for(
    name: str, effect: ToolEffect | None, target: str, changes: str
) -> Callable[[Any, ToolContext], WritePlan]:
    """A write's plan: what it changes and its target, from the operator's declaration.
    External tools expose no current state, so the card shows the proposed call in full."""

    def plan(args: BaseModel, _ctx: ToolContext) -> WritePlan:
        proposed = args.model_dump(mode="json")
        tgt = render_target(target, proposed, name)
        what = changes or "a write through an external tool"
        return WritePlan(target=tgt, summary=f"{name}: {what} ({tgt})", proposed=proposed)

    return plan


def governed(
    *,
    effect: str | None = None,
    target: str = "",
    changes: str = "",
    sensitive: Iterable[str] = (),
    on_untrusted_sensitive: str = "flag",
    untrusted_output: bool = True,
    verbs: Iterable[str] = (),
    name: str | None = None,
    progress: str = "",
    family: str = "external",
) -> Callable[[Callable[..., Any]], Tool[Any, Any]]:
    """Turn a typed Python function into a governed tool (see the module docstring)."""

    def wrap(fn: Callable[..., Any]) -> Tool[Any, Any]:
        tool_name = name or fn.__name__
        if effect not in ("read", "write"):
            raise ToolRegistrationError(
                f"{_where(fn)}: tool {tool_name!r} declares no effect: use @governed(effect='read') "
                "or @governed(effect='write', target=..., changes=...)"
            )
        sig = inspect.signature(fn)
        hints = get_type_hints(fn)
        takes_ctx = "ctx" in sig.parameters
        fields: dict[str, Any] = {}
        for pname, param in sig.parameters.items():
            if pname == "ctx":
                continue
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise ToolRegistrationError(f"{_where(fn)}: tool {tool_name!r}: *args/**kwargs are not allowed")
            if pname not in hints:
                raise ToolRegistrationError(f"{_where(fn)}: tool {tool_name!r}: argument {pname!r} needs a type")
            default = ... if param.default is param.empty else param.default
            fields[pname] = (hints[pname], default)
        unknown = set(sensitive) - set(fields)
        if unknown:
            raise ToolRegistrationError(f"{_where(fn)}: tool {tool_name!r}: sensitive names unknown {sorted(unknown)}")
        words = tuple(v.strip() for v in verbs if v.strip())
        if words and effect != "write":
            raise ToolRegistrationError(f"{_where(fn)}: tool {tool_name!r}: verbs apply to writes only")
        args_model = create_model(f"{tool_name}_args", __base__=ToolArgs, **fields)

        def run(args: BaseModel, ctx: ToolContext) -> ExternalResult:
            kwargs = dict(args)
            if takes_ctx:
                kwargs["ctx"] = ctx
            return ExternalResult(output=fn(**kwargs))

        return Tool(
            name=tool_name,
            description=inspect.cleandoc(fn.__doc__ or ""),
            args_model=args_model,
            result_model=ExternalResult,
            effect=Effect(effect),
            fn=run,
            progress=progress,
            untrusted_output=untrusted_output,
            plan=plan_for(tool_name, None, target, changes) if effect == "write" else None,
            family=family,
            sensitive=tuple(sensitive),
            on_untrusted_sensitive=on_untrusted_sensitive,
            verbs=words,
        )

    return wrap


def load_python_tools(modules: Iterable[str]) -> list[Tool[Any, Any]]:
    """Every governed tool defined at the top level of the named modules."""
    out: list[Tool[Any, Any]] = []
    for mod_name in (m.strip() for m in modules):
        if not mod_name:
            continue
        try:
            mod = importlib.import_module(mod_name)
        except ToolRegistrationError:
            raise
        except Exception as exc:
            raise ToolRegistrationError(
                f"could not import tool module {mod_name!r} ({type(exc).__name__}: {exc}); "
                "fix it or remove it from CHAMBERLAIN_TOOL_MODULES"
            ) from exc
        found = [v for v in vars(mod).values() if isinstance(v, Tool)]
        if not found:
            raise ToolRegistrationError(
                f"tool module {mod_name!r} defines no @governed tools; remove it from CHAMBERLAIN_TOOL_MODULES"
            )
        out.extend(found)
    return out


class JsonSchemaArgs(BaseModel):
    """Arguments of a tool described only by a JSON schema (MCP, benchmarks): validated with
    ``jsonschema`` against exactly that schema, which is also what the model is shown."""

    model_config = ConfigDict(extra="allow")
    __tool_schema__: dict[str, Any] = {}

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return dict(cls.__tool_schema__)

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> JsonSchemaArgs:
        import jsonschema
        from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

        data = dict(obj) if isinstance(obj, Mapping) else obj
        try:
            jsonschema.validate(data, cls.__tool_schema__)
        except jsonschema.ValidationError as exc:
            loc = tuple(str(p) for p in exc.absolute_path) or ("arguments",)
            raise ValidationError.from_exception_data(
                cls.__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("schema", "{msg}", {"msg": exc.message}), loc=loc, input=data
                    )
                ],
            ) from None
        return cls(**data)


def json_schema_args(tool_name: str, schema: Mapping[str, Any]) -> type[JsonSchemaArgs]:
    schema = dict(schema) or {"type": "object", "properties": {}}
    schema.setdefault("type", "object")
    return type(f"{tool_name}_args", (JsonSchemaArgs,), {"__tool_schema__": schema})


def tool_from_declaration(
    *,
    name: str,
    description: str,
    args_model: type[BaseModel],
    call: Callable[[dict[str, Any], ToolContext], Any],
    declared: ToolEffect,
    family: str,
) -> Tool[Any, Any]:
    """A governed tool for a callable whose effect the operator declared in a tool policy file."""

    def run(args: BaseModel, ctx: ToolContext) -> ExternalResult:
        return ExternalResult(output=call(args.model_dump(mode="json"), ctx))

    return Tool(
        name=name,
        description=description.strip() or f"{name} (no description given)",
        args_model=args_model,
        result_model=ExternalResult,
        effect=Effect(declared.effect),
        fn=run,
        untrusted_output=declared.untrusted_output,
        plan=plan_for(name, declared, declared.target, declared.changes) if declared.effect == "write" else None,
        family=family,
        sensitive=declared.sensitive,
        on_untrusted_sensitive=declared.on_untrusted_sensitive,
        verbs=declared.verbs,
    )


__all__ = [
    "ExternalResult",
    "JsonSchemaArgs",
    "ToolRegistrationError",
    "governed",
    "json_schema_args",
    "load_python_tools",
    "render_target",
    "tool_from_declaration",
]
