"""``sync``: the scheduled run. Checks every claim changed since the last good run.

The watermark is a Claim ``meta.lastUpdated`` the server showed us (server time, not our
clock). Each run searches from a small overlap before it, so clock skew and claims updated in
the same instant are never missed; the writes are idempotent, so the overlap is safe.

The rule: the watermark moves to W only when every claim the server holds with
``meta.lastUpdated`` between the run's start and W was processed (checked, skipped, or
reported unreadable) by this run, every read succeeded and every write landed. Then no claim
can be skipped, whatever order the server returns:

- a run that read its search to the end saw every claim changed since: W is the newest;
- a run cut short by ``--max-claims`` cannot know what it did not read (a server may ignore
  ``_sort``), so it asks the server for the claims between its start and the newest it
  processed (``_lastUpdated=ge...&_lastUpdated=le...``). If all were processed, W is the
  newest; otherwise W is the newest processed instant not after the oldest unprocessed one
  (the next run starts at or before it), and when there is none the watermark stays and
  the report says why;
- a claim whose ``meta.lastUpdated`` is missing, not a FHIR instant, or more than a day ahead
  of this machine's clock cannot be placed in time: it is reported, and the watermark stays.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapter.check import last_updated
from adapter.driver import Driver, RunTotals, Sink
from adapter.evidence.needs import record_searches
from adapter.fhir import FhirClient, FhirError, Query
from adapter.mappings import Mappings
from adapter.outcomes import PageOutcome, Problem
from adapter.output.writeback import WriteBack
from adapter.rules import Policy
from adapter.sources.rechecks import RecheckSource
from adapter.sources.server import CLAIM_TYPES_READ, ClaimSelection
from adapter.sync_state import SyncState, SyncStateError, run_lock

logger = logging.getLogger("adapter.sync")

DEFAULT_OVERLAP = timedelta(minutes=5)
FUTURE_SLACK = timedelta(days=1)  # a lastUpdated further ahead of our clock is not believed
VERIFY_PAGE_SIZE = 1000
WATERMARK = "sync watermark"  # the resource name of the report's watermark problems
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


@dataclass(frozen=True)
class SyncOutcome:
    totals: RunTotals
    before: SyncState
    after: SyncState
    problems: tuple[Problem, ...] = ()  # why the watermark could not move (for the report)

    @property
    def moved(self) -> bool:
        return self.after.watermark != self.before.watermark


@dataclass(frozen=True, order=True)
class Stamp:
    """A claim's ``meta.lastUpdated``: the instant, and the text the server sent."""

    at: datetime
    text: str = field(compare=False)


class Watermark(Sink):
    """Places every claim of the run's complete pages in time, in the order they came."""

    def __init__(self, *, keep_claims: bool, now: datetime,
                 rechecked: set[str] | None = None) -> None:
        self.keep_claims = keep_claims  # a run that may be cut short keeps every claim's stamp
        self.now = now
        # Claims re-checked because their patient's chart changed (RecheckSource): their own
        # stamps are older than the run's start and say nothing of where it got to.
        self.rechecked = rechecked if rechecked is not None else set()
        self.newest: Stamp | None = None
        self.claims: dict[str, Stamp] = {}
        self.in_order = True
        self.problems: list[Problem] = []
        self._last: Stamp | None = None

    def write(self, page: PageOutcome) -> None:
        if not page.complete:
            return
        for outcome in page.claims:
            if outcome.claim in self.rechecked:
                continue
            stamp = self.place(outcome.claim, outcome.last_updated)
            if stamp is None:
                continue
            if self._last is not None and stamp < self._last:
                self.in_order = False
            self._last = stamp
            if self.newest is None or stamp > self.newest:
                self.newest = stamp
            if self.keep_claims:
                self.claims[outcome.claim] = stamp

    def place(self, claim: str, text: str | None) -> Stamp | None:
        """The claim's stamp, or None with a problem saying why it cannot be placed."""
        when = instant(text)
        if when is None:
            what = (f"meta.lastUpdated {text!r} is not a FHIR instant" if text is not None
                    else "no meta.lastUpdated")
        elif when > self.now + FUTURE_SLACK:
            what = f"meta.lastUpdated {text!r} is more than a day ahead of this machine's clock"
        else:
            assert text is not None
            return Stamp(when, text)
        self.problems.append(Problem(claim, f"{what}: the sync watermark stays where it was, "
                                            "since this claim cannot be placed in time"))
        return None


