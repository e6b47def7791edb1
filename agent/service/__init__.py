"""The service API every interface calls: the CLI, the HTTP API, the web page and Slack.

One function per action, the same for every surface: ``ApprovalService.detail`` is what
``chamberlain approvals show``, ``GET /v1/approvals/{id}`` and the web page show (``view``: the
Slack card); ``ApprovalService.decide`` is every Approve button. Interfaces parse input and
render output; they do not open stores, engines or the graph (``tests/test_architecture.py``
holds them to it).

- :mod:`agent.service.approvals`: list, resolve an id prefix, detail, batches, decide, retry, delegate.
- :mod:`agent.service.stores`: :class:`Service`, the approvals plus the app database's other
  records the surfaces manage (the audit log, the outbox, scheduled reports, API keys, usage,
  Slack's cards and de-duplication); :func:`open_service` / :func:`connect_service` for a
  command, :meth:`Service.for_runtime` for a server, :meth:`Service.on_engine` for a worker.
- :mod:`agent.service.records`: the record types those return.
"""
