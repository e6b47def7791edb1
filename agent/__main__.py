"""``python -m agent``: the ``chamberlain`` command."""

from agent.interfaces.cli.app import main

main()
