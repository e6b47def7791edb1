"""Thin shells over the runtime: the command line, the HTTP API and web page, the Slack bot, the
outbox worker."""
