"""The service API every interface calls: the CLI, the HTTP API, the web page and Slack.

One function per action, the same for every surface: ``ApprovalService.detail`` is what
``chamberlain approvals show``, ``GET /v1/approvals/{id}``, the web page and the Slack card show;
``ApprovalService.decide`` is every Approve button. Interfaces parse input and render output;
they do not open stores or tables (``tests/test_architecture.py`` holds them to it).

- :mod:`agent.service.approvals`: list, resolve an id prefix, detail, batches, decide, retry.
- :mod:`agent.service.audit`: the audit log: entries, search, verify, export.
- :mod:`agent.service.stores`: the app database's other records the surfaces manage (the outbox,
  scheduled reports, API keys, usage) and :func:`open_service`, the light way in for a command.
"""
