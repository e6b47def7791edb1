"""Keep PII and secrets out of logs: a ``logging.Filter`` that redacts every record it sees.

The filter rewrites the formatted message (``msg % args``), the exception and stack text, and
every ``extra={...}`` field, replacing PII (``policies.pii``) and secrets (API keys, tokens,
bearer credentials, passwords in URLs and ``password=...`` pairs) with placeholders. It never
drops a record.

Where it must sit: a filter on a *logger* only sees records logged on that very logger, not
those propagating from child loggers, so ``install_log_redaction`` attaches it to the logger's
*handlers* (which see everything that reaches them) as well. Handlers added later need the
filter too: call ``install_log_redaction`` again after configuring logging.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from policies.pii import ALL, DEFAULT_PLACEHOLDER, PiiKind, redact, redact_obj

SECRET_PLACEHOLDER = "[REDACTED:secret]"

# (pattern, replacement). Replacements keep the non-secret part so logs stay readable.
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Passwords in URLs: scheme://user:password@host -> scheme://user:[REDACTED:secret]@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]{0,20}://[^\s:/@]+:)([^\s@/]+)(@)"), r"\1" + SECRET_PLACEHOLDER + r"\3"),
    (re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{8,}"), SECRET_PLACEHOLDER),  # Anthropic
    (re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_\-]{20,}"), SECRET_PLACEHOLDER),  # OpenAI-style
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{8,}"), SECRET_PLACEHOLDER),  # Slack tokens
    (re.compile(r"\bxapp-\d-[A-Za-z0-9\-]{8,}"), SECRET_PLACEHOLDER),  # Slack app tokens
    (re.compile(r"https://hooks\.slack\.com/[A-Za-z0-9/_\-]+"), SECRET_PLACEHOLDER),  # webhooks
    (re.compile(r"\bpat-[a-z]{2}\d*-[A-Za-z0-9\-]{8,}"), SECRET_PLACEHOLDER),  # HubSpot
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), SECRET_PLACEHOLDER),  # AWS access key id
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), SECRET_PLACEHOLDER),  # GitHub
    # JWT
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]+"), SECRET_PLACEHOLDER),
    (re.compile(r"\b(Bearer|BEARER|bearer)(\s+)[A-Za-z0-9._~+/=\-]{8,}"), r"\1\2" + SECRET_PLACEHOLDER),
    (
        re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?(?:basic\s+|bearer\s+|token\s+)?)[^\s\"',;]{6,}"),
        r"\1" + SECRET_PLACEHOLDER,
    ),
    # key=value / key: value / "key": "value" for secret-looking keys.
    (
        re.compile(
            r"""(?ix)
            (\b(?:password|passwd|pwd|secret|client_secret|api[_\-]?key|access[_\-]?token
                |refresh[_\-]?token|auth[_\-]?token|token|signing[_\-]?secret)
             ["']?\s*[=:]\s*["']?)
            (?!\[REDACTED)([^\s"',;&]{3,})
            """
        ),
        r"\1" + SECRET_PLACEHOLDER,
    ),
)

# Keys whose whole value is a secret, whatever it looks like (in ``extra`` and in dicts).
SECRET_KEYS: frozenset[str] = frozenset(
    {
        "password", "passwd", "pwd", "secret", "client_secret", "api_key", "apikey", "token",
        "access_token", "refresh_token", "auth_token", "authorization", "cookie", "set-cookie",
        "x-api-key", "signing_secret", "private_key", "bot_token", "app_token",
    }
)  # fmt: skip


def redact_secrets(text: str) -> str:
    """``text`` with API keys, tokens, bearer credentials and URL passwords replaced."""
    for pattern, repl in _SECRET_PATTERNS:
        text = pattern.sub(repl, text)
    return text


def scrub_text(
    text: str,
    *,
    kinds: Collection[PiiKind] = ALL,
    sensitive_values: Iterable[Any] = (),
    placeholder: str = DEFAULT_PLACEHOLDER,
) -> str:
    """Secrets first (a URL password can look like an email), then PII."""
    return redact(redact_secrets(text), kinds=kinds, placeholder=placeholder, sensitive_values=sensitive_values)


def scrub(
    obj: Any,
    *,
    kinds: Collection[PiiKind] = ALL,
    sensitive_values: Iterable[Any] = (),
    placeholder: str = DEFAULT_PLACEHOLDER,
) -> Any:
    """A copy of a dict/list structure (log extras, audit payloads) with secrets and PII removed.

    Values under secret-looking keys (``password``, ``authorization``, ...) are replaced whole.
    """
    values = tuple(sensitive_values)

    def walk(o: Any) -> Any:
        if isinstance(o, str):
            return redact_secrets(o)
        if isinstance(o, Mapping):
            return {
                k: SECRET_PLACEHOLDER
                if isinstance(k, str) and k.lower() in SECRET_KEYS and v not in (None, "")
                else walk(v)
                for k, v in o.items()
            }
        if isinstance(o, list):
            return [walk(v) for v in o]
        if isinstance(o, tuple):
            return tuple(walk(v) for v in o)
        if isinstance(o, (set, frozenset)):
            return type(o)(walk(v) for v in o)
        return o

    return redact_obj(walk(obj), kinds=kinds, placeholder=placeholder, sensitive_values=values)


# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_MARK = "_chamberlain_redacted"


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {_plain(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_plain(v) for v in obj)
    if isinstance(obj, (set, frozenset)):
        return {_plain(v) for v in obj}
    if isinstance(obj, (str, int, float, bool, type(None))):
        return obj
    return str(obj)


class PiiRedactingFilter(logging.Filter):
    """Redact PII and secrets from a record's message, args, exception text and extra fields."""

    def __init__(
        self,
        *,
        kinds: Collection[PiiKind] = ALL,
        sensitive_values: Iterable[Any] = (),
        placeholder: str = DEFAULT_PLACEHOLDER,
    ) -> None:
        super().__init__()
        self.kinds = frozenset(kinds)
        self.sensitive_values = tuple(sensitive_values)
        self.placeholder = placeholder

    def _text(self, text: str) -> str:
        return scrub_text(text, kinds=self.kinds, sensitive_values=self.sensitive_values, placeholder=self.placeholder)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _MARK, False):
            return True  # already redacted by another handler/logger on the way
        try:
            message = record.getMessage()
        except Exception:
            # Bad format args: keep both parts, redacted, rather than lose the record.
            message = f"{record.msg} {record.args!r}"
        record.msg = self._text(message)
        record.args = None  # the message is already formatted; args could leak otherwise
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._text(record.exc_text)
        # Formatters print exc_text; dropping exc_info stops any formatter (or JSON logger)
        # from rendering the raw exception, whose message may hold PII, a second time.
        record.exc_info = None
        if record.stack_info:
            record.stack_info = self._text(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key in _STANDARD_ATTRS or key == _MARK:
                continue
            if key.lower() in SECRET_KEYS and value not in (None, ""):
                record.__dict__[key] = SECRET_PLACEHOLDER
                continue
            value = _plain(value)  # formatters would print str(obj): redact that text
            record.__dict__[key] = scrub(
                value,
                kinds=self.kinds,
                sensitive_values=self.sensitive_values,
                placeholder=self.placeholder,
            )
        setattr(record, _MARK, True)
        return True


def install_log_redaction(
    logger: logging.Logger | None = None, *, log_filter: PiiRedactingFilter | None = None
) -> PiiRedactingFilter:
    """Attach a redacting filter to ``logger`` (default: root) and all its current handlers.

    Idempotent: a handler or logger that already has a ``PiiRedactingFilter`` is left alone.
    Returns the filter in use.
    """
    logger = logger if logger is not None else logging.getLogger()
    f = log_filter or PiiRedactingFilter()
    for target in (logger, *logger.handlers):
        if not any(isinstance(existing, PiiRedactingFilter) for existing in target.filters):
            target.addFilter(f)
    return f


__all__ = [
    "SECRET_KEYS",
    "SECRET_PLACEHOLDER",
    "PiiRedactingFilter",
    "install_log_redaction",
    "redact_secrets",
    "scrub",
    "scrub_text",
]
