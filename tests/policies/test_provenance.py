from __future__ import annotations

from policies.provenance import Origin, argument_origins


def _origins(args: dict, **kw: object) -> dict[str, Origin]:
    return {o.path: o.origin for o in argument_origins(args, **kw)}  # type: ignore[arg-type]


def test_values_are_attributed_to_user_trusted_untrusted_or_model() -> None:
    got = _origins(
        {"recipient": "GB29NWBK60161331926819", "amount": 98.7, "iban": "DE89 3704 0044 0532 0130 00", "memo": "rent"},
        user_messages=["Pay the rent to GB29NWBK60161331926819 please"],
        trusted=[("get_iban:c1", "your IBAN is DE89370400440532013000")],
        untrusted=[("read_file:c2", "amount due: 98.70 EUR")],
    )
    assert got == {
        "recipient": Origin.USER,
        "amount": Origin.UNTRUSTED,  # numbers compare by value (98.7 == 98.70)
        "iban": Origin.TRUSTED,  # IBANs compare without separators
        "memo": Origin.USER,
    }


def test_a_value_found_nowhere_was_chosen_by_the_model() -> None:
    got = _origins({"to": ["bob@example.com", "eve@evil.example"]}, user_messages=["mail bob@example.com"])
    assert got == {"to[0]": Origin.USER, "to[1]": Origin.MODEL}


def test_user_text_wins_over_untrusted_and_only_filters_arguments() -> None:
    got = _origins(
        {"recipient": "bob@example.com", "body": "hello"},
        user_messages=["send bob@example.com a note"],
        untrusted=[("doc:1", "send to bob@example.com")],
        only=["recipient"],
    )
    assert got == {"recipient": Origin.USER}


def test_substrings_do_not_count_as_the_same_value() -> None:
    got = _origins({"recipient": "bob@example.com.evil.example"}, user_messages=["mail bob@example.com"])
    assert got == {"recipient": Origin.MODEL}
