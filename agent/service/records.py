"""The records the service API hands to the interfaces, under one name each.

Interfaces render these and annotate with them; they never open the stores behind them (they
get those from :class:`agent.service.stores.Service`). Defined in connectors/appdb and
connectors/outbox; named here so an interface depends on the service API alone.
"""

from connectors.appdb import ApprovalRecord, AuditEntry, AuditLog, DedupeStore, UsageStore, VerifyReport
from connectors.appdb.api_keys import ApiKey, ApiKeyStore
from connectors.appdb.reports import Report, ReportRun, ReportStore
from connectors.appdb.slack_cards import CardRef, CardStore
from connectors.appdb.usage_store import REPORT_DIMENSIONS
from connectors.outbox import NewMessage, SentMessage, SqlOutbox

__all__ = [
    "REPORT_DIMENSIONS",
    "ApiKey",
    "ApiKeyStore",
    "ApprovalRecord",
    "AuditEntry",
    "AuditLog",
    "CardRef",
    "CardStore",
    "DedupeStore",
    "NewMessage",
    "Report",
    "ReportRun",
    "ReportStore",
    "SentMessage",
    "SqlOutbox",
    "UsageStore",
    "VerifyReport",
]
