"""Reading a policy file (YAML): one place that turns a missing file or a YAML error into a
:class:`~policies.errors.PolicyFileError` naming the file and the line, and maps a key path back
to its line so semantic checks can say where, too.

    doc = read_policy_file(path, "access policy")
    raise PolicyFileError(f"{doc.where('roles', 'sales')}: roles.sales.tools must be a list")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from policies.errors import PolicyFileError


@dataclass(frozen=True)
class PolicyFile:
    path: Path
    raw: Any  # what yaml.safe_load returned (None for an empty file)
    root: yaml.Node | None

    def line(self, *keys: str | int) -> int:
        """1-based line of the deepest node of ``keys`` found (0 when not even the first is)."""
        node, line = self.root, 0
        for key in keys:
            child = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(key):
                        child, line = v, k.start_mark.line + 1
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
                child = node.value[key]
                line = child.start_mark.line + 1
            if child is None:
                break
            node = child
        return line

    def where(self, *keys: str | int) -> str:
        """``path:line`` of ``keys`` (just ``path`` when the file has no such place)."""
        line = self.line(*keys)
        return f"{self.path}:{line}" if line else str(self.path)


# libyaml's safe loader when PyYAML was built with it (every wheel is): the same documents and
# marks, ~4x faster than the pure-Python parser, which every start of a command pays per policy file.
SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_policy_file(path: str | Path, what: str) -> PolicyFile:
    """Read and parse the YAML file at ``path``; ``what`` names it in errors ("access policy")."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyFileError(f"{path}: {what} not found") from None
    return parse_policy_text(text, path)


def parse_policy_text(text: str, path: str | Path) -> PolicyFile:
    """Parse policy YAML read elsewhere; errors name ``path`` and the line."""
    path = Path(path)
    try:
        root = yaml.compose(text, Loader=SAFE_LOADER)
        raw = yaml.load(text, Loader=SAFE_LOADER)  # SAFE_LOADER is a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise PolicyFileError(f"{path}{line}: not valid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise PolicyFileError(f"{path}: not valid YAML: {exc}") from exc
    return PolicyFile(path, raw, root)


__all__ = ["SAFE_LOADER", "PolicyFile", "parse_policy_text", "read_policy_file"]
