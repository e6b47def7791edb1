from __future__ import annotations

from policies.citations import check_citations

RETRIEVED = {"doc:expense-policy#1", "doc:travel-policy#4"}


def test_supported_citations_are_kept() -> None:
    text = "Receipts are needed above $25 [doc:expense-policy#1]. Meals cap at $75 [doc:travel-policy#4]."
    check = check_citations(text, RETRIEVED)
    assert check.ok and check.text == text
    assert check.cited == ("doc:expense-policy#1", "doc:travel-policy#4")


def test_citation_to_nothing_retrieved_is_dropped() -> None:
    text = "Salaries are secret [doc:compensation-guidelines#1]. Receipts above $25 [doc:expense-policy#1]."
    check = check_citations(text, RETRIEVED)
    assert check.text == "Salaries are secret. Receipts above $25 [doc:expense-policy#1]."
    assert check.dropped == ("doc:compensation-guidelines#1",)
    assert not check.ok


def test_grouped_markers_keep_only_supported_ids() -> None:
    check = check_citations("Both [doc:expense-policy#1; doc:nope#9] say so.", RETRIEVED)
    assert check.text == "Both [doc:expense-policy#1] say so."
    assert check.dropped == ("doc:nope#9",)


def test_numeric_markers_and_links() -> None:
    check = check_citations("See [1], [2] and [the guide](https://x.example) or [3](https://y).", {"1", "[2]"})
    assert check.text == "See [1], [2] and [the guide](https://x.example) or [3](https://y)."
    check = check_citations("Fact [7] here.", {"1"})
    assert check.text == "Fact here." and check.dropped == ("7",)


def test_numbered_renumbers_in_order_of_first_use() -> None:
    text = "A [doc:travel-policy#4]. B [doc:expense-policy#1; doc:travel-policy#4]. C [doc:bad#1]."
    check = check_citations(text, RETRIEVED)
    assert check.cited == ("doc:travel-policy#4", "doc:expense-policy#1")
    assert check.numbered() == "A [1]. B [1, 2]. C."


def test_text_without_citations_is_untouched() -> None:
    text = "Use [brackets] for [notes]; arrays like x[0] stay."
    check = check_citations(text, set())
    assert check.text == text and check.cited == () and check.dropped == ()
