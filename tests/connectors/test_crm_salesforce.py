"""What is Salesforce about the Salesforce-shaped connector (the neutral contract is in
test_crm_contract.py): SObjects and their field names, SOQL, ids, picklists, limits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.crm import Condition, NewTask, Sort
from connectors.crm.salesforce import SalesforceMemoryCrm, SalesforceOrg, Soql
from connectors.crm.salesforce._soql import Clause
from connectors.errors import InvalidRequest, RecordNotFound, RetryLater


@pytest.fixture
def sf() -> SalesforceMemoryCrm:
    return SalesforceMemoryCrm.seeded()


def test_a_neutral_search_is_one_soql_query(sf: SalesforceMemoryCrm) -> None:
    owner = SalesforceMemoryCrm.demo_user_id("61000004")
    page = sf.find(
        "deals",
        text="Acme",
        where=[Condition("stage", "IN", ("closedwon", "contractsent")), Condition("owner_id", "EQ", owner)],
        order_by=Sort("amount", descending=True),
        limit=5,
    )
    assert page.total >= 1
    assert sf.org.queries[-1] == (
        "SELECT Id, OwnerId, CreatedDate, LastModifiedDate, Name, Amount, StageName, Sales_Process__c, "
        "CloseDate, Type, Description FROM Opportunity WHERE StageName IN ('closedwon', 'contractsent') AND "
        f"OwnerId = '{owner}' AND (Name LIKE '%Acme%' OR StageName LIKE '%Acme%' OR Description LIKE '%Acme%' "
        "OR Type LIKE '%Acme%') ORDER BY Amount DESC NULLS LAST LIMIT 5 OFFSET 0"
    )
    quoted = Soql("Account", ("Id",), (Clause("Name", "=", "O'Brien \\ Co"),))
    assert str(quoted) == "SELECT Id FROM Account WHERE Name = 'O\\'Brien \\\\ Co'"


def test_records_are_sobjects_with_salesforce_ids_and_fields(sf: SalesforceMemoryCrm) -> None:
    deal_id = SalesforceMemoryCrm.demo_id("deals", "30001")
    assert deal_id == "006000000000030001" and len(deal_id) == 18
    row = sf.org.retrieve("Opportunity", deal_id)
    assert row["Name"] == "Acme Corporation — 2027 renewal" and row["StageName"] == "contractsent"
    assert row["Amount"] == Decimal("240000") and row["CloseDate"] == "2026-12-15"
    assert row["OwnerId"].startswith("005") and sf.org.retrieve("Account", "001000000000010001")["Website"]
    with pytest.raises(
        InvalidRequest, match="INVALID_FIELD: No such column 'dealstage' on sobject of type Opportunity"
    ):
        sf.org.update("Opportunity", deal_id, {"dealstage": "closedwon"})
    with pytest.raises(InvalidRequest, match="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"):
        sf.org.update("Opportunity", deal_id, {"StageName": "Signed"})
    with pytest.raises(InvalidRequest, match="REQUIRED_FIELD_MISSING: Required fields are missing: \\[Name"):
        sf.org.insert("Opportunity", {"Amount": Decimal(1)})
    with pytest.raises(RecordNotFound, match="NOT_FOUND"):
        sf.org.retrieve("Opportunity", "006000000000039999")


def test_task_picklists_are_salesforce_values_underneath(sf: SalesforceMemoryCrm) -> None:
    account = SalesforceMemoryCrm.demo_id("companies", "10001")
    new = NewTask(parent_kind="companies", parent_id=account, subject="Call back", due_at="2026-12-01T12:00:00.000Z")
    task = sf.add_task(new, idempotency_key="k1")
    row = sf.org.retrieve("Task", task.id)
    assert task.id.startswith("00T") and (row["Status"], row["Priority"], row["Type"]) == (
        "Not Started",
        "Normal",
        "Other",
    )
    assert row["ActivityDate"] == "2026-12-01" and row["Idempotency_Key__c"] == "k1"
    assert (task.status, task.priority) == ("NOT_STARTED", "MEDIUM")  # neutral again when read


def test_the_api_request_limit_is_a_retry_later() -> None:
    org = SalesforceOrg(api_limit=1)
    with pytest.raises(InvalidRequest):
        org.retrieve("Widget__c", "x")  # counted, and rejected for what it is
    with pytest.raises(RetryLater, match="REQUEST_LIMIT_EXCEEDED"):
        org.retrieve("Account", "001000000000000001")
