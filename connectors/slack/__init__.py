"""Slack Web API connector: a translated client (:mod:`.client`) and a local fake server
(:mod:`.fake_api`) for tests."""

from connectors.slack.client import SlackApi, SlackWebApi, build_web_client, slack_errors, translate

__all__ = ["SlackApi", "SlackWebApi", "build_web_client", "slack_errors", "translate"]
