"""The values the numeric options take, as argparse ``type=`` functions.

A value an option cannot use is refused while the arguments are read, in one line naming the
option (argparse puts ``argument --overlap-seconds:`` before the reason, and ``cli._Parser``
makes it the command's one-line error, exit status 2), never passed on to do something else
than asked: ``sync --overlap-seconds -5`` searched from after the watermark and skipped the
claims updated just after it, exit 0.

Only ASCII digits are read (``int`` takes any script's digits), and a whole number is at most
``MOST``, so no value overflows what reads it (``timedelta(seconds=...)``).
"""

from __future__ import annotations

import argparse
import re

MOST = 1_000_000_000  # an overlap of 31 years, a billion claims: past every real use
_WHOLE = re.compile(r"[+-]?[0-9]+")


def non_negative_int(text: str) -> int:
    """A whole number, 0 or more (``--overlap-seconds``: 0 re-reads nothing before the
    watermark)."""
    return _whole(text, 0)


def _whole(text: str, least: int, most: int = MOST) -> int:
    value = int(text) if _WHOLE.fullmatch(text) and len(text) <= 20 else None
    if value is None or not least <= value <= most:
        raise argparse.ArgumentTypeError(f"must be a whole number from {least} to {most}, "
                                         f"not {text!r}")
    return value
