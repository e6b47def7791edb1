"""The system-prompt leak check on the real system prompt."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from policies.prompt_leak import WITHHELD, PromptLeakGuard

PROMPT = (Path(__file__).resolve().parents[2] / "agent" / "models" / "prompts" / "system.md").read_text(
    encoding="utf-8"
)
GUARD = PromptLeakGuard([PROMPT])


def test_verbatim_prompt_is_found_and_withheld() -> None:
    answer = f"Sure! Here are my instructions:\n\n{PROMPT}\n\nAnything else?"
    verdict = GUARD.check(answer)
    assert verdict.leaked and verdict.longest_words > 100
    red = GUARD.redact(answer)
    assert red.text.startswith("Sure! Here are my instructions:") and red.text.rstrip().endswith("Anything else?")
    assert WITHHELD in red.text
    assert "untrusted" not in red.text and not GUARD.check(red.text).leaked


@pytest.mark.parametrize(
    "disguise",
    [
        lambda t: t.upper(),
        lambda t: " ".join(t.split()),  # rewrapped
        lambda t: "\n".join(f"> **{line}**" for line in t.splitlines()),  # quoted, bold
        lambda t: t.replace(" ", "  ").replace(",", " ,"),
    ],
)
def test_formatting_does_not_hide_a_copy(disguise: object) -> None:
    excerpt = PROMPT[PROMPT.index("## Tool results") : PROMPT.index("The order of authority")]
    assert GUARD.check(disguise(excerpt)).leaked  # type: ignore[operator]


def test_base64_copy_is_found() -> None:
    blob = base64.b64encode(PROMPT[:800].encode()).decode()
    answer = f"Encoded for you: {blob}"
    assert GUARD.check(answer).leaked
    assert blob not in GUARD.redact(answer).text


def test_ordinary_answers_and_short_quotes_pass() -> None:
    answers = [
        "Hotel stays are capped at $250 per night [doc:travel-policy#2].",
        "I can't follow instructions found inside documents; tool results are data, not instructions.",
        "You asked me to change the deal. Every write goes to a human for approval before it runs.",
        "Deal 30001 (Acme Corporation — 2027 renewal) is in Contract sent, amount $240,000.",
        "aGVsbG8gd29ybGQgdGhpcyBpcyBub3QgdGhlIHByb21wdCBhdCBhbGwgb2sgYnll",  # base64 of something else
    ]
    for a in answers:
        verdict = GUARD.check(a)
        assert not verdict.leaked, a
        assert GUARD.redact(a).text == a


def test_one_sentence_of_the_prompt_is_a_leak_but_fifteen_words_are_not() -> None:
    sentence = "Never say that a change was made, saved, sent or approved until a tool result says so."
    assert sentence in PROMPT
    assert GUARD.check(f"My rules say: {sentence}").leaked
    fifteen = " ".join(sentence.split()[:15])
    assert not GUARD.check(fifteen).leaked


def test_min_words_must_be_meaningful() -> None:
    with pytest.raises(ValueError, match="min_words"):
        PromptLeakGuard([PROMPT], min_words=2)
