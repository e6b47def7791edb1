from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policies.directory import Clearance
from policies.errors import PolicyFileError
from policies.pii import (
    ALL,
    PiiKind,
    SensitiveColumns,
    detect,
    hidden_kinds,
    iban_valid,
    luhn_valid,
    redact,
    redact_for,
    redact_obj,
)

CORPUS_PATH = Path(__file__).resolve().parents[2] / "evals" / "pii_corpus.jsonl"
CORPUS = [json.loads(line) for line in CORPUS_PATH.read_text(encoding="utf-8").splitlines() if line.strip()]


def _found(text: str, **kw: object) -> list[tuple[str, str]]:
    return [(m.kind.value, m.text) for m in detect(text, **kw)]  # type: ignore[arg-type]


# --- the seeded corpus -----------------------------------------------------------------------


def test_corpus_covers_every_kind_with_enough_lines() -> None:
    positives = [r for r in CORPUS if r["pii"]]
    negatives = [r for r in CORPUS if not r["pii"]]
    assert len(positives) >= 60
    assert len(negatives) >= 20
    kinds = {p["kind"] for r in positives for p in r["pii"]}
    assert kinds == {k.value for k in PiiKind}
    for r in CORPUS:  # the recorded spans really point at the recorded text
        for p in r["pii"]:
            assert r["text"][p["start"] : p["end"]] == p["text"], r["id"]


@pytest.mark.parametrize("record", CORPUS, ids=[r["id"] for r in CORPUS])
def test_corpus_line_detected_exactly(record: dict) -> None:
    got = [
        {"kind": m.kind.value, "start": m.start, "end": m.end, "text": m.text}
        for m in detect(record["text"], sensitive_values=record.get("sensitive_values", ()))
    ]
    assert got == record["pii"]


def test_corpus_redaction_removes_all_planted_pii_and_keeps_negatives() -> None:
    for r in CORPUS:
        out = redact(r["text"], sensitive_values=r.get("sensitive_values", ()))
        for p in r["pii"]:
            assert p["text"] not in out, r["id"]
            assert f"[REDACTED:{p['kind']}]" in out
        if not r["pii"]:
            assert out == r["text"]


# --- validators ------------------------------------------------------------------------------


@pytest.mark.parametrize("digits", ["4111111111111111", "378282246310005", "6011111111111117", "4222222222222"])
def test_luhn_accepts_valid_numbers(digits: str) -> None:
    assert luhn_valid(digits)


@pytest.mark.parametrize("digits", ["4111111111111112", "1234567812345678", "", "4111-1111"])
def test_luhn_rejects_invalid(digits: str) -> None:
    assert not luhn_valid(digits)


def test_iban_validation_checks_checksum_and_country_length() -> None:
    assert iban_valid("GB82WEST12345698765432")
    assert not iban_valid("GB82WEST12345698765433")  # checksum
    assert not iban_valid("GB82WEST1234569876543")  # GB is 22 long
    assert not iban_valid("XX82WEST12345698765432")  # unknown country


# --- detection edges -------------------------------------------------------------------------


def test_card_requires_luhn_and_consistent_separators() -> None:
    assert _found("card 4111 1111 1111 1111") == [("card", "4111 1111 1111 1111")]
    assert _found("card 4111 1111 1111 1112") == []
    assert _found("card 4111 1111-1111 1111") == []


def test_card_found_inside_a_longer_digit_run() -> None:
    assert _found("paid 4111 1111 1111 1111 2 units") == [("card", "4111 1111 1111 1111")]


def test_card_grouping_must_look_like_a_card() -> None:
    # 4111111111111111 is Luhn-valid, but nobody prints a card as 41 1111 1111 111 111.
    assert _found("codes 41 1111 1111 111 111") == []
    assert _found("amex 3782 822463 10005, diners 3056 930902 5904") == [
        ("card", "3782 822463 10005"),
        ("card", "3056 930902 5904"),
    ]


def test_two_cards_in_one_run_and_price_like_tails() -> None:
    assert _found("4111 1111 1111 1111 5500 0000 0000 0004") == [
        ("card", "4111 1111 1111 1111"),
        ("card", "5500 0000 0000 0004"),
    ]
    assert _found("total 4111 1111 1111 1111.50") == []  # a decimal, not a card
    assert _found("x " + "1 " * 5000) == []


def test_id_glued_to_a_prefix_is_not_a_card() -> None:
    assert _found("ORD-4111111111111111") == []


def test_iban_stops_at_its_country_length() -> None:
    assert _found("IBAN GB82 WEST 1234 5698 7654 32 PAID") == [("iban", "GB82 WEST 1234 5698 7654 32")]


