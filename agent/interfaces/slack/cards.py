"""Where every copy of an approval card was posted: the table and its queries live in the app
database connector (:mod:`connectors.appdb.slack_cards`), reached through the service API
(:mod:`agent.service.records`); this name stays for the Slack layer."""

from agent.service.records import CardRef, CardStore

__all__ = ["CardRef", "CardStore"]