def instant(value: str | None) -> datetime | None:
    """A FHIR instant (date, time to the second, zone) as an aware datetime; None when absent
    or malformed."""
    if not isinstance(value, str) or not _INSTANT.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _since(watermark: str | None, overlap: timedelta) -> str | None:
    when = instant(watermark)
    if when is None:
        return None
    try:
        start = when - overlap
    except OverflowError:
        start = datetime.min.replace(tzinfo=UTC)
    return start.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def verified_newest(client: FhirClient, since: str | None, watermark: Watermark,
                    newest: Stamp, previous: datetime | None
                    ) -> tuple[Stamp | None, list[Problem]]:
    """For a run cut short: the newest stamp every claim up to which was processed, asking
    the server which claims lie between the run's start and ``newest`` (module docstring).
    None, with a problem, when that would not move the watermark past ``previous``: a server
    whose order keeps the oldest claims out of reach would stall every run, silently."""
    params = [("_lastUpdated", f"ge{since}")] if since else []
    params += [("_lastUpdated", f"le{newest.text}"), ("_count", str(VERIFY_PAGE_SIZE))]
    unprocessed: list[Stamp] = []
    try:
        for rtype in CLAIM_TYPES_READ:
            for claim in client.search(Query(rtype, tuple(params))):
                ref = f"{rtype}/{claim.get('id')}"
                if ref in watermark.claims:
                    continue
                stamp = watermark.place(ref, last_updated(claim))
                if stamp is None:
                    return None, []  # place() reported it
                unprocessed.append(stamp)
    except FhirError as exc:
        return None, [Problem(WATERMARK, f"could not ask the server which claims the run "
                                         f"left unread, so the watermark stays: {exc}")]
    if not unprocessed:
        return newest, []
    oldest = min(unprocessed)
    safe = [stamp for stamp in watermark.claims.values() if stamp <= oldest]
    moved_to = max(safe) if safe else None
    if moved_to is None or (previous is not None and moved_to.at <= previous):
        return None, [Problem(WATERMARK, (
            f"the server returned claims out of _lastUpdated order (it ignores _sort?): "
            f"{len(unprocessed)} claim(s) updated from {oldest.text} on were not reached "
            f"within --max-claims, older than claims that were, so the watermark cannot move "
            f"past them. Run without --max-claims (or with a larger one) to get past them"))]
    logger.warning("the server returned claims out of _lastUpdated order; the watermark moves "
                   "only to %s, before %d claim(s) not reached", moved_to.text, len(unprocessed))
    return moved_to, []


def run_sync(client: FhirClient, policy: Policy, mappings: Mappings, writeback: WriteBack,
             sinks: Sequence[Sink], state_path: Path, overlap: timedelta = DEFAULT_OVERLAP,
             max_claims: int | None = None, now: datetime | None = None) -> SyncOutcome:
    """One scheduled run under the lock; raises ``SyncStateError`` if another run holds it.

    ``sinks`` must hold ``writeback`` (in the order the caller wants the sinks to see pages).
    """
    if overlap < timedelta(0):  # the search would start after the watermark, skipping claims
        raise ValueError(f"the overlap before the watermark must not be negative: {overlap}")
    base = client.base_url
    started = now or datetime.now(UTC)
    with run_lock(state_path):
        before = SyncState.load(state_path)
        if before.server and before.server != base:
            raise SyncStateError(
                f"{state_path}: state belongs to {before.server}, not {base}; use another file")
        since = _since(before.watermark, overlap)
        selection = ClaimSelection(since=since, oldest_first=True)
        source = RecheckSource(client, selection, record_searches(mappings), since=since,
                               lookback_days=policy.thresholds.lab_lookback_days,
                               today=started.date())
        watermark = Watermark(keep_claims=max_claims is not None, now=started,
                              rechecked=source.rechecked)
        totals = Driver(source, policy, mappings, [*sinks, watermark],
                        max_claims=max_claims).run()
        problems = list(watermark.problems)
        if not watermark.in_order:
            logger.warning("the server did not return the claims oldest first (_sort="
                           "_lastUpdated ignored?)")
        newest = watermark.newest
        can_move = not totals.read_failures and writeback.all_landed and not writeback.dry_run
        cut_short = max_claims is not None and totals.claims >= max_claims
        if can_move and not problems and newest is not None and cut_short:
            placed = len(watermark.problems)
            newest, more = verified_newest(client, since, watermark, newest,
                                           instant(before.watermark))
            problems += watermark.problems[placed:] + more  # unplaceable unread claims, too
        after = before
        if can_move and not problems:
            previous = instant(before.watermark)
            moves = newest is not None and (previous is None or newest.at > previous)
            after = SyncState(
                watermark=newest.text if moves and newest else before.watermark,
                last_success=datetime.now(UTC).isoformat(timespec="seconds"),
                server=base,
            )
            after.save(state_path)
        return SyncOutcome(totals, before, after, tuple(problems))
