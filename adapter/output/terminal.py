"""What the table and the stderr messages print from the input, made safe for a terminal.

A claim's code, an id, a file name or a note is the input's, and a terminal obeys what it
holds: a newline forges a line of the report ("ZZ9\nClaim/k9 ... supported"), an ESC clears the
screen or retitles the window, a bidi override shows a code reversed, a zero-width space makes
"D51.0\u200b" look like the valid code it is not. Every C0 control (tab and newline too: the
table's own lines are joined after), DEL, every C1 control, the bidi embeddings, overrides,
isolates and marks (LRM, RLM, ALM), and the invisible format characters (soft hyphen,
zero-width space and joiners, line and paragraph separators, word joiner and the invisible
operators, the byte order mark) are written as their Python escape (``\\n``, ``\\x1b``,
``\\u202e``, ``\\u200b``), as ``repr`` writes them; the JSON report is JSON and escapes what
it must itself.
"""

from __future__ import annotations

import logging
import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e"
                      "\u2060-\u2064\u2066-\u2069\ufeff]")


def _escape(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]


def shown(value: object) -> str:
    """``value`` as text a terminal prints as written: its controls escaped."""
    written = str(value)
    return _CONTROL.sub(_escape, written) if _CONTROL.search(written) else written


class ShownFormatter(logging.Formatter):
    """A log line with the controls of its message escaped (``shown``); a traceback after it
    keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return shown(super().formatMessage(record))


LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def log_to_stderr(level: int) -> None:
    """The command line's logging: a line a record on stderr, what it holds from the input
    escaped (``ShownFormatter``: a file name or id with a control in it)."""
    import sys

    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler and handler.stream is sys.stderr:
            handler.setFormatter(ShownFormatter(LOG_FORMAT))
