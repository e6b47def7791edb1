"""The kinds of personal data, who may see each, and the checksum validators (Luhn, IBAN)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from policies.directory import Clearance


class PiiKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    CARD = "card"
    SSN = "ssn"
    UK_NINO = "uk_nino"
    IBAN = "iban"
    SENSITIVE = "sensitive"  # a configured sensitive value (e.g. a salary or home address)


ALL: frozenset[PiiKind] = frozenset(PiiKind)
NATIONAL_IDS: frozenset[PiiKind] = frozenset({PiiKind.SSN, PiiKind.UK_NINO})
DEFAULT_PLACEHOLDER = "[REDACTED:{kind}]"

# The table in the module docstring: the lowest clearance that may see each kind in answers.
VISIBLE_FROM: Mapping[PiiKind, Clearance] = {
    PiiKind.EMAIL: Clearance.INTERNAL,
    PiiKind.PHONE: Clearance.INTERNAL,
    PiiKind.IBAN: Clearance.CONFIDENTIAL,
    PiiKind.CARD: Clearance.RESTRICTED,
    PiiKind.SSN: Clearance.RESTRICTED,
    PiiKind.UK_NINO: Clearance.RESTRICTED,
    PiiKind.SENSITIVE: Clearance.RESTRICTED,
}


@dataclass(frozen=True)
class PiiMatch:
    kind: PiiKind
    start: int
    end: int
    text: str


# ---------------------------------------------------------------------------------------------
# Validators


def luhn_valid(digits: str) -> bool:
    """True if the digit string passes the Luhn checksum."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# IBAN lengths by country (SWIFT IBAN registry).
IBAN_LENGTHS: Mapping[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_valid(iban: str) -> bool:
    """True for a compact (no spaces) IBAN with the right country length and mod-97 check."""
    iban = iban.upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", iban):
        return False
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1
