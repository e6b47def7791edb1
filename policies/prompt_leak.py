"""System-prompt leak check: does an answer reproduce long verbatim spans of a protected text?

A fully fooled model will print its instructions when a document asks it to; the output guard
cannot stop the model from *trying*, but it can refuse to deliver the text. The check compares
word sequences, so case, whitespace, line wrapping and markdown punctuation do not hide a copy;
base64 blobs in the answer are decoded and checked too. Short common phrases never match: a
span counts only from ``min_words`` consecutive words of the protected text.

Not detected (by design of a verbatim check): paraphrase, translation, per-letter spelling and
other encodings than base64. The prompt holds no secrets; this keeps it from being handed out
wholesale, which is what an extraction attack wants.

Pure: the caller passes the protected texts (e.g. ``agent/models/prompts/system.md``).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DEFAULT_MIN_WORDS = 16  # the prompt's own examples ("Hotel stays are capped…") are 12 words
WITHHELD = "[withheld: the assistant's instructions]"

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_B64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{40,}={0,2}(?![A-Za-z0-9+/=])")


@dataclass(frozen=True)
class LeakVerdict:
    """``spans``: (start, end) character ranges of the answer that copy the protected text."""

    leaked: bool
    longest_words: int
    copied_words: int
    spans: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Redacted:
    text: str
    verdict: LeakVerdict


def _words(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(0).casefold().replace("’", "'"), m.start(), m.end()) for m in _WORD.finditer(text)]


class PromptLeakGuard:
    """Finds spans of an answer that copy ``min_words``+ consecutive words of protected texts."""

    def __init__(self, protected: Iterable[str], *, min_words: int = DEFAULT_MIN_WORDS) -> None:
        if min_words < 4:
            raise ValueError("min_words below 4 would flag ordinary phrases; use at least 4")
        self.min_words = min_words
        self._grams: set[tuple[str, ...]] = set()
        for text in protected:
            toks = [w for w, _, _ in _words(text)]
            for i in range(len(toks) - min_words + 1):
                self._grams.add(tuple(toks[i : i + min_words]))

    def check(self, answer: str) -> LeakVerdict:
        spans, longest, copied = self._spans(answer)
        for m in _B64.finditer(answer):
            decoded = _b64_text(m.group(0))
            if decoded is None:
                continue
            inner, inner_longest, inner_copied = self._spans(decoded)
            if inner:
                spans.append((m.start(), m.end()))
                longest = max(longest, inner_longest)
                copied += inner_copied
        merged = _merge(spans)
        return LeakVerdict(bool(merged), longest, copied, tuple(merged))

    def redact(self, answer: str, *, placeholder: str = WITHHELD) -> Redacted:
        """The answer with every copied span replaced by ``placeholder``."""
        verdict = self.check(answer)
        if not verdict.leaked:
            return Redacted(answer, verdict)
        out: list[str] = []
        pos = 0
        for start, end in verdict.spans:
            out.append(answer[pos:start])
            out.append(placeholder)
            pos = end
        out.append(answer[pos:])
        return Redacted("".join(out), verdict)

    def _spans(self, text: str) -> tuple[list[tuple[int, int]], int, int]:
        toks = _words(text)
        n = self.min_words
        hit = [False] * len(toks)
        for i in range(len(toks) - n + 1):
            if tuple(w for w, _, _ in toks[i : i + n]) in self._grams:
                for j in range(i, i + n):
                    hit[j] = True
        spans: list[tuple[int, int]] = []
        longest = copied = 0
        i = 0
        while i < len(toks):
            if not hit[i]:
                i += 1
                continue
            j = i
            while j + 1 < len(toks) and hit[j + 1]:
                j += 1
            spans.append((toks[i][1], toks[j][2]))
            longest = max(longest, j - i + 1)
            copied += j - i + 1
            i = j + 1
        return spans, longest, copied


def _b64_text(blob: str) -> str | None:
    try:
        raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _merge(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


__all__ = ["DEFAULT_MIN_WORDS", "WITHHELD", "LeakVerdict", "PromptLeakGuard", "Redacted"]
