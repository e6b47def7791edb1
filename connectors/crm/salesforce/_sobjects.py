"""Neutral kinds and fields ↔ Salesforce SObjects and fields (API names), and picklist values."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.crm.model import Kind


@dataclass(frozen=True)
class SObjectType:
    name: str  # API name, e.g. "Opportunity"
    key_prefix: str  # first three characters of every Id of this type
    fields: dict[str, str]  # neutral field → SObject field
    searchable: tuple[str, ...]  # SObject fields a free-text search looks at
    required: tuple[str, ...] = ()


SOBJECTS: dict[Kind, SObjectType] = {
    "companies": SObjectType(
        "Account",
        "001",
        {
            "name": "Name",
            "domain": "Website",
            "industry": "Industry",
            "city": "BillingCity",
            "country": "BillingCountry",
            "region": "Region__c",
            "tier": "Tier__c",
            "employees": "NumberOfEmployees",
            "phone": "Phone",
            "description": "Description",
            "lifecycle_stage": "Lifecycle_Stage__c",
        },
        ("Name", "Website", "Phone"),
        ("Name",),
    ),
    "contacts": SObjectType(
        "Contact",
        "003",
        {
            "first_name": "FirstName",
            "last_name": "LastName",
            "email": "Email",
            "phone": "Phone",
            "job_title": "Title",
            "company_name": "Company_Name__c",
            "city": "MailingCity",
            "country": "MailingCountry",
            "lifecycle_stage": "Lifecycle_Stage__c",
        },
        ("FirstName", "LastName", "Email", "Phone", "Company_Name__c"),
        ("LastName",),
    ),
    "deals": SObjectType(
        "Opportunity",
        "006",
        {
            "name": "Name",
            "amount": "Amount",
            "stage": "StageName",
            "pipeline": "Sales_Process__c",
            "close_date": "CloseDate",
            "deal_type": "Type",
            "description": "Description",
        },
        ("Name", "StageName", "Description", "Type"),
        ("Name", "StageName", "CloseDate"),
    ),
    "notes": SObjectType("Note", "002", {"body": "Body", "timestamp": "Note_Time__c"}, ("Title", "Body"), ("Title",)),
    "tasks": SObjectType(
        "Task",
        "00T",
        {
            "subject": "Subject",
            "body": "Description",
            "status": "Status",
            "priority": "Priority",
            "task_type": "Type",
            "due_at": "ReminderDateTime",
        },
        ("Subject", "Description"),
        ("Subject",),
    ),
}
KIND_OF: dict[str, Kind] = {t.name: k for k, t in SOBJECTS.items()}
NUMBER_FIELDS = frozenset({"Amount", "NumberOfEmployees"})
DATE_FIELDS = frozenset({"CloseDate", "ActivityDate"})
DATETIME_FIELDS = frozenset({"CreatedDate", "LastModifiedDate", "ReminderDateTime", "Note_Time__c"})
SYSTEM_FIELDS = ("Id", "OwnerId", "CreatedDate", "LastModifiedDate", "IsDeleted")
USER_PREFIX = "005"

# Picklists whose Salesforce values differ from the neutral ones.
TASK_STATUS = {
    "NOT_STARTED": "Not Started",
    "IN_PROGRESS": "In Progress",
    "WAITING": "Waiting on someone else",
    "COMPLETED": "Completed",
    "DEFERRED": "Deferred",
}
TASK_PRIORITY = {"NONE": "Low", "LOW": "Low", "MEDIUM": "Normal", "HIGH": "High"}
TASK_TYPE = {"TODO": "Other", "CALL": "Call", "EMAIL": "Email"}
PICKLISTS: dict[str, dict[str, str]] = {"Status": TASK_STATUS, "Priority": TASK_PRIORITY, "Type": TASK_TYPE}


def to_salesforce_value(sobject: str, field: str, value: str) -> str:
    if sobject == "Task" and field in PICKLISTS:
        return PICKLISTS[field].get(value, value)
    return value


def to_neutral_value(sobject: str, field: str, value: str) -> str:
    if sobject == "Task" and field in PICKLISTS:
        back = {v: k for k, v in PICKLISTS[field].items()}  # later wins: "Low" → LOW, not NONE
        return back.get(value, value)
    return value


__all__ = [
    "DATETIME_FIELDS",
    "DATE_FIELDS",
    "KIND_OF",
    "NUMBER_FIELDS",
    "SOBJECTS",
    "SYSTEM_FIELDS",
    "USER_PREFIX",
    "SObjectType",
    "to_neutral_value",
    "to_salesforce_value",
]
