"""Citation check for answers: every citation must point at a passage actually retrieved for
this user in this conversation. Pure; no I/O.

Recognised markers: ``[doc:expense-policy#3]`` and ``[3]``, alone or grouped
(``[doc:a#1; doc:b#2]``, ``[1, 2]``). A marker followed by ``(`` is a Markdown link, not a
citation. Markers citing nothing retrieved are removed from the text and reported, so a
fabricated or out-of-permission citation never reaches the user.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

_ID = r"(?:doc:[A-Za-z0-9_./-]+#\d+|\d{1,3})"
_MARKER = re.compile(rf"(?P<space>[ \t]*)(?<!\w)\[(?P<body>{_ID}(?:\s*[,;]\s*{_ID})*)\](?!\()")
_SPLIT = re.compile(r"\s*[,;]\s*")


@dataclass(frozen=True)
class CitationCheck:
    text: str  # the answer with unsupported citations removed
    cited: tuple[str, ...]  # supported citation ids, in order of first use
    dropped: tuple[str, ...]  # unsupported citation ids, in order of first use

    @property
    def ok(self) -> bool:
        return not self.dropped

    def numbered(self) -> str:
        """The text with ``[doc:...]`` markers replaced by ``[1]``, ``[2]``... in order of
        first use (index ``n - 1`` of :attr:`cited`)."""
        number = {cid: i for i, cid in enumerate(self.cited, start=1)}

        def repl(m: re.Match[str]) -> str:
            ids = _SPLIT.split(m.group("body"))
            nums = sorted({number[i] for i in ids if i in number})
            return f"{m.group('space')}[{', '.join(map(str, nums))}]" if nums else m.group(0)

        return _MARKER.sub(repl, self.text)


def _normalise(cid: str) -> str:
    return cid.strip().strip("[]").strip()


def check_citations(text: str, retrieved: Collection[str]) -> CitationCheck:
    """Keep citations whose id is in ``retrieved`` (ids like ``doc:expense-policy#3`` or ``3``;
    brackets optional); drop the rest."""
    known = {_normalise(r) for r in retrieved}
    cited: dict[str, None] = {}
    dropped: dict[str, None] = {}

    def repl(m: re.Match[str]) -> str:
        ids = _SPLIT.split(m.group("body"))
        keep = [i for i in ids if i in known]
        for i in ids:
            (cited if i in known else dropped).setdefault(i, None)
        if not keep:
            return ""
        sep = "; " if ";" in m.group("body") else ", "
        return f"{m.group('space')}[{sep.join(keep)}]"

    # The marker's leading spaces go with it: "claim [9]." becomes "claim.".
    cleaned = _MARKER.sub(repl, text)
    return CitationCheck(text=cleaned, cited=tuple(cited), dropped=tuple(dropped))


__all__ = ["CitationCheck", "check_citations"]
