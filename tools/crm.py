"""CRM tools: search and read records, and (with approval) update deals, add notes, create tasks.

Built by :func:`crm_tools`, which closes over a :class:`~connectors.crm.CrmConnector` — any
CRM (HubSpot, the Salesforce-shaped org...): the tools speak the neutral model only. Reads
(:mod:`tools.crm_reads`) return compact summaries (the model's context is precious) and are
marked untrusted: CRM free text is written by other people. Writes (:mod:`tools.crm_writes`)
plan first and need the approval's idempotency key. The model-facing schemas are in
:mod:`tools.crm_schemas`.
"""

from __future__ import annotations

from typing import Any

from connectors.crm import CrmConnector
from policies.directory import Directory
from tools.base import Tool
from tools.crm_common import CrmSession
from tools.crm_reads import read_tools
from tools.crm_schemas import (
    CrmAddNoteArgs,
    CrmCreateTaskArgs,
    CrmGetRecordArgs,
    CrmRecordDetail,
    CrmSearchArgs,
    CrmSearchResult,
    CrmUpdateDealArgs,
    CrmWriteResult,
    NoteSummary,
    RecordSummary,
    SearchFilter,
)
from tools.crm_writes import write_tools


def crm_tools(crm: CrmConnector, *, directory: Directory | None = None) -> list[Tool[Any, Any]]:
    """The CRM tools over ``crm``.

    ``directory`` maps CRM owners to people (by email) for approval routing; by default the
    company directory shipped in ``policies/directory.yaml`` is read when first needed.
    """
    session = CrmSession(crm, directory)
    reads, writes = read_tools(session), write_tools(session)
    return [*reads, *writes]


__all__ = [
    "CrmAddNoteArgs",
    "CrmCreateTaskArgs",
    "CrmGetRecordArgs",
    "CrmRecordDetail",
    "CrmSearchArgs",
    "CrmSearchResult",
    "CrmUpdateDealArgs",
    "CrmWriteResult",
    "NoteSummary",
    "RecordSummary",
    "SearchFilter",
    "crm_tools",
]