@pytest.mark.parametrize(
    "text",
    [
        "2024-03-15",
        "2024-03-15T10:30:00Z",
        "15/03/2024",
        "$1,299.00",
        "ORD-2024-001234",
        "INV-415-555-0132",
        "100-200-3000",
        "10.0.12.200",
        "v2.14.3",
        "94107-1234",
        "qty 12 345 units",
        "+1 555",
    ],
)
def test_things_that_are_not_phone_numbers(text: str) -> None:
    assert _found(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "+1 (415) 555-0132",
        "415-555-0132",
        "(415) 555-0132",
        "415.555.0132",
        "1-800-555-0199",
        "+44 20 7946 0958",
        "020 7946 0958",
        "+4915123456789",
        "+33 1 42 68 53 00",
    ],
)
def test_phone_formats(text: str) -> None:
    assert _found(f"call {text} today") == [("phone", text)]


def test_ssn_rules() -> None:
    assert _found("ssn 536-22-8841") == [("ssn", "536-22-8841")]
    for bad in ("000-22-8841", "666-22-8841", "900-22-8841", "536-00-8841", "536-22-0000", "536-22 8841"):
        assert _found(f"ssn {bad}") == [], bad


def test_uk_nino_rules() -> None:
    assert _found("NI AB 12 34 56 C") == [("uk_nino", "AB 12 34 56 C")]
    assert _found("NI ab123456c") == [("uk_nino", "ab123456c")]
    for bad in ("GB123456A", "DA123456A", "AB123456E", "AB 123456 C"):
        assert _found(f"NI {bad}") == [], bad


def test_email_excludes_trailing_punctuation_and_hostless_addresses() -> None:
    assert _found("write to jane.doe+q3@acme.example.") == [("email", "jane.doe+q3@acme.example")]
    assert _found("admin@localhost and support@") == []


def test_sensitive_values_match_whole_tokens_case_insensitively() -> None:
    text = "Salary 85000, bonus 1850000, address 12 Elm Street"
    got = _found(text, sensitive_values=["85000", "12 elm street", "NY", None])
    assert got == [("sensitive", "85000"), ("sensitive", "12 Elm Street")]


def test_empty_text() -> None:
    assert detect("") == []
    assert redact("") == ""


# --- redaction -------------------------------------------------------------------------------


def test_redact_kinds_and_placeholder() -> None:
    text = "Mail a@b.example or call 415-555-0132"
    assert redact(text, kinds={PiiKind.EMAIL}) == "Mail [REDACTED:email] or call 415-555-0132"
    assert redact(text, placeholder="<{kind}>") == "Mail <email> or call <phone>"


EVERYTHING = (
    "a@b.example | 415-555-0132 | GB82 WEST 1234 5698 7654 32 | 4111 1111 1111 1111 | 536-22-8841 | AB123456C | 85000"
)


@pytest.mark.parametrize(
    ("clearance", "visible"),
    [
        (Clearance.PUBLIC, set()),
        (Clearance.INTERNAL, {"email", "phone"}),
        (Clearance.CONFIDENTIAL, {"email", "phone", "iban"}),
        (Clearance.RESTRICTED, {"email", "phone", "iban", "card", "ssn", "uk_nino", "sensitive"}),
    ],
)
def test_redact_for_follows_the_clearance_table(clearance: Clearance, visible: set[str]) -> None:
    out = redact_for(clearance, EVERYTHING, sensitive_values=["85000"])
    redacted = {k.value for k in ALL if f"[REDACTED:{k.value}]" in out}
    assert redacted == {k.value for k in ALL} - visible
    assert {k.value for k in hidden_kinds(clearance)} == redacted


def test_redact_obj_walks_structures_without_mutating_them() -> None:
    payload = {
        "user": "a@b.example",
        "a@b.example": 3,
        "rows": [["Acme", 4111111111111111, 12500], ("536-22-8841", None, True)],
        "tags": {"ok"},
        "n": 1.5,
        "obj": object,
    }
    out = redact_obj(payload)
    assert out["user"] == "[REDACTED:email]"
    assert out["[REDACTED:email]"] == 3
    assert out["rows"][0] == ["Acme", "[REDACTED:card]", 12500]
    assert out["rows"][1] == ("[REDACTED:ssn]", None, True)
    assert out["tags"] == {"ok"} and out["n"] == 1.5 and out["obj"] is object
    assert payload["user"] == "a@b.example"  # not mutated
    assert redact_obj({"salary": 98000}, sensitive_values=["98000"]) == {"salary": "[REDACTED:sensitive]"}


# --- sensitive columns -----------------------------------------------------------------------

