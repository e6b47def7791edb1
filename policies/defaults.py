"""The policy files shipped next to this module, which the settings default to.

Named here, apart from the code that reads them, so the settings can name them without
importing the access policy (its approver routes and pydantic stage model): a command that
never checks access, such as ``chamberlain approvals list``, does not pay for loading it.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_ACCESS = Path(__file__).with_name("access.yaml")
DEFAULT_DIRECTORY = Path(__file__).with_name("directory.yaml")

__all__ = ["DEFAULT_ACCESS", "DEFAULT_DIRECTORY"]
