"""Where a run writes its files (``--out``), checked before the run does any work: a path that
cannot be written is said at once (exit 2), never found after the whole source was read."""

from __future__ import annotations

import tempfile
from pathlib import Path


class OutputError(Exception):
    """``--out`` names something that cannot be written; the message says what and why."""


def writable_directory(path: Path) -> None:
    """``path`` is (or is made) a directory files can be written in."""
    if path.exists() and not path.is_dir():
        raise OutputError(f"--out {path}: exists and is not a directory (--out names the "
                          "directory DetectedIssue.ndjson and report.json are written in)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"--out {path}: cannot be made a directory ({_why(exc)})") from None
    _probe(path)


def writable_file(path: Path) -> None:
    """``path`` is a file that can be written (made, or replaced) in an existing directory."""
    if path.is_dir() or not path.parent.is_dir():
        raise OutputError(f"--out {path}: not a file in an existing directory")
    if path.exists():
        try:
            with path.open("ab"):
                return
        except OSError as exc:
            raise OutputError(f"--out {path}: cannot be written ({_why(exc)})") from None
    _probe(path.parent)


def _probe(directory: Path) -> None:
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".b12-adapter-"):
            pass
    except OSError as exc:
        raise OutputError(f"--out {directory}: nothing can be written there ({_why(exc)})"
                          ) from None


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
