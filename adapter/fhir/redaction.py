"""Secrets never reach a log, whichever library writes it.

urllib3 logs every request line at DEBUG (``-v``), query string included, and a server's next
link may carry an ``access_token``; our own log lines redact URLs already
(``errors.redact_url``). ``SecretFilter`` masks secret query values and credentials in any
log record; ``guard_logs`` puts it on the HTTP libraries' loggers (records they create) and
on the handlers given (records of every logger, for the command line).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from adapter.fhir.errors import SECRET_PARAMS

_SECRET_QUERY_VALUE = re.compile(
    r"(?i)(?<![\w-])(" + "|".join(sorted(SECRET_PARAMS)) + r")=([^&\s\"'#<>]*)")
_CREDENTIALS = re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_USER_INFO = re.compile(r"(?i)\b(https?://)[^/\s@]+@")
_HTTP_LOGGERS = ("urllib3", "requests", "adapter")


def redact_text(text: str) -> str:
    """``text`` with secret query values, Authorization credentials and URL user info masked."""
    text = _SECRET_QUERY_VALUE.sub(lambda m: f"{m.group(1)}=***", text)
    text = _CREDENTIALS.sub(lambda m: f"{m.group(1)} ***", text)
    return _USER_INFO.sub(lambda m: m.group(1), text)


class SecretFilter(logging.Filter):
    """Rewrites a record's message (and its formatted traceback) without secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it as it would
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


def guard_logs(handlers: Iterable[logging.Handler] = ()) -> None:
    """Put a ``SecretFilter`` on every HTTP library logger that exists (a logger's filter sees
    only its own records, so each one gets it) and on ``handlers``; idempotent."""
    names = [name for name in list(logging.root.manager.loggerDict)
             if name.split(".")[0] in _HTTP_LOGGERS]
    for target in [*(logging.getLogger(n) for n in {*_HTTP_LOGGERS, *names}), *handlers]:
        if not any(isinstance(f, SecretFilter) for f in target.filters):
            target.addFilter(SecretFilter())
