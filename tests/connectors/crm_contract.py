"""The contract every CRM connector must pass, in the neutral model only.

``tests/connectors/test_crm_contract.py`` imports these tests and gives them a fixture ``s``
(a :class:`Subject`) per connector; a new connector adds one entry there. Nothing here knows a
vendor's names. The demo company is the data: its ids are translated by
``Subject.id`` (a Salesforce-shaped org gives deal 30001 an Opportunity id).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from connectors.crm import Condition, CrmConnector, Deal, Kind, NewNote, NewTask, Note, Page, Sort, Task
from connectors.crm_service import ACME_RENEWAL_DEAL, INJECTION_MARKER, SALES_OWNERS
from connectors.errors import ConnectorUnavailable, InvalidRequest, RecordNotFound


@dataclass
class Subject:
    crm: CrmConnector
    id: Callable[[Kind, str], str]  # demo id → this connector's id
    owner_id: Callable[[str], str]  # demo owner id → this connector's owner id
    # A connector whose API limit is already spent, or why there is none.
    rate_limited: Callable[[], CrmConnector] | str


def _deals(page: Page) -> list[Deal]:
    assert all(isinstance(d, Deal) for d in page.records)
    return [d for d in page.records if isinstance(d, Deal)]


def _deal(s: Subject, demo_id: str = "30001") -> Deal:
    deal = s.crm.fetch("deals", s.id("deals", demo_id))
    assert isinstance(deal, Deal)
    return deal


# ---------------------------------------------------------------- reads


def test_implements_the_protocol(s: Subject) -> None:
    assert isinstance(s.crm, CrmConnector)


def test_fetch_gives_typed_neutral_fields_and_a_version(s: Subject) -> None:
    deal = _deal(s)
    assert deal.id == s.id("deals", "30001") and deal.kind == "deals"
    assert deal.name == ACME_RENEWAL_DEAL and deal.stage == "contractsent" and deal.pipeline == "default"
    assert deal.amount == Decimal("240000") and deal.close_date == date(2026, 12, 15)
    assert deal.owner_id == s.owner_id(SALES_OWNERS["u_alice"][0])
    assert deal.version == deal.updated_at and deal.created_at.endswith("Z") and deal.updated_at >= deal.created_at
    assert deal.associations == {}  # only when asked for
    company = s.crm.fetch("companies", s.id("companies", "10001"))
    assert company.values()["domain"] == "acme.example" and company.values()["employees"].isdigit()


def test_fetch_unknown_records_and_types(s: Subject) -> None:
    with pytest.raises(RecordNotFound):
        s.crm.fetch("deals", s.id("deals", "39999"))
    with pytest.raises(InvalidRequest):
        s.crm.fetch("widgets", "1")  # type: ignore[arg-type]


def test_associations_read_the_same_from_both_sides(s: Subject) -> None:
    deal = s.crm.fetch("deals", s.id("deals", "30001"), related=["companies", "notes"])
    company_id = s.id("companies", "10001")
    assert deal.associations["companies"] == (company_id,)
    assert len(deal.associations["notes"]) >= 2
    assert deal.id in s.crm.linked("companies", company_id, "deals")
    assert s.crm.linked("deals", deal.id, "notes") == list(deal.associations["notes"])
    notes = s.crm.fetch_many("notes", list(deal.associations["notes"]))
    assert any(isinstance(n, Note) and INJECTION_MARKER in (n.body or "") for n in notes)
    with pytest.raises(RecordNotFound):
        s.crm.linked("deals", s.id("deals", "39999"), "notes")


def test_fetch_many_keeps_order_skips_unknown_and_repeats(s: Subject) -> None:
    ids = [s.id("deals", i) for i in ("30003", "30001", "39999", "30001", "30002")]
    got = s.crm.fetch_many("deals", ids)
    assert [d.id for d in got] == [s.id("deals", i) for i in ("30003", "30001", "30002")]
    assert all(isinstance(d, Deal) and d.name for d in got)
    assert s.crm.fetch_many("deals", []) == []


def test_find_by_text(s: Subject) -> None:
    page = s.crm.find("deals", text="Acme renewal")
    assert [d.name for d in _deals(page)] == [ACME_RENEWAL_DEAL] and page.total == 1
    people = s.crm.find("contacts", text="Jordan Blake")
    assert [c.values()["email"] for c in people.records] == ["jordan.blake@acme.example"]
    assert s.crm.find("companies", text="no-such-company-anywhere").total == 0


def test_find_by_conditions(s: Subject) -> None:
    won = s.crm.find("deals", where=[Condition("stage", "EQ", "closedwon")], limit=100)
    assert won.total == len(won.records) > 0 and {d.values()["stage"] for d in won.records} == {"closedwon"}
    closed = s.crm.find("deals", where=[Condition("stage", "IN", ("closedwon", "closedlost"))], limit=100)
    lost = s.crm.find("deals", where=[Condition("stage", "EQ", "closedlost")], limit=100)
    assert closed.total == won.total + lost.total
    big = s.crm.find("deals", where=[Condition("amount", "GT", "300000")], limit=100)
    assert big.total > 0 and all(d.amount and d.amount > 300000 for d in _deals(big))
    alice = s.owner_id(SALES_OWNERS["u_alice"][0])
    mine = s.crm.find(
        "deals", where=[Condition("stage", "EQ", "contractsent"), Condition("owner_id", "EQ", alice)], limit=100
    )
    assert _deal(s).id in {d.id for d in mine.records} and all(d.owner_id == alice for d in mine.records)
    later = s.crm.find("deals", where=[Condition("close_date", "GTE", "2027-01-01")], limit=100)
    assert later.total > 0 and all(d.close_date and d.close_date >= date(2027, 1, 1) for d in _deals(later))
    named = s.crm.find("deals", where=[Condition("name", "CONTAINS", "renewal")], limit=100)
    assert named.total > 0 and all("renewal" in (d.name or "").lower() for d in _deals(named))
    every = s.crm.find("deals", limit=1).total
    has = s.crm.find("deals", where=[Condition("deal_type", "HAS_VALUE")], limit=1).total
    missing = s.crm.find("deals", where=[Condition("description", "NO_VALUE")], limit=1).total
    assert has == every == missing  # the demo deals all have a type and no description


def test_find_sorts_and_pages_without_gaps_or_repeats(s: Subject) -> None:
    by_amount = s.crm.find("deals", order_by=Sort("amount", descending=True), limit=25)
    amounts = [d.amount or 0 for d in _deals(by_amount)]
    assert amounts == sorted(amounts, reverse=True)
    seen: list[str] = []
    after = None
    total = None
    for _ in range(10):
        page = s.crm.find("companies", limit=15, after=after)
        total = page.total if total is None else total
        assert page.total == total
        seen.extend(r.id for r in page.records)
        after = page.next_after
        if after is None:
            break
    assert total == 40 and len(seen) == 40 == len(set(seen))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"where": [Condition("dealname", "EQ", "x")]}, "dealname"),
        ({"where": [Condition("stage", "ROUGHLY", "x")]}, "ROUGHLY"),  # type: ignore[arg-type]
        ({"where": [Condition("stage", "IN", ())]}, "IN"),
        ({"order_by": Sort("nope")}, "nope"),
    ],
)
def test_find_rejects_what_it_cannot_do(s: Subject, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        s.crm.find("deals", **kwargs)  # type: ignore[arg-type]


def test_pipelines_and_owners(s: Subject) -> None:
    [pipeline] = s.crm.pipelines("deals")
    assert pipeline.id == "default" and len(pipeline.stages) == 7
    won = pipeline.stage("Closed won")
    assert won is not None and won.id == "closedwon" and won.is_closed
    assert pipeline.stage("contractsent") is not None and not pipeline.stage("contractsent").is_closed  # type: ignore[union-attr]
    owners = {o.email: o for o in s.crm.owners()}
    assert set(owners) == {row[1] for row in SALES_OWNERS.values()}
    alice = owners["alice.chen@larkspur.example"]
    assert alice.id == s.owner_id(SALES_OWNERS["u_alice"][0]) and alice.name == "Alice Chen"


# ---------------------------------------------------------------- writes


def test_update_deal_changes_fields_and_the_version(s: Subject) -> None:
    before = _deal(s)
    after = s.crm.update_deal(before.id, stage="closedwon", amount=Decimal("250000.50"))
    assert after.stage == "closedwon" and after.amount == Decimal("250000.50")
    assert after.version != before.version
    again = _deal(s)
    assert (again.stage, again.amount, again.version) == (after.stage, after.amount, after.version)
    s.crm.update_deal(before.id, stage="closedwon")  # the same value again: no error (idempotent)
    assert _deal(s).stage == "closedwon"
    devon = s.owner_id(SALES_OWNERS["u_devon"][0])
    assert s.crm.update_deal(before.id, owner_id=devon).owner_id == devon


def test_update_deal_errors(s: Subject) -> None:
    deal = _deal(s)
    with pytest.raises(InvalidRequest, match="closedwon"):  # names the valid stages
        s.crm.update_deal(deal.id, stage="signed")
    with pytest.raises(InvalidRequest):
        s.crm.update_deal(deal.id)
    with pytest.raises(RecordNotFound):
        s.crm.update_deal(s.id("deals", "39999"), stage="closedwon")
    assert _deal(s).version == deal.version  # nothing was written


def test_add_note_once_per_key(s: Subject) -> None:
    deal = _deal(s)
    before = s.crm.linked("deals", deal.id, "notes")
    alice = s.owner_id(SALES_OWNERS["u_alice"][0])
    new = NewNote(
        parent_kind="deals", parent_id=deal.id, body="Signed on site.", timestamp="2026-11-20T09:00:00.000Z",
        owner_id=alice,
    )  # fmt: skip
    first = s.crm.add_note(new, idempotency_key="approval-1")
    second = s.crm.add_note(new, idempotency_key="approval-1")
    assert first.id == second.id and isinstance(first, Note)
    assert s.crm.linked("deals", deal.id, "notes") == [*before, first.id]
    stored = s.crm.fetch("notes", first.id, related=["deals"])
    assert isinstance(stored, Note) and stored.body == "Signed on site." and stored.owner_id == alice
    assert stored.timestamp == "2026-11-20T09:00:00.000Z" and stored.associations["deals"] == (deal.id,)
    other = s.crm.add_note(new, idempotency_key="approval-2")
    assert other.id not in (first.id,) and len(s.crm.linked("deals", deal.id, "notes")) == len(before) + 2
    with pytest.raises(RecordNotFound):
        s.crm.add_note(new.model_copy(update={"parent_id": s.id("deals", "39999")}), idempotency_key="k3")


def test_add_task_once_per_key(s: Subject) -> None:
    company = s.id("companies", "10001")
    bob = s.owner_id(SALES_OWNERS["u_bob"][0])
    new = NewTask(
        parent_kind="companies", parent_id=company, subject="Send the quote", body="Before Friday.",
        due_at="2026-12-01T12:00:00.000Z", priority="HIGH", owner_id=bob,
    )  # fmt: skip
    first = s.crm.add_task(new, idempotency_key="task-1")
    assert s.crm.add_task(new, idempotency_key="task-1").id == first.id
    assert s.crm.linked("companies", company, "tasks").count(first.id) == 1
    task = s.crm.fetch("tasks", first.id)
    assert isinstance(task, Task)
    assert (task.subject, task.body, task.priority, task.status) == (
        "Send the quote",
        "Before Friday.",
        "HIGH",
        "NOT_STARTED",
    )
    assert task.due_at == "2026-12-01T12:00:00.000Z" and task.owner_id == bob
    with pytest.raises(InvalidRequest):  # not a CRM user
        s.crm.add_task(new.model_copy(update={"owner_id": "nobody"}), idempotency_key="task-2")


def test_rate_limit_is_a_connector_error(s: Subject) -> None:
    if isinstance(s.rate_limited, str):
        pytest.skip(s.rate_limited)
    limited = s.rate_limited()
    with pytest.raises(ConnectorUnavailable):
        for _ in range(5):
            limited.fetch("deals", s.id("deals", "30001"))


__all__ = [
    "Subject",
    "test_add_note_once_per_key",
    "test_add_task_once_per_key",
    "test_associations_read_the_same_from_both_sides",
    "test_fetch_gives_typed_neutral_fields_and_a_version",
    "test_fetch_many_keeps_order_skips_unknown_and_repeats",
    "test_fetch_unknown_records_and_types",
    "test_find_by_conditions",
    "test_find_by_text",
    "test_find_rejects_what_it_cannot_do",
    "test_find_sorts_and_pages_without_gaps_or_repeats",
    "test_implements_the_protocol",
    "test_pipelines_and_owners",
    "test_rate_limit_is_a_connector_error",
    "test_update_deal_changes_fields_and_the_version",
    "test_update_deal_errors",
]
