"""What the CRM read and write tools share: error translation, labels, owner and stage lookups.

Everything here speaks the neutral model (:mod:`connectors.crm.model`), never a vendor's names.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from connectors.crm import CrmConnector, CrmObject, Owner, Pipeline, Stage
from connectors.crm.model import Kind
from connectors.errors import ConflictError, ConnectorUnavailable, InvalidRequest, RecordNotFound
from policies.directory import Directory
from tools.base import ToolContext
from tools.errors import ToolFailure, ToolInputError

FAMILY = "crm"
SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal", "notes": "note", "tasks": "task"}
RELATED: dict[str, tuple[Kind, ...]] = {
    "contacts": ("companies", "deals", "notes", "tasks"),
    "companies": ("contacts", "deals", "notes", "tasks"),
    "deals": ("companies", "contacts", "notes", "tasks"),
    "notes": ("companies", "contacts", "deals"),
    "tasks": ("companies", "contacts", "deals"),
}
# Shown elsewhere in a result (owner, stage label) or of no use to the model.
_HIDDEN = frozenset({"owner_id", "pipeline"})
_LONG_TEXT = frozenset({"body", "description"})
SNIPPET = 300
NOTE_TEXT = 2000


def ref(object_type: str, id: str) -> str:
    return f"crm://{object_type}/{id}"


def what(object_type: str, id: str) -> str:
    return f"{SINGULAR.get(object_type, object_type)} {id}"


@contextlib.contextmanager
def crm_errors(object_type: str | None = None, record_id: str | None = None) -> Iterator[None]:
    """Connector errors → tool errors; auth errors propagate (a person must fix the config)."""
    try:
        yield
    except RecordNotFound as exc:
        if object_type and record_id:
            raise ToolInputError(f"{what(object_type, record_id)} not found; use crm_search to find the id") from exc
        raise ToolInputError(f"not found: {exc}; use crm_search to find the id") from exc
    except InvalidRequest as exc:
        raise ToolInputError(f"the CRM rejected the request: {exc}") from exc
    except ConnectorUnavailable as exc:
        raise ToolFailure("the CRM is unavailable right now; try again in a minute", retryable=True) from exc
    except ConflictError as exc:
        raise ToolFailure(f"the CRM refused the change: {exc}") from exc


def snippet(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def label(record: CrmObject) -> str:
    v = record.values()
    t = record.kind
    if t in ("deals", "companies"):
        return v.get("name") or v.get("domain") or what(t, record.id)
    if t == "contacts":
        name = f"{v.get('first_name') or ''} {v.get('last_name') or ''}".strip()
        return name or v.get("email") or what(t, record.id)
    if t == "notes":
        return snippet(v.get("body") or "", 80) or what(t, record.id)
    if t == "tasks":
        return v.get("subject") or what(t, record.id)
    return what(t, record.id)


def money(value: str | float | Decimal | None) -> str:
    if value is None or value == "":
        return "none"
    try:
        number = float(value)
    except ValueError:
        return str(value)
    return f"{number:,.0f}" if number.is_integer() else f"{number:,.2f}"


def number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def visible(record: CrmObject, limit: int) -> dict[str, str]:
    """The record's fields with a value, long text cut to ``limit`` characters."""
    return {k: snippet(v, limit) if k in _LONG_TEXT else v for k, v in record.values().items() if k not in _HIDDEN}


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def noon_iso(day: date) -> str:
    return f"{day.isoformat()}T12:00:00.000Z"


def require_key(ctx: ToolContext, tool_name: str) -> str:
    if not ctx.idempotency_key:
        # A programming error in the caller, not something the model can fix: propagate it.
        raise RuntimeError(
            f"{tool_name}: ctx.idempotency_key is required to execute a write "
            "(the agent derives it from the approval so a retried execution is not repeated)"
        )
    return ctx.idempotency_key


