"""The state a scheduled ``sync`` keeps between runs: a watermark file and a run lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path


class SyncStateError(RuntimeError):
    """The state file is unreadable, or another run holds the lock."""


@dataclass(frozen=True)
class SyncState:
    watermark: str | None = None  # the greatest Claim meta.lastUpdated of the last good run
    last_success: str | None = None  # when that run finished
    server: str | None = None  # the base URL the watermark belongs to

    @classmethod
    def load(cls, path: Path) -> SyncState:
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: data.get(k) for k in ("watermark", "last_success", "server")})
        except (OSError, json.JSONDecodeError, TypeError) as exc:
            raise SyncStateError(f"{path}: unreadable sync state ({exc})") from exc

    def save(self, path: Path) -> None:
        """Write atomically: a crash mid-write leaves the previous state, never half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)


@contextlib.contextmanager
def run_lock(state_path: Path) -> Iterator[None]:
    """Hold ``<state>.lock`` for the run; a second run fails at once instead of overlapping."""
    lock_path = state_path.with_name(state_path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncStateError(f"{lock_path}: another sync run holds the lock") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
