from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from policies.logging_filter import (
    PiiRedactingFilter,
    install_log_redaction,
    redact_secrets,
    scrub,
    scrub_text,
)

CORPUS_PATH = Path(__file__).resolve().parents[2] / "evals" / "pii_corpus.jsonl"
CORPUS = [json.loads(line) for line in CORPUS_PATH.read_text(encoding="utf-8").splitlines() if line.strip()]
SENSITIVE = sorted({v for r in CORPUS for v in r.get("sensitive_values", ())})


class _ExtrasFormatter(logging.Formatter):
    """Like a JSON log formatter: prints the message and every extra field."""

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k in ("customer", "payload", "note", "obj")}
        return f"{base} extras={extras!r}"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A parent logger with a real handler writing to a buffer; records come from a child."""
    parent = logging.getLogger("chamberlain_test_redaction")
    parent.propagate = False
    parent.setLevel(logging.DEBUG)
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(_ExtrasFormatter("%(levelname)s %(name)s %(message)s"))
    parent.addHandler(handler)
    try:
        yield parent, buf
    finally:
        parent.removeHandler(handler)
        for f in list(parent.filters):
            parent.removeFilter(f)


class _Shouty:
    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return f"Shouty({self.text})"


def test_no_planted_pii_reaches_the_log_output(captured: tuple[logging.Logger, io.StringIO]) -> None:
    parent, buf = captured
    install_log_redaction(parent, log_filter=PiiRedactingFilter(sensitive_values=SENSITIVE))
    child = logging.getLogger("chamberlain_test_redaction.agent.graph")  # propagates to parent
    for r in CORPUS:
        text = r["text"]
        child.info(text)
        child.info("tool returned %s for %r", text, {"note": text})
        child.warning(
            "customer update",
            extra={"customer": text, "payload": {"rows": [[text, _Shouty(text)]]}, "obj": _Shouty(text)},
        )
        try:
            raise ValueError(f"connector failed on: {text}")
        except ValueError:
            child.exception("lookup failed")
        child.info("stack", stack_info=True, extra={"note": text})
    out = buf.getvalue()
    planted = [p["text"] for r in CORPUS for p in r["pii"]]
    assert len(planted) > 90
    leaked = [p for p in planted if p in out]
    assert leaked == []
    # Redaction kept the record, not dropped it.
    assert out.count("lookup failed") == len(CORPUS)
    assert "[REDACTED:card]" in out and "[REDACTED:iban]" in out and "[REDACTED:sensitive]" in out
    assert "Traceback" in out and "ValueError: connector failed on:" in out
    # Non-PII text of the negatives is intact.
    assert "ORD-2024-001234" in out and "2024-03-15" in out


def test_filter_on_the_parent_logger_alone_would_miss_child_records(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    # Why install_log_redaction also filters handlers: logger filters skip propagated records.
    parent, buf = captured
    parent.addFilter(PiiRedactingFilter())
    logging.getLogger("chamberlain_test_redaction.child").info("mail a@b.example")
    assert "a@b.example" in buf.getvalue()
    buf.truncate(0)
    install_log_redaction(parent)
    logging.getLogger("chamberlain_test_redaction.child").info("mail a@b.example")
    assert "a@b.example" not in buf.getvalue()


def test_install_is_idempotent(captured: tuple[logging.Logger, io.StringIO]) -> None:
    parent, _ = captured
    f1 = install_log_redaction(parent)
    install_log_redaction(parent)
    assert sum(isinstance(f, PiiRedactingFilter) for f in parent.filters) == 1
    assert sum(isinstance(f, PiiRedactingFilter) for f in parent.handlers[0].filters) == 1
    assert f1 in parent.filters


@pytest.mark.parametrize(
    ("secret", "kept"),
    [
        ("ANTHROPIC_API_KEY=sk-ant-api03-AbCdEf0123456789_xyz-Q", "ANTHROPIC_API_KEY="),
        ("token xoxb-1234567890-0987654321-AbCdEfGhIjKl", "token "),
        ("slack app xapp-1-A0123456-1234567890-abcdef", "slack app"),
        ("Authorization: Bearer eyJhbGciOi.abc.def-123456", "Authorization"),
        ("hubspot pat-na1-1a2b3c4d-aaaa-bbbb-cccc-1234567890ab", "hubspot"),
        ("db postgresql://chamberlain:s3cr3t-Pw@db.internal:5432/app", "postgresql://chamberlain:"),
        ("dsn postgresql+psycopg://app:hunter2@127.0.0.1/x", "@127.0.0.1/x"),
        ("login password=hunter22 user=bob", "user=bob"),
        ('{"client_secret": "abc123def456"}', "client_secret"),
        ("aws AKIAIOSFODNN7EXAMPLE", "aws"),
        ("hook https://hooks.slack.com/services/T000/B000/XXXXXXXX", "hook"),
    ],
)
def test_secrets_are_redacted(secret: str, kept: str) -> None:
    out = redact_secrets(secret)
    assert "[REDACTED:secret]" in out
    assert kept in out
    for fragment in ("sk-ant-api03", "xoxb-", "xapp-1", "eyJhbGciOi", "pat-na1", "s3cr3t", "hunter2", "abc123def456"):
        assert fragment not in out
    assert "AKIAIOSFODNN7EXAMPLE" not in out and "XXXXXXXX" not in out


@pytest.mark.parametrize(
    "text",
    [
        "token expired for user bob",
        "the bearer of the report",
        "see https://docs.larkspur.example/handbook/travel",
        "task-123 is a pat on the back",
    ],
)
def test_ordinary_text_is_not_mistaken_for_secrets(text: str) -> None:
    assert redact_secrets(text) == text


def test_secret_keys_in_extra_and_structures_are_replaced_whole(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    parent, buf = captured
    install_log_redaction(parent)
    parent.info("calling api", extra={"authorization": "Token abc", "note": "key sk-ant-api03-zzzzzzzzzzzz"})
    out = buf.getvalue()
    assert "Token abc" not in out and "zzzzzzzz" not in out
    assert scrub({"headers": {"Authorization": "x", "Cookie": "s=1"}, "password": None}) == {
        "headers": {"Authorization": "[REDACTED:secret]", "Cookie": "[REDACTED:secret]"},
        "password": None,
    }


def test_scrub_text_removes_url_password_before_pii() -> None:
    out = scrub_text("connect postgresql://bob:pa55word@db.example.com/app as bob@larkspur.example")
    assert out == "connect postgresql://bob:[REDACTED:secret]@db.example.com/app as [REDACTED:email]"


def test_bad_format_args_do_not_lose_the_record(captured: tuple[logging.Logger, io.StringIO]) -> None:
    parent, buf = captured
    install_log_redaction(parent)
    parent.info("two %s %s", "a@b.example")  # one argument missing
    out = buf.getvalue()
    assert "two" in out and "a@b.example" not in out and "[REDACTED:email]" in out


def test_raw_exception_is_not_left_for_other_formatters() -> None:
    f = PiiRedactingFilter()
    try:
        raise RuntimeError("customer a@b.example not found")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert f.filter(record) is True
    assert record.exc_info is None
    assert record.exc_text is not None
    assert "RuntimeError: customer [REDACTED:email] not found" in record.exc_text
    rendered = logging.Formatter().format(record)
    assert "a@b.example" not in rendered and "Traceback" in rendered
