"""The one driver every mode goes through: pages of claims -> chart -> check -> sinks.

    source --claim pages--> read & scope --reads--> source --records--> Chart
           --check each claim--> PageOutcome --> every sink (report, files, write-back)

A source only yields resources: pages of claims, and the records a page needs (a file source
has one chart for every page, read first; a server source reads a page's records in one
batch, together with the searches the sinks ask for, such as write-back's earlier issues).
Checking mutates nothing; sinks consume the outcomes and never read each other's state. How
the records are read and the pages judged is the read plan's (``adapter.read_plan``): one
process in order, unless a mode hands in another (file exports: ``adapter.file_plan``). The
HTTP service runs the same ``Driver`` over a source holding the posted claims
(``adapter.sources.posted``); the Spark job judges with the same ``check_claim``.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from adapter.check import InScope, check_claims, problem, read_scoped, unbilled
from adapter.evidence.chart import Chart
from adapter.evidence.names import NAMED_TYPES
from adapter.evidence.needs import chart_types, line_tests
from adapter.fhir.errors import FhirAuthError, FhirError, FhirUnreachableError
from adapter.fhir.search import Query
from adapter.mappings import Mappings
from adapter.outcomes import ClaimOutcome, PageOutcome, Problem
from adapter.read_plan import SERIAL, Page, ReadPlan, take
from adapter.rules import Policy
from adapter.sources.base import Reads, Records, Source

T = TypeVar("T")

Resource = dict[str, Any]
# the error a claim gets when an earlier one had its id (Spark mode reports it too)
SECOND_CLAIM = "a second claim with this id: ids must be unique; it is not checked"


class Sink:
    """Consumes page outcomes; may ask for searches to be added to each page's batch."""

    # Resource types whose display names this sink shows (the chart keeps them, and each
    # claim's outcome carries those of its patient and providers); none by default.
    names: frozenset[str] = frozenset()
    # Whether each claim's outcome must carry the evidence the rules read (the audit page
    # shows it); without a sink that asks, it is dropped: it would only cost memory, and in
    # worker processes the pickling of every chart.
    evidence: bool = False

    def queries(self, claims: Sequence[str]) -> Mapping[str, Query]:
        """Searches this sink needs for a page holding ``claims`` (``Type/id``)."""
        return {}

    def write(self, page: PageOutcome) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """The run is over."""


@dataclass
class RunTotals:
    pages: int = 0
    claims: int = 0
    read_failures: int = 0  # searches or record reads the server failed


def build_chart(records: Records, mappings: Mappings, zone: ZoneInfo | None = None,
                names: frozenset[str] = frozenset()) -> tuple[Chart, list[Problem]]:
    chart = Chart(mappings, records.aliases, zone, names)  # live aliases: a lazy source adds
    chart.note_holders = records.notes_held
    problems: list[Problem] = []
    for item in records.resources:
        take(chart, problems, item)
    return finished(chart, problems)


def finished(chart: Chart, problems: list[Problem]) -> tuple[Chart, list[Problem]]:
    """The chart once every record is in, and every problem met reading them."""
    chart.finish()
    return chart, problems + [problem(p) for p in chart.problems]


