"""Keep PII and secrets out of logs: a ``logging.Filter`` that redacts every record it sees.

The filter rewrites the message template and each of its ``args`` (so formatters that read the
args themselves, like uvicorn's access formatter, keep working), the exception and stack text,
and every ``extra={...}`` field, replacing PII (``policies.pii``) and secrets (API keys, tokens,
bearer credentials, passwords in URLs and ``password=...`` pairs) with placeholders. Values in
percent-encoded text (query strings in access logs) are decoded before they are checked. It
never drops a record.

Where it must sit: a filter on a *logger* only sees records logged on that very logger, not
those propagating from child loggers, so ``install_log_redaction`` attaches it to the logger's
*handlers* (which see everything that reaches them) as well. Handlers added later need the
filter too: call ``install_log_redaction`` again after configuring logging. A process (our
servers and CLI) calls ``install_process_log_redaction`` once instead: it redacts every record
when it is created, whichever logger or handler it later reaches, and routes uncaught
exceptions (main thread and worker threads) through logging so their tracebacks are redacted too.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any
from urllib.parse import unquote, unquote_plus

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
    if len(text) <= 512:  # short strings repeat record after record: scanned once
        return _redact_secrets_cached(text)
    return _redact_secrets(text)


def _redact_secrets(text: str) -> str:
    for pattern, repl in _SECRET_PATTERNS:
        text = pattern.sub(repl, text)
    return text


_redact_secrets_cached = functools.lru_cache(maxsize=4096)(_redact_secrets)


# A run of URL-ish text holding a percent escape (``alice%40example.com``) or a form-encoded
# space (``4111+1111+1111+1111`` in a query string).
_ENCODED_RUN = re.compile(r"[^\s\"'<>]*(?:%[0-9A-Fa-f]{2}|\w\+\w)[^\s\"'<>]*")


def scrub_text(
    text: str,
    *,
    kinds: Collection[PiiKind] = ALL,
    sensitive_values: Iterable[Any] = (),
    placeholder: str = DEFAULT_PLACEHOLDER,
) -> str:
    """Secrets first (a URL password can look like an email), then PII; percent-encoded runs are
    decoded and checked as well (an email in a query string arrives as ``alice%40example.com``)."""
    values = tuple(sensitive_values)

    def plain(t: str) -> str:
        return redact(redact_secrets(t), kinds=kinds, placeholder=placeholder, sensitive_values=values)

    def decoded(raw: str, decode: Callable[[str], str]) -> str:
        for _ in range(3):  # %2540 is a double-encoded "@"
            once = decode(raw)
            if once == raw:
                break
            raw = once
        return raw

    def encoded(m: re.Match[str]) -> str:
        raw = m.group(0)
        # Percent escapes first, then form-encoded spaces ("+"), each checked after decoding;
        # where anything was found the decoded text is kept, so the placeholder is readable.
        step1 = decoded(raw, unquote)
        clean1 = plain(step1)
        step2 = decoded(clean1, unquote_plus)
        clean2 = plain(step2)
        if clean2 != step2:
            return clean2
        return clean1 if clean1 != step1 else raw

    text = plain(text)
    return _ENCODED_RUN.sub(encoded, text) if ("%" in text or "+" in text) else text


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
        if not getattr(record, _MARK, False):  # not yet redacted by another handler/logger/factory
            self._redact_message(record)
            setattr(record, _MARK, True)
        # Extras are set on a record after the record factory ran, so they are always checked.
        self._redact_extras(record)
        return True

    def _arg(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, int, float)):
            return value  # keeps %d / %.2f working
        if isinstance(value, str):
            return self._text(value)
        text, rep = str(value), repr(value)
        clean_text, clean_rep = self._text(text), self._text(rep)
        if clean_text == text and clean_rep == rep:
            return value
        return _Redacted(clean_text, clean_rep)

    def _redact_message(self, record: logging.LogRecord) -> None:
        try:
            original = record.getMessage()
        except Exception:
            # Bad format args: keep both parts, redacted, rather than lose the record.
            original = f"{record.msg} {record.args!r}"
            record.args = ()
        args = record.args
        if args:
            # Redact the template and each arg in place: formatters (uvicorn's access log) read
            # record.args themselves, so they must stay a tuple/mapping of the same shape.
            if isinstance(args, Mapping):
                record.args = {k: self._arg(v) for k, v in args.items()}
            else:
                record.args = tuple(self._arg(v) for v in args)
            record.msg = self._text(record.msg) if isinstance(record.msg, str) else self._arg(record.msg)
            try:
                rebuilt = record.getMessage()
                clean = self._text(rebuilt) == rebuilt
            except Exception:
                clean = False
            if not clean:  # PII spanning template and args, or a template redaction broke it
                record.msg, record.args = self._text(original), ()
        else:
            record.msg = self._text(original)
            record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._text(record.exc_text)
        # Formatters print exc_text; dropping exc_info stops any formatter (or JSON logger)
        # from rendering the raw exception, whose message may hold PII, a second time.
        record.exc_info = None
        if record.stack_info:
            record.stack_info = self._text(record.stack_info)

    def _redact_extras(self, record: logging.LogRecord) -> None:
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


class _Redacted:
    """Stands in for a log argument whose text held PII: prints the redacted text."""

    __slots__ = ("_rep", "_text")

    def __init__(self, text: str, rep: str) -> None:
        self._text, self._rep = text, rep

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return self._rep


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


_process_filter: PiiRedactingFilter | None = None


def install_process_log_redaction(log_filter: PiiRedactingFilter | None = None) -> PiiRedactingFilter:
    """Redact every log record this process creates, and log uncaught exceptions (redacted).

    Wraps the log-record factory, so a record is clean before any logger, handler or formatter
    sees it, including handlers that servers (uvicorn's ``dictConfig``) install later. Uncaught
    exceptions in the main thread and in worker threads would otherwise be printed raw to
    stderr by Python; they go through the ``chamberlain`` logger instead. Idempotent.
    """
    global _process_filter
    if _process_filter is not None:
        return _process_filter
    f = log_filter or PiiRedactingFilter()
    _process_filter = f
    base_factory = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base_factory(*args, **kwargs)
        f.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    install_log_redaction(logging.getLogger(), log_filter=f)
    log = logging.getLogger("chamberlain")

    def excepthook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        log.critical("uncaught %s", exc_type.__name__, exc_info=(exc_type, exc, tb))

    def thread_excepthook(hook_args: threading.ExceptHookArgs) -> None:
        if hook_args.exc_type is SystemExit:
            return
        name = hook_args.thread.name if hook_args.thread else "?"
        log.error(
            "uncaught %s in thread %s",
            hook_args.exc_type.__name__,
            name,
            exc_info=(hook_args.exc_type, hook_args.exc_value or hook_args.exc_type(), hook_args.exc_traceback),
        )

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook
    return f


__all__ = [
    "SECRET_KEYS",
    "SECRET_PLACEHOLDER",
    "PiiRedactingFilter",
    "install_log_redaction",
    "install_process_log_redaction",
    "redact_secrets",
    "scrub",
    "scrub_text",
]
