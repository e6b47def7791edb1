"""Whether the asker asked for a write's action at all: the check a human approver makes first.

Provenance (``policies.provenance``) says where each *value* of a proposed write came from. It
cannot say whether the asker wanted that *kind* of change: an injection inside the very file the
asker named ("delete this file", "share it with x") would act on the record itself with the
record's own id, which the asker did designate. So each write tool may declare the verbs it
answers to (``delete_file: [delete, remove]``); a card whose verbs appear neither in the asker's
own messages nor in a clean record the asker designated ("do the actions in David's email") is
*not asked for*. A tool that declares no verbs is not checked (an operator's existing tool
declarations keep working).

Matching is on whole words, case-insensitive, with the regular English inflections of the
first word (``delete`` also matches "deletes", "deleted", "deleting"; ``set up`` matches
"setting up"); irregular forms and nouns ("paid", "reservation") are declared as words of
their own. Pure: the caller passes the texts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

_VOWELS = "aeiou"


def _forms(word: str) -> set[str]:
    """Regular inflections of one verb: send → sends, sending; delete → deleted, deleting;
    plan → planned, planning; apply → applies, applied."""
    w = word.casefold()
    out = {w, w + "s", w + "es", w + "ed", w + "d", w + "ing"}
    if w.endswith("e"):
        out.add(w[:-1] + "ing")
    if w.endswith("y") and len(w) > 2 and w[-2] not in _VOWELS:
        out |= {w[:-1] + "ies", w[:-1] + "ied"}
    if len(w) >= 3 and w[-1] not in _VOWELS + "wxy" and w[-2] in _VOWELS and w[-3] not in _VOWELS:
        out |= {w + w[-1] + "ed", w + w[-1] + "ing"}  # plan → planned; also harmless for "edit"
    return out


@lru_cache(maxsize=512)
def _pattern(phrase: str) -> re.Pattern[str]:
    words = phrase.split()
    first = "|".join(sorted((re.escape(f) for f in _forms(words[0])), key=len, reverse=True))
    rest = "".join(r"[\s-]+" + re.escape(w.casefold()) for w in words[1:])
    return re.compile(rf"(?<![\w-])(?:{first}){rest}(?![\w-])", re.IGNORECASE)


@dataclass(frozen=True)
class IntentCheck:
    """The outcome for one proposed write."""

    tool: str
    verbs: tuple[str, ...]  # what the tool answers to; empty: not checked
    asked_in: str = ""  # where the asker asked for it: "your message" or a record's source
    word: str = ""  # the word that asked for it

    @property
    def checked(self) -> bool:
        return bool(self.verbs)

    @property
    def asked(self) -> bool:
        """True when the tool declares no verbs (nothing to check) or one of them was asked for."""
        return not self.verbs or bool(self.asked_in)

    def label(self) -> str:
        """One line for the approval card."""
        if not self.verbs:
            return ""
        if self.asked_in:
            return f"action {self.tool}: asked for (“{self.word}”, {self.asked_in})"
        shown = ", ".join(self.verbs[:6]) + (", ..." if len(self.verbs) > 6 else "")
        return (
            f"action {self.tool}: not asked for (the requester's messages, and the records they named, "
            f"ask for none of: {shown})"
        )


def asked_for(
    tool: str, verbs: Iterable[str], user_messages: Sequence[str], records: Iterable[tuple[str, str]] = ()
) -> IntentCheck:
    """Whether any of ``verbs`` is asked for in the asker's messages, else in one of ``records``
    ((source, text) pairs: clean records the asker designated, which may carry the asker's
    instructions — "do what the email says")."""
    declared = tuple(v.strip() for v in verbs if v.strip())
    if not declared:
        return IntentCheck(tool, ())
    sources = [("your message", m) for m in user_messages] + list(records)
    for where, text in sources:
        for verb in declared:
            m = next((m for m in _pattern(verb).finditer(text) if not _negated(text, m.start())), None)
            if m:
                return IntentCheck(tool, declared, where, m.group(0))
    return IntentCheck(tool, declared)


# "Summarise it, but don't delete anything" does not ask for a delete: a negation a few words
# before the verb, in the same clause, cancels it. ("Not only X but delete Y" is read as not
# asking: the check errs towards "not asked for", which a person can still approve.)
_NEGATION = re.compile(
    r"(?<![\w'’-])(?:not|never|no|nor|without|don['’]t|doesn['’]t|didn['’]t|won['’]t|shouldn['’]t|mustn['’]t|"
    r"can['’]t|cannot|avoid|stop)(?:\s+\S+){0,3}\s+$",
    re.IGNORECASE,
)


def _negated(text: str, start: int) -> bool:
    clause = re.split(r"[.!?;:,\n]", text[max(0, start - 60) : start])[-1]
    return bool(_NEGATION.search(clause))


__all__ = ["IntentCheck", "asked_for"]
