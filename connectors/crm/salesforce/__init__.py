"""A Salesforce-shaped CRM connector, in memory: SObjects, SOQL, Salesforce ids and rules.

- :class:`SalesforceOrg`: the org (Accounts, Contacts, Opportunities, Notes, Tasks, Users;
  ``Name``, ``Amount``, ``StageName``, ``OwnerId``, ``CloseDate``...).
- :class:`SalesforceMemoryCrm`: the neutral :class:`~connectors.crm.CrmConnector` over it; a
  search becomes a SOQL query (:class:`Soql`).

Everything Salesforce-specific is in this package; selecting it is one setting
(``CHAMBERLAIN_CRM=salesforce-memory``).
"""

from connectors.crm.salesforce._connector import SalesforceMemoryCrm
from connectors.crm.salesforce._org import SalesforceOrg
from connectors.crm.salesforce._soql import Soql

__all__ = ["SalesforceMemoryCrm", "SalesforceOrg", "Soql"]
