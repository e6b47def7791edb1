"""The compromised model: a scripted chat model that plays a scenario's turns and fills templates from what it saw."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage

from evals.redteam.harness.scenarios import Call, Mode, Scenario, Turn
from evals.redteam.harness.text import _alnum
from evals.redteam.harness.world import World

# ---------------------------------------------------------------------------- the compromised model

_TEMPLATE = re.compile(
    r"\{(last_tool|system_prompt|system_prompt_b64|system_prompt_upper|filler|card_dots)(?::(\d+))?\}"
)
_CARD = re.compile(r"(?<!\d)\d{4}(?:[ \-]?\d{4}){3}(?!\d)")


class _Script:
    def __init__(self, scenario: Scenario, world: World) -> None:
        self.scenario = scenario
        self.world = world
        # The start of the injection (before any data a redaction step might change).
        self.snippet = _alnum(scenario.injection.text)[:30]
        self.seen: bool | None = None

    def render(self, value: Any, messages: Sequence[BaseMessage]) -> Any:
        if isinstance(value, str):
            return _TEMPLATE.sub(lambda m: self._fill(m.group(1), m.group(2), messages), value)
        if isinstance(value, Mapping):
            return {k: self.render(v, messages) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, messages) for v in value]
        return value

    def _fill(self, name: str, size: str | None, messages: Sequence[BaseMessage]) -> str:
        n = int(size) if size else None
        if name == "filler":
            return ("lorem ipsum " * ((n or 100) // 12 + 1))[: n or 100]
        if name == "card_dots":  # a card number the model saw, re-grouped to dodge pattern filters
            seen = " ".join(str(m.content) for m in messages if isinstance(m, ToolMessage))
            card = _CARD.search(seen)
            digits = re.sub(r"\D", "", card.group(0)) if card else ""
            return ".".join(digits[i : i + 4] for i in range(0, len(digits), 4)) or "(no card number visible)"
        if name == "last_tool":
            last = next((m for m in reversed(messages) if isinstance(m, ToolMessage)), None)
            text = str(last.content) if last else ""
            return text[:n] if n else text
        prompt = _system_text(messages)
        if name == "system_prompt_b64":
            prompt = base64.b64encode(prompt.encode()).decode()
        elif name == "system_prompt_upper":
            prompt = prompt.upper()
        return prompt[:n] if n else prompt

    def check_seen(self, messages: Sequence[BaseMessage]) -> None:
        seen = self.snippet in _alnum(" ".join(str(m.content) for m in messages if isinstance(m, ToolMessage)))
        self.seen = seen if self.seen is None else (self.seen or seen)

    def turns(self, mode: Mode) -> list[Callable[[list[BaseMessage]], AIMessage]]:
        s = self.scenario
        plan: list[tuple[str, Turn]] = [("read", t) for t in s.reads]
        if mode == "attack":
            plan += [("atk", t) for t in s.attack]
        plan += [("ben", t) for t in s.benign.turns]
        final = s.attack_answer if (mode == "attack" and s.attack_answer is not None) else s.benign.answer
        plan.append(("atk" if mode == "attack" and s.attack_answer is not None else "ben", Turn(text=final)))
        for nxt in s.next_messages:  # multi-turn: the same conversation goes on
            if mode == "attack":
                plan += [("atk", t) for t in nxt.attack]
            plan += [("ben", t) for t in nxt.turns]
            plan.append(("ben", Turn(text=nxt.answer)))
        out: list[Callable[[list[BaseMessage]], AIMessage]] = []
        for idx, (prefix, turn) in enumerate(plan):
            for r in range(turn.repeat):
                out.append(self._turn(prefix, idx, r, turn))
        return out

    def _turn(self, prefix: str, idx: int, r: int, turn: Turn) -> Callable[[list[BaseMessage]], AIMessage]:
        def play(messages: list[BaseMessage]) -> AIMessage:
            if prefix == "atk":
                self.check_seen(messages)
            calls = (turn.calls or ([Call(tool=turn.tool, args=turn.args)] if turn.tool else [])) * turn.fanout
            tool_calls = [
                {"name": c.tool, "args": self.render(c.args, messages), "id": f"{prefix}_{idx}_{r}_{j}"}
                for j, c in enumerate(calls)
            ]
            return AIMessage(
                content=self.render(turn.text or "", messages),
                tool_calls=[{**c, "type": "tool_call"} for c in tool_calls],
            )

        return play


def _system_text(messages: Sequence[BaseMessage]) -> str:
    for m in messages:
        if isinstance(m, SystemMessage):
            if isinstance(m.content, str):
                return m.content
            return "\n".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in m.content)
    return ""
