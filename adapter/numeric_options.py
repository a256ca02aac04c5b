"""The values the numeric options take, as argparse ``type=`` functions: every numeric option
of every command uses one (tests/test_numeric_options.py holds that none reads a bare
``int`` or ``float``).

A value an option cannot use is refused while the arguments are read, in one line naming the
option (argparse puts ``argument --timeout:`` before the reason, and ``cli._Parser`` makes it
the command's one-line error, exit status 2), never passed on to fail deep in a library
(``--timeout 0`` was a 92-line traceback from urllib3) or to do something else than asked
(``sync --overlap-seconds -5`` searched from after the watermark and skipped the claims
updated just after it; ``--max-claims 0`` checked nothing; ``--retry-budget nan`` never
waited), each exit 0.

Only ASCII digits are read (``int`` and ``float`` take any script's digits, ``float`` nan and
inf), and the values are bounded, so none overflows what reads it: a whole number is at most
``MOST`` (``timedelta(seconds=...)``), seconds at most ``MOST_SECONDS`` (a socket timeout or a
sleep past about 9e9 seconds is an OverflowError).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

MOST = 1_000_000_000  # an overlap of 31 years, a billion claims: past every real use
MOST_SECONDS = 86_400  # a day: a longer timeout or wait is none
_WHOLE = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def path(text: str) -> Path:
    """A file or directory option (not a number, but a value refused the same way): an empty
    one (an unset ``$OUTDIR``) would be the current directory, read or written unasked."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty (an unset variable?): name a file or directory")
    return Path(text)


def positive_int(text: str) -> int:
    """A count of at least 1 (``--page-size``, ``--max-claims``, ``--max-transaction-entries``,
    ``--workers``)."""
    return _whole(text, 1)


def non_negative_int(text: str) -> int:
    """A whole number, 0 or more (``--overlap-seconds``: 0 re-reads nothing before the
    watermark)."""
    return _whole(text, 0)


def port(text: str) -> int:
    """A TCP port to listen on (``serve --port``)."""
    return _whole(text, 1, 65_535)


def positive_seconds(text: str) -> float:
    """A time above 0 (``--timeout``, ``--body-timeout``): 0 or less is no time at all."""
    value = _decimal(text)
    if value is None or not 0 < value <= MOST_SECONDS:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0 and at most "
                                         f"{MOST_SECONDS}, not {text!r}")
    return value


def non_negative_seconds(text: str) -> float:
    """A time of 0 or more (``--retry-budget 0``: never wait to retry; ``--graceful-timeout
    0``: stop at once)."""
    value = _decimal(text)
    if value is None or not 0 <= value <= MOST_SECONDS:
        raise argparse.ArgumentTypeError(f"must be a number of seconds from 0 to "
                                         f"{MOST_SECONDS}, not {text!r}")
    return value


def _whole(text: str, least: int, most: int = MOST) -> int:
    value = int(text) if _WHOLE.fullmatch(text) and len(text) <= 20 else None
    if value is None or not least <= value <= most:
        raise argparse.ArgumentTypeError(f"must be a whole number from {least} to {most}, "
                                         f"not {text!r}")
    return value


def _decimal(text: str) -> float | None:
    """The number ``text`` writes in ASCII decimal notation (1e999 is inf: out of every
    range), else None."""
    return float(text) if _DECIMAL.fullmatch(text) else None
