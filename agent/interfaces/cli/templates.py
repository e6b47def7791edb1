"""``chamberlain requests``: what a business request looks like.

    chamberlain requests template KIND            a filled example (JSON) to edit and submit
    chamberlain requests template KIND --fields   every field: type, required, what it means

The field descriptions come from the request models in ``policies.requests`` (the same text the
model reads), so the CLI, the README table and the validator cannot disagree.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

app = typer.Typer(help="Business request formats: templates and field reference.", no_args_is_help=True)

# A filled, valid example per kind: what a person edits before `approvals submit FILE`.
EXAMPLES: dict[str, dict[str, Any]] = {
    "expense": {
        "kind": "expense",
        "amount": 84.5,
        "currency": "USD",
        "category": "meals",
        "date": "2026-11-20",
        "description": "Team lunch after the quarterly planning session",
        "has_receipt": True,
        "attendees": 4,
        "merchant": "Luigi's Trattoria",
    },
    "purchase": {
        "kind": "purchase",
        "item": "Dell U2723QE 27-inch 4K monitor",
        "quantity": 2,
        "unit_price": 579.0,
        "currency": "USD",
        "category": "it_hardware",
        "vendor": "Dell",
        "justification": "Second screens for the two new analysts joining in January",
        "needed_by": "2027-01-05",
    },
    "time_off": {
        "kind": "time_off",
        "start": "2026-12-22",
        "end": "2026-12-31",
        "type": "vacation",
        "note": "Back on January 4",
    },
    "discount": {
        "kind": "discount",
        "deal_id": "30001",
        "discount_percent": 8,
        "currency": "USD",
        "reason": "Renewal risk: a competitor offered 10% off for a three-year term",
    },
    "access": {
        "kind": "access",
        "system": "warehouse",
        "access_level": "read",
        "justification": "Build the monthly returns report for finance",
        "duration_days": 90,
    },
}


def _type_name(ann: Any) -> str:
    import types
    import typing

    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return ", ".join(str(a) for a in typing.get_args(ann))
    if origin is typing.Annotated:
        return _type_name(typing.get_args(ann)[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(ann) if a is not type(None))
    members = getattr(ann, "__members__", None)
    if members:
        return "one of " + ", ".join(str(m.value) for m in members.values())
    return {"Decimal": "number", "str": "text", "int": "integer", "bool": "true/false", "date": "YYYY-MM-DD"}.get(
        getattr(ann, "__name__", ""), getattr(ann, "__name__", str(ann))
    )


def field_rows(kind: str) -> list[tuple[str, str, bool, str]]:
    """``(name, type, required, description)`` for every field of ``kind``, in schema order."""
    from policies.requests import request_model

    model = request_model(kind)
    rows = []
    for name, info in model.model_fields.items():
        rows.append((name, _type_name(info.annotation), info.is_required(), info.description or ""))
    return rows


@app.callback()
def _group() -> None:
    """Business request formats: templates and field reference."""


@app.command()
def template(
    kind: Annotated[str, typer.Argument(help="expense, purchase, time_off, discount or access.")],
    fields: Annotated[bool, typer.Option("--fields", help="Describe every field instead.")] = False,
) -> None:
    """Print a filled example of a KIND request (edit it, then `chamberlain approvals submit FILE --user ID`)."""
    from policies.requests import REQUEST_KINDS

    if kind not in EXAMPLES:
        typer.echo(f"error: unknown request kind {kind!r}; use one of: {', '.join(REQUEST_KINDS)}", err=True)
        raise typer.Exit(1)
    if not fields:
        typer.echo(json.dumps(EXAMPLES[kind], indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("field", "type", "required", "meaning", title=f"{kind} request")
    for name, type_name, required, description in field_rows(kind):
        table.add_row(name, type_name, "yes" if required else "no", description)
    Console().print(table)


__all__ = ["EXAMPLES", "app", "field_rows"]
