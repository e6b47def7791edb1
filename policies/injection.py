"""Prompt-injection heuristics: score untrusted text, flag it, never drop it.

Each heuristic that fires adds a named signal with a weight; the score combines the weights as
independent evidence (``1 - Π(1 - w)``), so one weak signal stays low, a strong one or several
weak ones cross ``FLAG_THRESHOLD``. The score and signals go to the audit trail and the approval
card; the content still reaches the model (spotlighted), because silently dropping data hides
attacks from the people who should see them and breaks legitimate documents that merely
discuss prompts.

Matching runs on a normalised copy (NFKC, invisible characters removed, case-folded) so
"I\u200bgnore previous instructions" and full-width letters still match.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FLAG_THRESHOLD = 0.5

_AI = r"(?:ai|a\.i\.|assistant|chat ?bot|llm|language model|claude|chatgpt|gpt|copilot)"

# (signal, weight, patterns over the normalised text)
_PHRASES: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    (
        "override_instructions",
        0.7,
        (
            r"\b(?:ignore|disregard|forget)\b[^.\n]{0,40}?"
            r"\b(?:previous|prior|above|earlier|preceding|all|any|your|the|these|those|system|original)\b"
            r"[^.\n]{0,30}?\b(?:instructions?|rules|prompts?|directions|guidelines|guardrails|constraints)\b",
            # "override"/"bypass" are everyday business words ("override the expense limit"):
            # only aimed at the assistant's own rules.
            r"\b(?:override|bypass|circumvent)\b[^.\n]{0,20}?\b(?:your|all|any|previous|prior|system|safety)\b"
            r"[^.\n]{0,20}?\b(?:instructions?|rules|guardrails|restrictions|filters|prompts?)\b",
            r"\bdo not follow (?:the|your) (?:previous|prior|original|system) ",
        ),
    ),
    (
        "new_instructions",
        0.45,
        (
            r"\b(?:new|updated|revised|real|actual|secret|hidden|additional|important) instructions?\b",
            r"\binstructions? (?:for|to) (?:the )?" + _AI + r"\b",
            r"\byour (?:new|real|true) (?:task|goal|objective|instructions?|role)\b",
            r"\binstead,? (?:you (?:must|should|will)|do the following|please)\b",
        ),
    ),
    (
        # Redirecting the reader's current task ("before you can solve the task I gave you,
        # do the following first"): text that knows its reader is an agent carrying a task.
        "task_hijack",
        0.45,
        (
            r"\b(?:before|after) you (?:can |could |may )?(?:solve|do|complete|finish|start|continue|answer"
            r"|proceed with|work on|get to)\b[^.\n]{0,40}?\btask\b",
            r"\b(?:the|my|your) (?:original |first |initial |current |previous )?task (?:that )?(?:i|the user)"
            r" (?:gave|assigned|asked of) you\b",
            r"\bbefore (?:doing|solving|completing|answering) (?:anything|that|the (?:user'?s? )?(?:task|request))"
            r" else\b|\bplease do the following first\b",
        ),
    ),
    (
        "role_reassignment",
        0.45,
        (
            r"\byou are now\b",
            r"\bfrom now on,? you\b",
            r"\b(?:act|behave|respond) as (?:if you were |an? |the )?(?:unrestricted|jailbroken|dan|admin"
            r"|administrator|developer|root|system|different)\b",
            r"\bpretend (?:to be|you are)\b",
            r"\byou (?:must|will) now\b",
            r"\benter (?:developer|debug|god|admin) mode\b",
            r"\bjailbreak\b",
        ),
    ),
    (
        "system_prompt_reference",
        0.35,
        (
            r"\bsystem (?:prompt|message|instructions?)\b",
            r"\bdeveloper (?:message|prompt|mode)\b",
            r"\b(?:reveal|print|show|repeat|output) (?:your|the) (?:prompt|instructions|rules)\b",
        ),
    ),
    (
        "addresses_ai",
        0.3,
        (
            r"\bas an? (?:ai|large language model|language model|assistant)\b",
            r"\b(?:hey|hi|dear|attention|note to|message (?:to|for)|to the|if you are an?) " + _AI + r"\b",
            r"\b" + _AI + r",? (?:you must|you should|please) ",
            r"\bto you,? (?:the |an? |my )?" + _AI + r"\b",
        ),
    ),
    (
        "secrecy",
        0.35,
        (
            r"\b(?:do not|don't|never) (?:tell|inform|mention|reveal|show|alert|notify)"
            r"[^.\n]{0,20}\b(?:the )?(?:user|anyone|them|human|requester)\b",
            r"\bwithout (?:telling|informing|notifying|asking) (?:the )?(?:user|anyone|human)\b",
            r"\b(?:silently|secretly|quietly|covertly) (?:send|forward|e-?mail|share|export|copy|delete"
            r"|update|change|add|remove|approve|post|upload)\b",
        ),
    ),
    (
        "tool_invocation",
        0.3,
        (
            r"\b(?:call|invoke|use|run|execute|trigger) (?:the )?[a-z_]+_[a-z_]+ (?:tool|function)\b",
            r"\b(?:call|invoke|use|run|execute) (?:the|a|this) (?:tool|function)\b",
            r"\bfunction[_ ]call\b|\btool[_ ]use\b",
        ),
    ),
    (
        "approval_manipulation",
        0.4,
        (
            r"\b(?:auto-?approve|pre-?approved|already approved|approval (?:is )?not (?:needed|required))\b",
            r"\b(?:skip|bypass|without) (?:the )?(?:approval|review|confirmation)\b",
        ),
    ),
)

_SEND = r"(?:send|e-?mail|forward|dm|message|post|upload|export|share|transmit|leak|copy|paste|submit|exfiltrate)"
_DEST = (
    r"(?:(?<![\w.+\-])[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+|https?://|<@|<#|#[a-z0-9_\-]+|@[a-z0-9_.\-]+|\+?\d[\d ()\-]{7,})"
)
_EXFIL = re.compile(
    rf"\b{_SEND}\b(?:[^.\n]{{0,100}}?\b(?:to|with|into|at|on)\b)?\s*(?:the |this |channel |user )?{_DEST}"
)
_BULK = re.compile(
    r"\b(?:all|every|entire|whole|full|complete|list of|dump|everything)\b[^.\n]{0,40}?"
    r"\b(?:data|records|rows|customers?|contacts|emails?|employees?|salar(?:y|ies)|passwords?"
    r"|credentials|api keys?|tokens?|secrets?|conversation|history|database|tables?|pipeline|payroll)\b"
    r"|\b(?:passwords?|credentials|api keys?|secrets?|access tokens?|ssns?|social security|salar(?:y|ies)"
    r"|payroll|home address(?:es)?)\b"
)
_ROLE_MARKER = re.compile(
    r"(?im)^\s*(?:###\s*)?(?:system|assistant|user|human|ai|developer|tool)\s*:\s"
    r"|\[/?inst\]|<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id)\|>"
    r"|<<\s*/?sys\s*>>|###\s*(?:instruction|system|response)\b"
)
_FAKE_DELIM = re.compile(
    r"<\s*/?\s*untrusted|</?\s*(?:system|instructions?|tool_result|function_results?|function_calls?"
    r"|assistant|user|admin|human|document|context)\s*>"
    r"|\b(?:end of (?:untrusted|document|data|context|tool output)"
    r"|begin (?:system|new) (?:prompt|instructions))\b"
)
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{40,}={0,2}(?![A-Za-z0-9+/=])")
_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*https?://[^)\s]+\?[^)\s]+\)", re.IGNORECASE)
_TEMPLATE = re.compile(r"\{[^{}\s]{1,30}\}|\[(?:data|secret|[a-z_]{2,20})\]|%7b|\$\{", re.IGNORECASE)
_EMAILISH = re.compile(r"(?<![\w.+\-])[\w.+\-]+(?:@|%40)[\w\-]+\.[\w.\-]+")

# Zero-width, bidi controls and Unicode "tag" characters (used to smuggle invisible ASCII).
_ZERO_WIDTH = re.compile(r"[\u200b-\u200f\u2060-\u2064\u206a-\u206f\u180e]|(?<!^)\ufeff")
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
_TAG_CHARS = re.compile(r"[\U000e0000-\U000e007f]")
_INVISIBLE = re.compile(
    r"[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2069\u206a-\u206f\u180e\ufeff\U000e0000-\U000e007f]"
)


@dataclass(frozen=True)
class InjectionScore:
    score: float  # 0..1
    signals: list[str] = field(default_factory=list)  # names of the heuristics that fired

    @property
    def flagged(self) -> bool:
        return self.score >= FLAG_THRESHOLD

    def describe(self) -> str:
        """``0.86 (override_instructions, fake_delimiter)`` — for cards and audit lines."""
        return f"{self.score:.2f} ({', '.join(self.signals)})" if self.signals else f"{self.score:.2f}"

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "signals": list(self.signals), "flagged": self.flagged}


def normalize(text: str) -> str:
    """NFKC, invisible characters removed, whitespace collapsed, case-folded."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = re.sub(r"[ \t]+", " ", text)
    return text.casefold()


