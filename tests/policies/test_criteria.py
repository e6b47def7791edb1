"""The asker's selection criteria, parsed from their own words by a small vocabulary."""

from __future__ import annotations

from decimal import Decimal

from policies.criteria import Kind, parse


def _ranked(text: str) -> list[tuple[str, str, bool, int]]:
    return [(c.kind.value, c.field, c.descending, c.top) for c in parse(text) if c.kind is not Kind.MATCH]


def test_superlatives_name_a_field_and_a_direction() -> None:
    assert _ranked("Find and delete the largest file in the drive.") == [("order", "size", True, 1)]
    assert _ranked("book the cheapest hotel") == [("order", "price", False, 1)]
    assert _ranked("the most expensive hotel in Paris") == [("order", "price", True, 1)]
    assert _ranked("the highest rated restaurant") == [("order", "rating", True, 1)]
    assert _ranked("the top-rated car rental") == [("order", "rating", True, 1)]
    assert _ranked("the restaurant with the best ratings") == [("order", "rating", True, 1)]
    assert _ranked("open the newest file") == [("order", "date", True, 1)]
    assert _ranked("the 3 largest files") == [("order", "size", True, 3)]


def test_counted_nouns_become_count_fields() -> None:
    assert _ranked("Find a channel with the most users and post there") == [("order", "count:user", True, 1)]
    assert _ranked("the channel with the smallest number of messages") == [("order", "count:message", False, 1)]
    assert _ranked("the user who wrote the most total channel messages") == [("order", "count:message", True, 1)]


def test_sort_all_selects_every_row_in_order() -> None:
    (_m, sort, *_rest) = parse("Sort all users by total number of channel messages they wrote and write to each user")
    assert (sort.field, sort.top > 1000, sort.phrase) == (
        "count:message",
        True,
        "Sort all users by total number of channel messages",
    )


def test_thresholds_and_tie_breaks_keep_the_askers_order() -> None:
    got = parse(
        "Can you suggest a hotel that's under 210? If there are a few choices, go for the one with the highest rating."
    )
    assert [c.kind for c in got] == [Kind.MATCH, Kind.THRESHOLD, Kind.ORDER]
    assert (got[1].field, got[1].op, got[1].bound) == ("price", "<", Decimal(210))  # a bare bound is a price
    assert got[2].field == "rating" and got[2].phrase == "highest rating"
    rated = [c for c in parse("restaurants rated above 4") if c.kind is Kind.THRESHOLD]
    assert [(c.field, c.op, c.bound) for c in rated] == [("rating", ">", Decimal(4))]
    tie = _ranked("the highest rating, and if there are multiple options, choose the one with the cheapest price")
    assert tie == [("order", "rating", True, 1), ("order", "price", False, 1)]


def test_no_field_no_criterion_and_durations_are_not_bounds() -> None:
    assert parse("book the best restaurant") == []  # "best" at what: nothing is guessed
    assert parse("Book 5 hours for it, at least 2 hours before") == []
    assert parse("Summarize the article and send it to Alice") == []
    # the asker's content words come along, for category fields ("Israeli cuisine")
    (match, _order) = parse("I'm craving some Israeli cuisine: the restaurant with the best ratings")
    assert match.kind is Kind.MATCH and "israeli" in match.words and "the" not in match.words