COLUMNS = ["name", "employees.salary", "home_address", "department", "DATE_OF_BIRTH"]
ROWS: list[list[Any]] = [
    ["Erin Walsh", 98000, "1 Elm St", "Engineering", "1990-01-02"],
    ["Tom Becker", None, "2 Oak Ave", "Engineering", "1985-05-06"],
]


def test_sensitive_columns_redacted_below_clearance() -> None:
    sc = SensitiveColumns.default()
    out = sc.redact_table(COLUMNS, ROWS, Clearance.CONFIDENTIAL)
    assert out.redacted_columns == ["employees.salary", "home_address", "DATE_OF_BIRTH"]
    assert out.rows[0] == [
        "Erin Walsh",
        "[REDACTED:employees.salary]",
        "[REDACTED:home_address]",
        "Engineering",
        "[REDACTED:DATE_OF_BIRTH]",
    ]
    assert out.rows[1][1] is None  # NULL stays NULL
    assert ROWS[0][1] == 98000  # input untouched


def test_sensitive_columns_visible_to_restricted() -> None:
    out = SensitiveColumns.default().redact_table(COLUMNS, ROWS, Clearance.RESTRICTED)
    assert out.redacted_columns == []
    assert out.rows == ROWS


def test_bare_column_matches_only_when_its_table_was_read() -> None:
    sc = SensitiveColumns.default()
    assert sc.match("salary") is not None  # tables unknown: fail closed
    assert sc.match("salary", tables=["main.employees"]) is not None
    assert sc.match("salary", tables=["contractors"]) is None
    assert sc.match("contractors.salary", tables=["contractors"]) is None
    assert sc.match("e.salary") is not None  # an alias: cannot tell, fail closed
    assert sc.match("e.salary", tables=["employees"]) is not None
    assert sc.match('"employees"."salary"'.replace('"', "")) is not None


def test_numeric_sensitive_values_are_caught_in_their_usual_spellings() -> None:
    values = SensitiveColumns.default().values(["salary"], [[98000.0], [101250.5]])
    assert values == {"98000.0", "98000", "98,000", "101250.5", "101,250.5"}
    assert redact("paid 98,000 (98000)", sensitive_values=values) == (
        "paid [REDACTED:sensitive] ([REDACTED:sensitive])"
    )
    assert redact_obj([98000.0, 98000, 5], sensitive_values=values) == [
        "[REDACTED:sensitive]",
        "[REDACTED:sensitive]",
        5,
    ]


def test_sensitive_values_feed_free_text_redaction() -> None:
    sc = SensitiveColumns.default()
    values = sc.values(COLUMNS, ROWS)
    assert values == {"98000", "98,000", "1 Elm St", "2 Oak Ave", "1990-01-02", "1985-05-06"}
    assert redact("Erin earns 98000 and lives at 1 Elm St", sensitive_values=values) == (
        "Erin earns [REDACTED:sensitive] and lives at [REDACTED:sensitive]"
    )


def test_sensitive_columns_config_with_per_column_clearance(tmp_path: Path) -> None:
    path = tmp_path / "sensitive.yaml"
    path.write_text(
        "columns:\n  - {column: employees.salary, visible_from: confidential}\n  - employees.home_address\n",
        encoding="utf-8",
    )
    sc = SensitiveColumns.load(path)
    out = sc.redact_table(["salary", "home_address"], [[1, "x"]], Clearance.CONFIDENTIAL)
    assert out.rows == [[1, "[REDACTED:home_address]"]]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"columns": ["salary"]}, "not 'table.column'"),
        ({"columns": [{"column": "employees.salary", "visible_from": "secret"}]}, "unknown clearance"),
        ({"nope": []}, "expected a 'columns:' list"),
    ],
)
def test_sensitive_columns_config_errors(raw: object, problem: str) -> None:
    with pytest.raises(PolicyFileError, match=problem):
        SensitiveColumns.from_mapping(raw)


def test_sensitive_columns_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match="not found"):
        SensitiveColumns.load(tmp_path / "missing.yaml")


def test_text_without_digits_or_at_signs_is_skipped_only_because_no_pattern_can_match() -> None:
    """detect() skips its patterns when the text has no digit and no "@": run every pattern on
    such texts (letters, IBAN/NINO-like capitals, separators, non-ASCII) and none may match."""
    import random

    from policies.pii.detect import _DETECTORS

    rng = random.Random(17)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyz -.+/()%_,:;'\"ÄéßЖ\t\n"
    texts = ["GB DE FR NL AB CD", "Mr Jones, QQ AB CD EF A", "+ ( ) - . / % +", "user at example dot com"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))) for _ in range(400)]
    for text in texts:
        for kind, find in _DETECTORS:
            assert list(find(text)) == [], (kind, text)
    assert detect("mail bob@example.com or call +44 20 7946 0958")  # the fast path still finds
