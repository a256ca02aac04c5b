"""``sync``: the scheduled run. Checks every claim changed since the last good run.

The watermark is the greatest Claim ``meta.lastUpdated`` the server showed us (server time,
not our clock). Each run starts a small overlap before it, so clock skew and claims updated
in the same instant are never missed; the writes are idempotent, so the overlap is safe.
The watermark moves only when every read and write of the run succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapter.server_run import RunTotals, ServerRun
from adapter.sources.server import ClaimSelection
from adapter.sync_state import SyncState, SyncStateError, run_lock

DEFAULT_OVERLAP = timedelta(minutes=5)


@dataclass(frozen=True)
class SyncOutcome:
    totals: RunTotals
    before: SyncState
    after: SyncState

    @property
    def moved(self) -> bool:
        return self.after.watermark != self.before.watermark


def _since(watermark: str | None, overlap: timedelta) -> str | None:
    if not watermark:
        return None
    instant = datetime.fromisoformat(watermark.replace("Z", "+00:00"))
    instant = instant if instant.tzinfo else instant.replace(tzinfo=UTC)
    return (instant - overlap).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def run_sync(run: ServerRun, state_path: Path, overlap: timedelta = DEFAULT_OVERLAP) -> SyncOutcome:
    """One scheduled run under the lock; raises ``SyncStateError`` if another run holds it."""
    base = run.client.base_url
    with run_lock(state_path):
        before = SyncState.load(state_path)
        if before.server and before.server != base:
            raise SyncStateError(
                f"{state_path}: state belongs to {before.server}, not {base}; use another file")
        selection = ClaimSelection(since=_since(before.watermark, overlap), oldest_first=True)
        totals = run.run(selection)
        after = before
        if not totals.server_failed and not run.dry_run:
            after = SyncState(
                watermark=totals.newest_claim_update or before.watermark,
                last_success=datetime.now(UTC).isoformat(timespec="seconds"),
                server=base,
            )
            after.save(state_path)
        return SyncOutcome(totals, before, after)