class Driver:
    """Runs a source through the checks into sinks; see the module docstring."""

    def __init__(self, source: Source, policy: Policy, mappings: Mappings,
                 sinks: Sequence[Sink], *, max_claims: int | None = None,
                 plan: ReadPlan = SERIAL) -> None:
        self.source = source
        self.plan = plan
        self.policy = policy
        self.mappings = mappings
        self.sinks = sinks
        self.max_claims = max_claims
        self.totals = RunTotals()
        self._chart: tuple[Chart, list[Problem]] | None = None
        self._seen: set[str] = set()  # claims judged so far: a second one of an id is not
        self._names = frozenset().union(*(sink.names for sink in sinks))
        self._evidence = any(sink.evidence for sink in sinks)

    def run(self) -> RunTotals:
        with _fewer_collections():
            if self.source.one_chart:
                self._chart = _uncollected(self._one_chart)
                if self.policy.payers.active:
                    self._bill_history(self._chart[0])
                if self._chart[1]:
                    self._emit(PageOutcome((), problems=tuple(self._chart[1])))
            try:
                for outcome in self.plan.judged(self._pages, self._check):
                    self._count(outcome)
                    self._emit(self._once_each(outcome))
            except (FhirAuthError, FhirUnreachableError):  # nothing more would get through
                raise
            except FhirError as exc:  # the claim search itself failed: stop here
                self.totals.read_failures += 1
                self._emit(PageOutcome((), problems=(Problem("Claim search", str(exc)),),
                                       complete=False))
        for sink in self.sinks:
            sink.close()
        return self.totals

    def _one_chart(self) -> tuple[Chart, list[Problem]]:
        wanted = self.plan.wanted()
        note_patients = self.plan.note_patients()  # after ``wanted``: the same pre-scan
        reads = Reads(types=chart_types() | (self._names & NAMED_TYPES),
                      lines=line_tests(self.mappings, note_patients, wanted))
        records = self.source.records(reads)
        chart = Chart(self.mappings, records.aliases, self.policy.zone, self._names)
        chart.wanted = wanted
        chart.note_patients = note_patients
        return finished(chart, self.plan.read_chart(records, reads, chart))

    def _links(self, claim: InScope) -> frozenset[str]:
        """What a claim points at that its page's batch must hold: its evidence, and when
        payer policies are configured its insurer and focal Coverage."""
        facts = claim.facts
        if not self.policy.payers.active:
            return facts.referenced
        payer = facts.payer
        more = {ref for ref in (payer.coverage, payer.insurer.ref if payer.insurer else None)
                if ref}
        return facts.referenced | more

    def _bill_history(self, chart: Chart) -> None:
        """Note in the chart the dates every claim of the source in scope bills B12 on: a
        payer's frequency limit counts the patient's other claims (SPEC 4.4). The read plan says
        how they are read (a file export: only the claim lines that may bill B12); whatever
        cannot be read is named by the claim pass proper, not here."""
        for item in self.plan.history_claims(self.source.claim_pages):
            scoped = read_scoped(item, self.policy)
            if isinstance(scoped, InScope):
                facts = scoped.facts
                chart.bill(facts.ref, facts.patient, facts.b12_dates)

    def _pages(self) -> Iterator[Page]:
        """The source's claim pages, cut at ``max_claims``."""
        claims = 0
        for page in self.plan.claim_pages(self.source):
            if self.max_claims is not None:
                page = page[: max(0, self.max_claims - claims)]
                if not page:
                    return
            claims += sum(1 for item in page if not isinstance(item, Problem))
            yield page
            if self.max_claims is not None and claims >= self.max_claims:
                return  # not a request more: the next page would be cut to nothing

    def _count(self, outcome: PageOutcome) -> None:
        self.totals.pages += 1
        self.totals.claims += len(outcome.claims)

    def _once_each(self, page: PageOutcome) -> PageOutcome:
        """Two claims with one id would be judged, and written back, as one: the second is
        an error, not a second verdict under the same identifier."""
        outcomes = []
        for outcome in page.claims:
            ref = outcome.claim
            if ref in self._seen:
                outcome = ClaimOutcome(ref, outcome.last_updated,
                                       problems=(Problem(ref, SECOND_CLAIM),))
            elif not ref.endswith("/(no id)"):
                self._seen.add(ref)
            outcomes.append(outcome)
        return replace(page, claims=tuple(outcomes))

    def _emit(self, page: PageOutcome) -> None:
        for sink in self.sinks:
            sink.write(page)

    def _check(self, page: Page) -> PageOutcome:
        unreadable = [item for item in page if isinstance(item, Problem)]
        pending = [read_scoped(item, self.policy) if type(item) is dict else unbilled(item)
                   for item in page if not isinstance(item, Problem)]
        refs = [p.facts.ref if isinstance(p, InScope) else p.claim for p in pending]
        queries = {name: query for sink in self.sinks
                   for name, query in sink.queries(refs).items()}
        scoped = [p for p in pending if isinstance(p, InScope)]
        if self._chart is not None:
            (chart, _), problems, found = self._chart, [], {}
        elif scoped or queries:
            reads = Reads(
                patients=tuple(sorted({p.facts.patient for p in scoped})),
                links=tuple(sorted({ref for p in scoped for ref in self._links(p)})),
                queries=queries,
                dates=tuple(sorted({d.isoformat() for p in scoped for d in p.facts.b12_dates})),
            )
            try:
                records = self.source.records(reads)
                chart, problems = build_chart(records, self.mappings, self.policy.zone,
                                              self._names)
            except (FhirAuthError, FhirUnreachableError):  # nothing more would get through
                raise
            except FhirError as exc:
                self.totals.read_failures += 1
                return _unread(pending, unreadable, exc)
            found = records.found
        else:
            chart, problems, found = Chart(self.mappings), [], {}
        if self._chart is None and self.policy.payers.active:
            for p in scoped:  # the page's claims are the patients' billed history here
                chart.bill(p.facts.ref, p.facts.patient, p.facts.b12_dates)
        policy = self.policy
        notes: tuple[str, ...] = ()
        if self._chart is None and (scoped or queries):
            notes = records.run_notes
            if records.notes_unread and policy.notes_required:
                # no note could be read: none may be said missing (SPEC 4.2 note-missing)
                policy = replace(policy, notes_required=False)
        judged = iter(check_claims(scoped, chart, policy, evidence=self._evidence))
        outcomes = tuple(next(judged) if isinstance(p, InScope) else p for p in pending)
        return PageOutcome(outcomes, tuple(unreadable + problems), found, notes=notes)


def _unread(pending: list[InScope | ClaimOutcome], unreadable: list[Problem],
            exc: FhirError) -> PageOutcome:
    """A page whose records could not be read: no claim on it is judged."""
    outcomes = tuple(
        ClaimOutcome(p.facts.ref, problems=(
            Problem(p.facts.ref, f"evidence could not be read: {exc}"),))
        if isinstance(p, InScope) else p
        for p in pending
    )
    return PageOutcome(outcomes, tuple(unreadable), complete=False)


def _uncollected(build: Callable[[], T]) -> T:
    """``build()`` with the cyclic collector off, then what it built frozen out of every later
    collection: a chart is millions of small acyclic objects that live to the end of the run,
    which each full collection would otherwise scan again (5-10% of an all-B12 run). Nothing
    is collected first: one pass over the whole chart cost 4% of that run, for the few
    cycles reading leaves (they are collectable again when the run unfreezes, at its end)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        built = build()
    finally:
        if enabled:
            gc.enable()
    gc.freeze()
    return built


@contextmanager
def _fewer_collections(young: int = 50_000) -> Iterator[None]:
    """Run the cyclic garbage collector less often while a bulk run allocates millions of small
    objects that live to the end (facts, results) and are never garbage: with the default
    threshold it rescans them ~2,000 times per 100k claims, about 8% of the run. At the end
    what ``_uncollected`` froze is collectable again (a process may run many checks)."""
    threshold = gc.get_threshold()
    gc.set_threshold(max(young, threshold[0]), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
