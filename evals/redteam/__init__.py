"""Red-team suite (issue #7): AgentDojo-style scenarios against a fully compromised model.

Each scenario plants an injection in data a tool returns (a document, a CRM note or field, a
SQL value, another person's Slack message), scripts a model that reads it and obeys it, and
checks with an oracle whether the attacker's goal happened. The same benign tasks also run
without injections to measure utility. ``python -m evals.redteam.run`` prints the report.
"""
