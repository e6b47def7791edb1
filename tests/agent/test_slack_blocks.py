"""Block Kit renderers: answers, tables, citations, approval cards, the reject modal."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime

from agent.events import Answer, ApprovalView, Attachment, Citation, RouteStage, Table
from agent.interfaces.slack.blocks import (
    APPROVE_ACTION,
    REJECT_ACTION,
    REJECT_CALLBACK,
    approval_card,
    current_stage,
    decided_card,
    diff_lines,
    mrkdwn,
    pending_list,
    reject_modal,
    render_answer,
    table_text,
)
from agent.interfaces.slack.threads import parse_slack_thread_id, slack_thread_id


def _view(**changes: object) -> ApprovalView:
    base = ApprovalView(
        id="apr_1",
        thread_id="slack:C1:1.2",
        requester_id="u_alice",
        requester_label="Alice Chen (Sales)",
        kind="tool_call",
        title="crm_update_deal",
        summary="Set Acme renewal to <Closed Won>",
        reason="CRM writes need the requester's manager.",
        current={"stage": "Negotiation", "amount": 100, "owner": "u_alice"},
        proposed={"stage": "Closed Won", "amount": 100, "owner": "u_alice"},
        status="pending",
        stages=(
            RouteStage("manager", "any", ("u_raj",), "pending"),
            RouteStage("finance", "any", ("u_dana",), "waiting"),
        ),
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    return ApprovalView(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def _dump(blocks: object) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_markdown_becomes_mrkdwn_and_control_characters_are_escaped() -> None:
    assert mrkdwn("**Total** for [Acme](https://crm.example/acme) <b> & co") == (
        "*Total* for <https://crm.example/acme|Acme> &lt;b&gt; &amp; co"
    )
    assert mrkdwn("## Summary") == "*Summary*"
    # a link the model wrote in plain text cannot smuggle a Slack mention or a link
    assert "<!channel>" not in mrkdwn("<!channel> hi")


def test_answer_has_numbered_citation_links_and_fits_slack_limits() -> None:
    long_text = ("word " * 1000 + "\n\n") * 3  # ~15k characters
    answer = Answer(
        long_text + " see [1] and [2]",
        citations=(
            Citation(1, "Travel policy", "Hotels", "https://kb.example/travel#hotels"),
            Citation(2, "Expense policy", "", ""),
        ),
    )
    rendered = render_answer(answer)
    sections = [b for b in rendered.blocks if b["type"] == "section"]
    assert len(sections) >= 5 and all(len(b["text"]["text"]) <= 3000 for b in sections)
    sources = _dump(rendered.blocks[-1])
    assert "[1] <https://kb.example/travel#hotels|Travel policy — Hotels>" in sources
    assert "[2] Expense policy" in sources
    assert len(rendered.text) <= 3000


def test_small_table_inline_big_table_and_attachments_uploaded() -> None:
    small = Table(("region", "revenue"), (("West", 1200.5), ("East", None)))
    big = Table(tuple(f"c{i}" for i in range(7)), ((1,) * 7,), title="Wide Result")
    chart = Attachment("artifacts/t1/chart.png", "Revenue chart", "image/png")
    rendered = render_answer(Answer("Here:", tables=(small, big), attachments=(chart,)))
    text = _dump(rendered.blocks)
    assert "```" in text and "1,200.50" in text
    assert [u.filename for u in rendered.uploads] == ["wide_result.csv", "chart.png"]
    assert rendered.uploads[0].content is not None and rendered.uploads[0].content.startswith(b"c0,c1")
    assert rendered.uploads[1].path == "artifacts/t1/chart.png"
    eleven_rows = Table(("n",), tuple((i,) for i in range(11)))
    assert render_answer(Answer("x", tables=(eleven_rows,))).uploads


def test_table_text_aligns_columns_and_escapes() -> None:
    text = table_text(Table(("name", "n"), (("A<B", 1), ("Longer name", 22))))
    assert "A&lt;B" in text and "A<B" not in text
    lines = html.unescape(text).splitlines()  # as Slack shows it
    assert lines[0] == "```" and lines[-1] == "```"
    assert lines[1].index("n", 4) == lines[3].index("1") == lines[4].index("22")  # columns line up


def test_approval_card_shows_requester_diff_reason_route_and_buttons() -> None:
    view = _view(untrusted_sources=("crm note on Acme",), tainted_arguments=("amount",), flags=("injection",))
    text, blocks = approval_card(view, label=lambda pid: {"u_raj": "Raj Patel (Sales)"}.get(pid, pid))
    body = _dump(blocks)
    assert "Alice Chen (Sales)" in text and "Alice Chen (Sales)" in body
    assert "~Negotiation~ → Closed Won" in body
    assert "amount" not in diff_lines(view.current, view.proposed)[0]  # unchanged fields are not shown
    assert "CRM writes need the requester" in body
    assert "Check carefully" in body and "crm note on Acme" in body and "amount" in body
    assert "Raj Patel (Sales)" in body and "&lt;Closed Won&gt;" in body
    actions = blocks[-1]
    assert [e["action_id"] for e in actions["elements"]] == [APPROVE_ACTION, REJECT_ACTION]
    assert {e["value"] for e in actions["elements"]} == {"apr_1"}


def test_decided_card_has_no_buttons_and_says_who_and_why() -> None:
    rejected = _view(status="rejected", decided_by="u_raj", decision_reason="not signed")
    text, blocks = decided_card(rejected, label=lambda pid: "Raj Patel (Sales)")
    assert all(b["type"] != "actions" for b in blocks)
    assert "Rejected by Raj Patel (Sales)" in text and "not signed" in _dump(blocks)
    assert "Approved by" in decided_card(_view(status="executed", decided_by="u_raj"))[0]
    assert "Expired" in decided_card(_view(status="expired"))[0]
    assert current_stage(_view(status="executed")) is None
    assert current_stage(_view()) is not None and current_stage(_view()).name == "manager"  # type: ignore[union-attr]


def test_reject_modal_carries_the_request_and_asks_for_a_reason() -> None:
    modal = reject_modal(_view(), channel="D1")
    assert modal["callback_id"] == REJECT_CALLBACK
    assert json.loads(modal["private_metadata"]) == {"approval_id": "apr_1", "channel": "D1"}
    (field,) = [b for b in modal["blocks"] if b["type"] == "input"]
    assert field["element"]["min_length"] >= 3
    assert len(modal["title"]["text"]) <= 24


def test_pending_list() -> None:
    assert "Nothing is waiting" in _dump(pending_list([]))
    blocks = pending_list([_view(id=f"apr_{i}") for i in range(12)], limit=10)
    assert _dump(blocks).count(APPROVE_ACTION) == 10 and "2 more" in _dump(blocks)


def test_slack_thread_ids_round_trip() -> None:
    tid = slack_thread_id("C0GENERAL", "1700000000.000100")
    assert tid == "slack:C0GENERAL:1700000000.000100"
    assert parse_slack_thread_id(tid) == ("C0GENERAL", "1700000000.000100")
    assert parse_slack_thread_id("cli:u_alice:abc") is None
    assert parse_slack_thread_id("slack:C1") is None
