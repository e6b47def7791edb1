"""PII detection and redaction: emails, phones, payment cards, national ids, IBANs, sensitive values.

Detection is deliberately conservative about *shape* and strict about *checksums*: card numbers
must pass Luhn, IBANs mod-97 and their country's length, US SSNs the SSA's area/group/serial
rules, UK NI numbers HMRC's prefix rules, and phone numbers must look like dialable numbers
(NANP rules for US numbers, a ``+country`` prefix or a leading trunk ``0`` otherwise), so ISO
dates, prices, order numbers and SKUs stay readable.

Who sees what in *answers* (``redact_for``); logs and traces are always fully redacted:

============  ======  ========  ============  ==========
kind          public  internal  confidential  restricted
============  ======  ========  ============  ==========
email         no      yes       yes           yes
phone         no      yes       yes           yes
iban          no      no        yes           yes
card          no      no        no            yes
ssn, uk_nino  no      no        no            yes
sensitive     no      no        no            yes
============  ======  ========  ============  ==========

Emails and phones are work contacts, visible to every employee. IBANs are business bank
details that finance staff (confidential) work with. Card numbers, national ids and configured
sensitive values (salaries, home addresses, birth dates) are restricted.

Not detected: bare 10-digit numbers without separators as phones (indistinguishable from ids),
SSNs without separators, lowercase IBANs, emails with non-ASCII domains.
"""

from __future__ import annotations

from policies.pii.columns import RedactedTable, SensitiveColumn, SensitiveColumns
from policies.pii.detect import detect, hidden_kinds, redact, redact_for, redact_obj
from policies.pii.kinds import (
    ALL,
    DEFAULT_PLACEHOLDER,
    IBAN_LENGTHS,
    NATIONAL_IDS,
    VISIBLE_FROM,
    PiiKind,
    PiiMatch,
    iban_valid,
    luhn_valid,
)

__all__ = [
    "ALL",
    "DEFAULT_PLACEHOLDER",
    "IBAN_LENGTHS",
    "NATIONAL_IDS",
    "VISIBLE_FROM",
    "PiiKind",
    "PiiMatch",
    "RedactedTable",
    "SensitiveColumn",
    "SensitiveColumns",
    "detect",
    "hidden_kinds",
    "iban_valid",
    "luhn_valid",
    "redact",
    "redact_for",
    "redact_obj",
]
