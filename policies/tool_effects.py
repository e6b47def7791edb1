"""The operator's declaration of what external tools do: their effect, and for writes what they
change, their target and which arguments are sensitive.

External tools (an MCP server's, a benchmark's, any not written here) carry no trusted metadata
of their own: a tool's description is written by whoever runs the server, so it cannot say
whether the tool writes. This file is the operator's word on it, versioned with the code::

    version: 1
    on_untrusted_sensitive: flag        # flag | second_approver | deny (the default for all tools)
    tools:
      get_balance: {effect: read}
      send_money:
        effect: write
        target: "payment to {recipient}"
        sensitive: [recipient, amount]
        verbs: [send, pay, transfer]     # optional: what the asker says when they want it
        fingerprint: sha256:9f2c…        # MCP only: the description + schema that were reviewed

A tool the file does not list is refused (fail closed); an entry without ``effect`` is an error
naming the file and line. ``verbs`` (writes only) name the words an asker uses to ask for the
action: a card none of them asks for is shown as *not asked for* (``policies.intent``); a tool
without ``verbs`` is not checked. Pure: no I/O beyond reading the given file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from policies.errors import PolicyFileError
from policies.policy_file import parse_policy_text

UntrustedSensitiveMode = Literal["flag", "second_approver", "deny"]
_MODES = ("flag", "second_approver", "deny")
_KEYS = {
    "effect",
    "target",
    "changes",
    "sensitive",
    "verbs",
    "fingerprint",
    "untrusted_output",
    "on_untrusted_sensitive",
}


@dataclass(frozen=True)
class ToolEffect:
    """What one external tool does, as the operator declared it."""

    name: str
    effect: Literal["read", "write"]
    target: str = ""  # format string over the arguments: "payment to {recipient}"
    changes: str = ""  # one line for the card: "moves money out of the account"
    sensitive: tuple[str, ...] = ()  # argument names whose origin must be the asker
    verbs: tuple[str, ...] = ()  # words that ask for this write ("delete", "remove"); empty: no intent check
    fingerprint: str | None = None  # sha256 of the reviewed description + schema (MCP)
    untrusted_output: bool = True  # its output holds text others wrote (default: yes)
    on_untrusted_sensitive: UntrustedSensitiveMode = "flag"
    line: int = 0  # where it is declared, for error messages


@dataclass(frozen=True)
class ToolEffectPolicy:
    path: Path
    version: str
    tools: Mapping[str, ToolEffect] = field(default_factory=dict)

    def get(self, name: str) -> ToolEffect | None:
        return self.tools.get(name)

    @classmethod
    def load(cls, path: str | Path) -> ToolEffectPolicy:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PolicyFileError(f"{path}: tool policy not found") from None
        return cls.parse(text, path)

    @classmethod
    def parse(cls, text: str, path: str | Path = "<tool policy>") -> ToolEffectPolicy:
        path = Path(path)
        doc = parse_policy_text(text, path)
        root, raw = doc.root, doc.raw or {}
        if not isinstance(raw, dict) or not isinstance(raw.get("tools"), dict):
            raise PolicyFileError(f"{path}: expected a 'tools:' mapping of tool name -> {{effect: read|write}}")
        default_mode = raw.get("on_untrusted_sensitive", "flag")
        if default_mode not in _MODES:
            raise PolicyFileError(f"{path}: on_untrusted_sensitive must be one of {', '.join(_MODES)}")
        lines = _tool_lines(root)
        tools: dict[str, ToolEffect] = {}
        for name, spec in raw["tools"].items():
            where = f"{path}:{lines.get(str(name), 0)}"
            tools[str(name)] = _effect(str(name), spec, where, default_mode, lines.get(str(name), 0))
        return cls(path, str(raw.get("version", "unversioned")), tools)


def _tool_lines(root: Any) -> dict[str, int]:
    """Line (1-based) of each tool's key under ``tools:``."""
    out: dict[str, int] = {}
    if not isinstance(root, yaml.MappingNode):
        return out
    for key, value in root.value:
        if getattr(key, "value", None) == "tools" and isinstance(value, yaml.MappingNode):
            for k, _v in value.value:
                out[str(k.value)] = k.start_mark.line + 1
    return out


def _effect(name: str, spec: Any, where: str, default_mode: str, line: int) -> ToolEffect:
    if not isinstance(spec, dict):
        raise PolicyFileError(f"{where}: tool {name!r} needs a mapping like {{effect: read}}")
    unknown = set(spec) - _KEYS
    if unknown:
        raise PolicyFileError(f"{where}: tool {name!r} has unknown keys {sorted(unknown)} (allowed: {sorted(_KEYS)})")
    effect = spec.get("effect")
    if effect not in ("read", "write"):
        raise PolicyFileError(
            f"{where}: tool {name!r} has no effect: add `effect: read` or `effect: write` "
            "(a tool whose effect is not declared is never offered)"
        )
    sensitive = spec.get("sensitive") or []
    if not isinstance(sensitive, list) or not all(isinstance(s, str) for s in sensitive):
        raise PolicyFileError(f"{where}: tool {name!r}: sensitive must be a list of argument names")
    verbs = spec.get("verbs") or []
    if not isinstance(verbs, list) or not all(isinstance(v, str) and v.strip() for v in verbs):
        raise PolicyFileError(f"{where}: tool {name!r}: verbs must be a list of words, e.g. [delete, remove]")
    mode = spec.get("on_untrusted_sensitive", default_mode)
    if mode not in _MODES:
        raise PolicyFileError(f"{where}: tool {name!r}: on_untrusted_sensitive must be one of {', '.join(_MODES)}")
    if effect == "read" and (sensitive or spec.get("target") or verbs):
        raise PolicyFileError(f"{where}: tool {name!r} is a read: target, sensitive and verbs apply to writes only")
    return ToolEffect(
        name=name,
        effect=effect,
        target=str(spec.get("target") or ""),
        changes=str(spec.get("changes") or ""),
        sensitive=tuple(sensitive),
        verbs=tuple(v.strip() for v in verbs),
        fingerprint=str(spec["fingerprint"]) if spec.get("fingerprint") else None,
        untrusted_output=bool(spec.get("untrusted_output", True)),
        on_untrusted_sensitive=mode,
        line=line,
    )


def fingerprint(description: str, input_schema: Mapping[str, Any]) -> str:
    """A stable digest of what a tool tells the model about itself (description + schema).

    A server that changes either after the operator reviewed the tool (a "rug pull") no longer
    matches the fingerprint in the policy file, and the tool is disabled until re-approved."""
    blob = json.dumps({"description": description, "input_schema": input_schema}, sort_keys=True)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


__all__ = ["ToolEffect", "ToolEffectPolicy", "UntrustedSensitiveMode", "fingerprint"]
