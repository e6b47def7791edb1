"""Where every copy of an approval card was posted: the table and its queries live in the app
database connector (:mod:`connectors.appdb.slack_cards`); this name stays for the Slack layer."""

from connectors.appdb.slack_cards import CardRef, CardStore, slack_approval_cards

__all__ = ["CardRef", "CardStore", "slack_approval_cards"]
