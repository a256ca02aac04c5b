"""``sync``: the scheduled run. Checks every claim changed since the last good run.

The watermark is the greatest Claim ``meta.lastUpdated`` the server showed us (server time,
not our clock). Each run starts a small overlap before it, so clock skew and claims updated
in the same instant are never missed; the writes are idempotent, so the overlap is safe.
The watermark moves only when every read and write of the run succeeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapter.driver import Driver, RunTotals, Sink
from adapter.evidence.needs import record_searches
from adapter.fhir import FhirClient
from adapter.mappings import Mappings
from adapter.outcomes import PageOutcome
from adapter.output.writeback import WriteBack
from adapter.rules import Policy
from adapter.sources.server import ClaimSelection, ServerSource
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


class Watermark(Sink):
    """The newest ``meta.lastUpdated`` among the claims that were checked or skipped."""

    def __init__(self) -> None:
        self.newest: str | None = None
        self._newest_at: datetime | None = None

    def write(self, page: PageOutcome) -> None:
        if not page.complete:
            return
        for outcome in page.claims:
            when = instant(outcome.last_updated)
            if when is not None and (outcome.result or outcome.skipped) and (
                self._newest_at is None or when > self._newest_at
            ):
                self.newest, self._newest_at = outcome.last_updated, when


def instant(value: str | None) -> datetime | None:
    """A FHIR instant as an aware datetime; None when absent or malformed."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _since(watermark: str | None, overlap: timedelta) -> str | None:
    when = instant(watermark)
    if when is None:
        return None
    return (when - overlap).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def run_sync(client: FhirClient, policy: Policy, mappings: Mappings, writeback: WriteBack,
             sinks: Sequence[Sink], state_path: Path, overlap: timedelta = DEFAULT_OVERLAP,
             max_claims: int | None = None) -> SyncOutcome:
    """One scheduled run under the lock; raises ``SyncStateError`` if another run holds it.

    ``sinks`` must hold ``writeback`` (in the order the caller wants the sinks to see pages).
    """
    base = client.base_url
    with run_lock(state_path):
        before = SyncState.load(state_path)
        if before.server and before.server != base:
            raise SyncStateError(
                f"{state_path}: state belongs to {before.server}, not {base}; use another file")
        selection = ClaimSelection(since=_since(before.watermark, overlap), oldest_first=True)
        source = ServerSource(client, selection, record_searches(mappings))
        watermark = Watermark()
        totals = Driver(source, policy, mappings, [*sinks, watermark],
                        max_claims=max_claims).run()
        after = before
        if not totals.read_failures and writeback.all_landed and not writeback.dry_run:
            after = SyncState(
                watermark=watermark.newest or before.watermark,
                last_success=datetime.now(UTC).isoformat(timespec="seconds"),
                server=base,
            )
            after.save(state_path)
        return SyncOutcome(totals, before, after)