class CrmSession:
    """The connector plus owners and pipelines, read once per tool family (they change rarely)."""

    def __init__(self, crm: CrmConnector, directory: Directory | None) -> None:
        self.crm = crm
        self._directory = directory
        self._owners: dict[str, Owner] | None = None
        self._pipelines: dict[str, Pipeline] | None = None

    def get(self, object_type: Kind, record_id: str, related: Sequence[Kind] = ()) -> CrmObject:
        with crm_errors(object_type, record_id):
            return self.crm.fetch(object_type, record_id, related=list(related))

    def owners(self) -> dict[str, Owner]:
        if self._owners is None:
            with crm_errors():
                self._owners = {o.id: o for o in self.crm.owners()}
        return self._owners

    def pipelines(self) -> dict[str, Pipeline]:
        if self._pipelines is None:
            with crm_errors():
                self._pipelines = {p.id: p for p in self.crm.pipelines("deals")}
        return self._pipelines

    def owner_text(self, owner_id: str | None) -> str | None:
        if not owner_id:
            return None
        o = self.owners().get(owner_id)
        return f"{o.name} <{o.email}>" if o else f"owner {owner_id}"

    def owner_by_email(self, email: str) -> Owner | None:
        wanted = email.strip().lower()
        return next((o for o in self.owners().values() if o.email.lower() == wanted), None)

    def asker_owner(self, ctx: ToolContext) -> Owner | None:
        return self.owner_by_email(ctx.principal.email) if ctx.principal.email else None

    def directory(self) -> Directory:
        if self._directory is None:
            self._directory = Directory.load()  # the company directory versioned with the code
        return self._directory

    def person_of(self, owner_id: str | None) -> tuple[str | None, str | None]:
        """(directory id, email) of a CRM owner, as far as they can be known."""
        if not owner_id:
            return None, None
        o = self.owners().get(owner_id)
        if o is None:
            return None, None
        person = self.directory().by_email(o.email)
        return (person.id if person else None), o.email

    def pipeline_of(self, deal: CrmObject) -> Pipeline:
        pipelines = self.pipelines()
        pid = deal.values().get("pipeline") or "default"
        pipeline = pipelines.get(pid) or next(iter(pipelines.values()), None)
        if pipeline is None:
            raise ToolFailure("the CRM has no deal pipeline configured")
        return pipeline

    def stage_label(self, deal: CrmObject) -> str | None:
        stage_id = deal.values().get("stage")
        if not stage_id:
            return None
        stage = self.pipeline_of(deal).stage(stage_id)
        return stage.label if stage else stage_id

    def stage_id(self, value: str) -> str:
        """A stage label the model used ('Closed won') as its id, when some pipeline has it."""
        for p in self.pipelines().values():
            stage = p.stage(value)
            if stage is not None:
                return stage.id
        return value

    def resolve_stage(self, deal: CrmObject, wanted: str) -> Stage:
        pipeline = self.pipeline_of(deal)
        stage = pipeline.stage(wanted)
        if stage is None:
            options = ", ".join(f"{s.label} ({s.id})" for s in pipeline.stages)
            raise ToolInputError(f"unknown deal stage {wanted!r} in pipeline {pipeline.label!r}; use one of: {options}")
        return stage

    def parent_facts(self, record: CrmObject) -> dict[str, Any]:
        owner, owner_email = self.person_of(record.owner_id)
        facts: dict[str, Any] = {
            "owner": owner,
            "owner_email": owner_email,
            "object_type": record.kind,
            "record_id": record.id,
        }
        if record.kind == "deals":
            facts["amount"] = number(getattr(record, "amount", None))
        return facts


__all__ = [
    "FAMILY",
    "NOTE_TEXT",
    "RELATED",
    "SINGULAR",
    "SNIPPET",
    "CrmSession",
    "crm_errors",
    "label",
    "money",
    "noon_iso",
    "now_iso",
    "number",
    "ref",
    "require_key",
    "snippet",
    "visible",
    "what",
]
