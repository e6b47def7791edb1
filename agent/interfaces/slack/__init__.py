"""The Slack entry point: Bolt app (HTTP via FastAPI, or Socket Mode), approval cards, progress.

Import the submodules directly (``agent.interfaces.slack.app``, ``agent.interfaces.slack.notifier``, …); nothing is
created at import time.
"""