def _has_base64_blob(text: str) -> bool:
    for m in _BASE64.finditer(text):
        blob = m.group(0)
        if not (re.search(r"[a-z]", blob) and re.search(r"[A-Z]", blob) and re.search(r"\d", blob)):
            continue  # hex digests, ids and long words are not base64 payloads
        padded = blob + "=" * (-len(blob) % 4)
        try:
            base64.b64decode(padded, validate=True)
        except (binascii.Error, ValueError):
            continue
        return True
    return False


def _url_carries_data(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return True  # malformed on purpose is suspicious enough
    if _TEMPLATE.search(url):
        return True
    for _key, value in parse_qsl(parts.query, keep_blank_values=True):
        if len(value) >= 32 or _EMAILISH.search(value) or _has_base64_blob(value + " "):
            return True
    return len(parts.query) > 120


def _mixed_script_words(text: str) -> bool:
    """A word mixing Latin with Cyrillic/Greek letters ("pаssword" with a Cyrillic а)."""
    for word in re.findall(r"\w{3,}", text):
        scripts = set()
        for ch in word:
            if ch.isalpha():
                name = unicodedata.name(ch, "")
                scripts.add(name.split(" ", 1)[0])
        if "LATIN" in scripts and scripts & {"CYRILLIC", "GREEK"}:
            return True
    return False


def score(text: str) -> InjectionScore:
    """Heuristic injection score for one piece of untrusted text."""
    if not text:
        return InjectionScore(0.0, [])
    norm = normalize(text)
    fired: dict[str, float] = {}

    for name, weight, patterns in _PHRASES:
        if any(re.search(p, norm) for p in patterns):
            fired[name] = weight

    for m in _EXFIL.finditer(norm):
        fired["exfiltration_request"] = 0.35
        # Bulk/secret data named in the request itself, not anywhere in a long document.
        tail = re.split(r"[.!?;]\s|\n", norm[m.end() : m.end() + 60], maxsplit=1)[0]
        if _BULK.search(norm, m.start(), m.end()) or _BULK.search(tail):
            fired["bulk_or_secret_data"] = 0.3
            break
    if _ROLE_MARKER.search(norm):
        fired["role_play_marker"] = 0.45
    if _FAKE_DELIM.search(norm):
        fired["fake_delimiter"] = 0.6
    if _has_base64_blob(text):
        fired["base64_blob"] = 0.25
    if _TAG_CHARS.search(text):
        fired["unicode_tag_characters"] = 0.6
    if _ZERO_WIDTH.search(text):
        fired["zero_width_characters"] = 0.35
    if _BIDI.search(text):
        fired["bidi_control_characters"] = 0.35
    if _mixed_script_words(unicodedata.normalize("NFKC", text)):
        fired["mixed_script_words"] = 0.25
    if _MD_IMAGE.search(text):
        fired["markdown_image_with_query"] = 0.5
    if any(_url_carries_data(u) for u in _URL.findall(text)):
        fired["data_in_url"] = 0.35

    remaining = 1.0
    for w in fired.values():
        remaining *= 1.0 - w
    return InjectionScore(round(1.0 - remaining, 3), sorted(fired))


def score_many(texts: list[str]) -> InjectionScore:
    """The highest-scoring of several pieces (e.g. every untrusted block in one tool result)."""
    scores = [score(t) for t in texts]
    return max(scores, key=lambda s: s.score, default=InjectionScore(0.0, []))


__all__ = ["FLAG_THRESHOLD", "InjectionScore", "normalize", "score", "score_many"]
