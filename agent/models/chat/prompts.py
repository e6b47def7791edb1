"""The prompts shipped as package data (``agent/models/prompts/NAME.md``)."""

from __future__ import annotations

import re
from importlib import resources

_PROMPT_NAME = re.compile(r"^[a-z0-9_][a-z0-9_-]*$")


def load_prompt(name: str) -> str:
    """The text of ``agent/models/prompts/NAME.md`` (package data)."""
    if not _PROMPT_NAME.match(name):
        raise ValueError(f"invalid prompt name {name!r}: use lower-case letters, digits, _ and -")
    folder = resources.files("agent.models").joinpath("prompts")
    path = folder.joinpath(f"{name}.md")
    if not path.is_file():
        known = sorted(p.name[:-3] for p in folder.iterdir() if p.name.endswith(".md"))
        raise FileNotFoundError(f"no prompt {name!r} in agent/models/prompts/ (available: {', '.join(known)})")
    return path.read_text(encoding="utf-8")
