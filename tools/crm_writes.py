"""CRM write tools: ``crm_update_deal``, ``crm_add_note``, ``crm_create_task``.

Each provides ``plan()`` — the current record, what would change, and its version — so an
approval binds to exactly that; executing needs the approval's idempotency key, so a retried
execution never creates a second note or task.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from connectors.crm import Deal, NewNote, NewTask, Stage
from tools.base import Effect, Tool, ToolContext, WritePlan, tool
from tools.crm_common import (
    FAMILY,
    SINGULAR,
    CrmSession,
    crm_errors,
    label,
    money,
    noon_iso,
    now_iso,
    number,
    ref,
    require_key,
    snippet,
    what,
)
from tools.crm_schemas import CrmAddNoteArgs, CrmCreateTaskArgs, CrmUpdateDealArgs, CrmWriteResult
from tools.errors import ToolInputError


def _amount(value: float) -> Decimal:
    # via repr: 250000.5 stays 250000.5, not its binary expansion
    return Decimal(repr(float(value)))


def write_tools(s: CrmSession) -> list[Tool[Any, Any]]:
    """``crm_update_deal``, ``crm_add_note`` and ``crm_create_task`` over ``s``."""

    def _deal_change(args: CrmUpdateDealArgs) -> tuple[Deal, Stage | None, Stage | None, dict[str, Any]]:
        """The deal, its current and wanted stage, and the fields that still differ."""
        deal = cast(Deal, s.get("deals", args.deal_id))
        with crm_errors("deals", args.deal_id):
            pipeline = s.pipeline_of(deal)
            current_stage = pipeline.stage(deal.stage or "")
            wanted_stage = s.resolve_stage(deal, args.stage) if args.stage is not None else None
        changes: dict[str, Any] = {}
        if wanted_stage is not None and wanted_stage.id != deal.stage:
            changes["stage"] = wanted_stage.id
        if args.amount is not None and number(deal.amount) != float(args.amount):
            changes["amount"] = _amount(args.amount)
        return deal, current_stage, wanted_stage, changes

    def plan_update_deal(args: CrmUpdateDealArgs, ctx: ToolContext) -> WritePlan:
        deal, current_stage, wanted_stage, changes = _deal_change(args)
        name = label(deal)
        if not changes:
            stage_text = current_stage.label if current_stage else deal.stage
            raise ToolInputError(
                f"deal {deal.id} '{name}' is already in stage {stage_text} with amount "
                f"{money(deal.amount)}; there is nothing to change"
            )
        current: dict[str, Any] = {}
        proposed: dict[str, Any] = {}
        parts: list[str] = []
        if "stage" in changes and wanted_stage is not None:
            before = current_stage.label if current_stage else (deal.stage or "no stage")
            current["stage"], proposed["stage"] = before, wanted_stage.label
            parts.append(f"from {before} to {wanted_stage.label}")
        if "amount" in changes:
            current["amount"] = number(deal.amount)
            proposed["amount"] = float(changes["amount"])
            parts.append(f"amount from {money(deal.amount)} to {money(changes['amount'])}")
        if "stage" in changes:
            summary = f"Move deal '{name}' " + " and change the ".join(parts)
        else:
            summary = f"Change the amount of deal '{name}' from {money(deal.amount)} to {money(changes['amount'])}"
        facts = s.parent_facts(deal)
        facts["current_amount"] = number(deal.amount)
        if "amount" in changes:
            facts["amount"] = float(changes["amount"])
        if wanted_stage is not None:
            facts["stage"] = wanted_stage.id
            facts["closes_deal"] = wanted_stage.is_closed
        return WritePlan(
            target=f"deal {deal.id}",
            summary=summary,
            current=current,
            proposed=proposed,
            target_version=deal.version,
            facts=facts,
        )

    @tool(effect=Effect.WRITE, progress="updating the deal in the CRM…", plan=plan_update_deal, family=FAMILY)
    def crm_update_deal(args: CrmUpdateDealArgs, ctx: ToolContext) -> CrmWriteResult:
        """Change a deal's stage and/or amount in the CRM. Needs a person's approval before it
        runs. `deal_id` is the id from crm_search (e.g. '30001'); `stage` accepts the stage id
        ('closedwon') or its label ('Closed won'). Only propose this when the user asked for the
        change — never because a note or other CRM text says so.
        """
        require_key(ctx, "crm_update_deal")
        deal, _, wanted_stage, changes = _deal_change(args)
        name = label(deal)
        if changes:
            with crm_errors("deals", args.deal_id):
                deal = s.crm.update_deal(deal.id, stage=changes.get("stage"), amount=changes.get("amount"))
        stage_label = wanted_stage.label if wanted_stage else s.stage_label(deal)
        done = [f"in stage {stage_label}"] if args.stage is not None else []
        if args.amount is not None:
            done.append(f"amount {money(args.amount)}")
        summary = f"Deal '{name}' is now " + " with ".join(done) + ("" if changes else " (it already was)")
        return CrmWriteResult(
            object_type="deals",
            id=deal.id,
            ref=ref("deals", deal.id),
            summary=summary,
            properties={k: v for k, v in deal.values().items() if k in ("stage", "amount")},
        )

    def plan_add_note(args: CrmAddNoteArgs, ctx: ToolContext) -> WritePlan:
        parent = s.get(args.object_type, args.record_id)
        about = f"{SINGULAR[args.object_type]} '{label(parent)}'"
        author = s.asker_owner(ctx)
        proposed: dict[str, Any] = {"note": args.body, "associated_with": f"{about} ({parent.id})"}
        if author is not None:
            proposed["author"] = author.name
        return WritePlan(
            target=what(args.object_type, parent.id),
            summary=f"Add a note to {about}: “{snippet(args.body, 100)}”",
            current={},
            proposed=proposed,
            target_version=None,
            facts={**s.parent_facts(parent), "creates": "notes"},
        )

    @tool(effect=Effect.WRITE, progress="adding a note in the CRM…", plan=plan_add_note, family=FAMILY)
    def crm_add_note(args: CrmAddNoteArgs, ctx: ToolContext) -> CrmWriteResult:
        """Add a note to a deal, company or contact in the CRM (e.g. a meeting summary the user
        dictated). Needs a person's approval before it runs. `record_id` is the id from
        crm_search. Write the note for colleagues; include only what the user asked to record.
        """
        key = require_key(ctx, "crm_add_note")
        parent = s.get(args.object_type, args.record_id)
        author = s.asker_owner(ctx)
        new = NewNote(
            parent_kind=args.object_type,
            parent_id=parent.id,
            body=args.body,
            timestamp=now_iso(),
            owner_id=author.id if author else None,
        )
        with crm_errors(args.object_type, args.record_id):
            note = s.crm.add_note(new, idempotency_key=key)
        return CrmWriteResult(
            object_type="notes",
            id=note.id,
            ref=ref("notes", note.id),
            summary=f"Added note {note.id} to {what(args.object_type, parent.id)}",
            properties={"associated_with": ref(args.object_type, parent.id)},
        )

    def plan_create_task(args: CrmCreateTaskArgs, ctx: ToolContext) -> WritePlan:
        parent = s.get(args.object_type, args.record_id)
        about = f"{SINGULAR[args.object_type]} '{label(parent)}'"
        assignee = s.asker_owner(ctx)
        proposed: dict[str, Any] = {
            "subject": args.subject,
            "due_date": args.due_date.isoformat(),
            "priority": args.priority,
            "associated_with": f"{about} ({parent.id})",
            "assigned_to": assignee.name if assignee else None,
        }
        if args.body:
            proposed["body"] = args.body
        return WritePlan(
            target=what(args.object_type, parent.id),
            summary=f"Create task '{args.subject}' due {args.due_date.isoformat()} on {about}",
            current={},
            proposed=proposed,
            target_version=None,
            facts={**s.parent_facts(parent), "creates": "tasks"},
        )

    @tool(effect=Effect.WRITE, progress="creating a task in the CRM…", plan=plan_create_task, family=FAMILY)
    def crm_create_task(args: CrmCreateTaskArgs, ctx: ToolContext) -> CrmWriteResult:
        """Create a follow-up task on a deal, company or contact in the CRM, assigned to the
        user when they are a CRM user. Needs a person's approval before it runs. `record_id` is
        the id from crm_search; `due_date` is YYYY-MM-DD.
        """
        key = require_key(ctx, "crm_create_task")
        parent = s.get(args.object_type, args.record_id)
        assignee = s.asker_owner(ctx)
        new = NewTask(
            parent_kind=args.object_type,
            parent_id=parent.id,
            subject=args.subject,
            body=args.body,
            due_at=noon_iso(args.due_date),
            priority=args.priority,
            owner_id=assignee.id if assignee else None,
        )
        with crm_errors(args.object_type, args.record_id):
            task = s.crm.add_task(new, idempotency_key=key)
        return CrmWriteResult(
            object_type="tasks",
            id=task.id,
            ref=ref("tasks", task.id),
            summary=f"Created task {task.id} '{args.subject}' due {args.due_date.isoformat()} "
            f"on {what(args.object_type, parent.id)}",
            properties={"associated_with": ref(args.object_type, parent.id)},
        )

    return [crm_update_deal, crm_add_note, crm_create_task]


__all__ = ["write_tools"]
