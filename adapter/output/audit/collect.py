"""The audit sink: what the audit page shows, gathered from the run's outcomes.

Aggregates are counters (verdicts, findings by code, by month, by rendering provider and by
facility, patterns), so memory stays flat in the number of claims; the sample keeps, per
rendering provider, only the last N claims by service date (a bounded heap), with their
evidence. Rows are built at the end, when every name is known.

Providers come from ``ClaimRecord.providers`` (Claim.provider, careTeam[].provider,
facility): the rendering provider is the first Practitioner (or PractitionerRole), else the
first reference that is not a Location; the facility is the first Location.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TypeVar

from adapter.driver import Sink
from adapter.evidence.facts import ClaimEvidence, ConditionFact, LabFact, Linked, Path
from adapter.evidence.names import NAME_PARTS, parts_key
from adapter.findings import Finding, Severity, Verdict
from adapter.outcomes import ClaimOutcome, ClaimResult, PageOutcome, Problem
from adapter.output.audit.patterns import code_pair, pattern_label
from adapter.rules import Policy, status
from adapter.rules.labs import may_be_between
from adapter.terminology import icd10cm

PROVIDER_TYPES = frozenset({"Practitioner", "Organization", "Location"})
PEOPLE = ("Practitioner", "PractitionerRole")
VERDICTS = (Verdict.UNSUPPORTED, Verdict.REVIEW, Verdict.SUPPORTED)  # worst first
VERDICT_RANK = {Verdict.UNSUPPORTED: 2, Verdict.REVIEW: 1, Verdict.SUPPORTED: 0}
LAB_ORDER = ("b12", "mma", "homocysteine", "hemoglobin")
LAB_LABELS = {"b12": "B12", "mma": "MMA", "homocysteine": "Homocysteine",
              "hemoglobin": "Hemoglobin"}
CATEGORY_WORDS = {"problem-list-item": "problem list", "encounter-diagnosis": "encounter diagnosis",
                  "health-concern": "health concern"}
NO_PROVIDER = "(no provider on the claim)"
NO_FACILITY = "(no facility on the claim)"
NO_POLICY = "(no payer policy)"
MAX_ERRORS_SHOWN = 100
MAX_SKIPPED_SHOWN = 100
MAX_ASSESSMENTS = 3
NAME_MASK = "[name]"  # a patient's own name in a quote, without --show-names
K = TypeVar("K")


@dataclass(frozen=True)
class Period:
    """Service dates from ``start`` to ``end``, both included; None: open on that side."""

    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"--from {self.start} is after --to {self.end}")

    def __contains__(self, day: date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)

    def describe(self) -> str:
        if self.start is None and self.end is None:
            return "every service date read"
        if self.start and self.end:
            return f"{self.start.isoformat()} to {self.end.isoformat()}"
        return f"from {self.start.isoformat()}" if self.start else f"up to {self.end.isoformat()}"


@dataclass
class Tally:
    """Claims, their verdicts, and the claims with each finding code."""

    claims: int = 0
    verdicts: Counter[Verdict] = field(default_factory=Counter)
    findings: Counter[str] = field(default_factory=Counter)

    def add(self, result: ClaimResult) -> None:
        self.claims += 1
        self.verdicts[result.verdict] += 1
        self.findings.update({f.code for f in result.findings})

    @property
    def flagged(self) -> int:
        """Claims that need a change: review or unsupported."""
        return self.verdicts[Verdict.UNSUPPORTED] + self.verdicts[Verdict.REVIEW]

    def share(self, verdict: Verdict) -> float:
        return self.verdicts[verdict] / self.claims if self.claims else 0.0


@dataclass(frozen=True)
class Party:
    """A provider or facility: its reference (None: the claim names none) and its label."""

    ref: str | None
    label: str


@dataclass(frozen=True)
class PatternCount:
    label: str
    claims: int
    pairs: tuple[tuple[str, int], ...]  # "E53.8 -> D51.0" and how many claims
    codes: tuple[str, ...]  # the finding codes behind it
    examples: tuple[str, ...]  # a few claims that show it


@dataclass(frozen=True)
class BilledCode:
    code: str
    title: str


@dataclass(frozen=True)
class Assessment:
    """The documenting Condition: the clinician's words, where they were written, when."""

    ref: str
    text: str  # as written; else the titles of its codes (``written`` False)
    written: bool
    codes: tuple[str, ...]
    categories: tuple[str, ...]
    day: date | None
    day_kind: str  # "recorded" or "onset"
    status: str  # "" when active and confirmed; else e.g. "provisional", "resolved"
    linked: bool


@dataclass(frozen=True)
class NoteLine:
    """A sentence of the day's note (SPEC 4.2), the mention apart so the page can mark it;
    a note with no mention, or one that cannot be read, has a line saying so (``mention``
    empty)."""

    note: str  # DocumentReference/x
    kind: str  # the note's type
    day: date | None
    before: str
    mention: str
    after: str
    context: str  # affirmed, negated, historical, uncertain, family, hypothetical; "" none
    code: str  # what the mention says (an ICD-10-CM code, "symptom", "loading")

    @property
    def text(self) -> str:
        return f"{self.before}{self.mention}{self.after}"


@dataclass(frozen=True)
class LabLine:
    ref: str
    kind: str
    value: str
    unit: str
    day: date
    flag: str  # "low", "high" or ""


@dataclass(frozen=True)
class Change:
    severity: str
    code: str
    message: str
    suggested: str | None
    day: date | None

    @property
    def weight(self) -> int:
        """For sorting by what to change: one high outweighs any number of moderate ones."""
        return 100 ** Severity(self.severity).rank


@dataclass(frozen=True)
class SampleRow:
    claim: str
    patient: str
    dates: tuple[date, ...]
    billed: tuple[BilledCode, ...]
    lines: str  # the B12 lines: "J3420 x1"
    provider: str
    facility: str
    assessments: tuple[Assessment, ...]
    labs: tuple[LabLine, ...]
    verdict: Verdict
    changes: tuple[Change, ...]
    # With ``show_names`` only: the patient's name and birth date, shown beside the reference.
    patient_name: str = ""
    birth_date: date | None = None
    policy: str = ""  # the payer policy the claim was judged by (its name), "" for none
    notes: tuple[NoteLine, ...] = ()  # the day's note: the assessment line when there is one

    @property
    def service_date(self) -> date:
        return self.dates[0]


@dataclass(frozen=True)
class SkippedClaim:
    """A claim read but not checked, and why (e.g. "no B12 injection item")."""

    claim: str
    reason: str


@dataclass(frozen=True)
class ProviderSample:
    provider: Party
    claims: int  # the provider's claims in the period
    rows: tuple[SampleRow, ...]  # the last N, worst first


@dataclass
class Audit:
    """Everything the page shows."""

    period: Period
    sample_size: int
    show_names: bool
    total: Tally
    months: list[tuple[str, Tally]]
    providers: list[tuple[Party, Tally]]
    facilities: list[tuple[Party, Tally]]
    patterns: list[PatternCount]
    sample: list[ProviderSample]
    skipped: int
    outside: int  # claims checked whose service date is outside the period
    errors: list[Problem]
    error_count: int
    # Claims by the payer policy they were judged by (SPEC 4.4); ref: the policy id
    policies: list[tuple[Party, Tally]] = field(default_factory=list)
    skipped_claims: list[SkippedClaim] = field(default_factory=list)  # the first few


def rendering_provider(providers: Iterable[str]) -> str | None:
    providers = tuple(providers)
    people = [p for p in providers if p.split("/", 1)[0] in PEOPLE]
    others = [p for p in providers if not p.startswith("Location/")]
    return (people or others or [None])[0]


def facility_of(providers: Iterable[str]) -> str | None:
    return next((p for p in providers if p.startswith("Location/")), None)


@dataclass(order=True)
class _Kept:
    """A claim held for the sample: ordered by service date, then reference (newest last)."""

    day: date
    claim: str
    outcome: ClaimOutcome = field(compare=False)


class AuditSink(Sink):
    """Collects the audit (see the module docstring); ``audit()`` gives it when the run ends."""

    def __init__(self, policy: Policy, *, period: Period | None = None, sample_size: int = 10,
                 show_names: bool = False) -> None:
        if sample_size < 1:
            raise ValueError(f"--sample must be at least 1, not {sample_size}")
        self.policy = policy
        self.period = period or Period()
        self.sample_size = sample_size
        self.show_names = show_names
        # The chart keeps provider names; patient names only when they are to be shown, else
        # the words of each patient's name, to mask them in the quotes (never shown).
        self.names = PROVIDER_TYPES | ({"Patient"} if show_names else {NAME_PARTS})
        self.evidence = True  # the sample's rows show the labs and Conditions read
        self.total = Tally()
        self.months: dict[str, Tally] = {}
        self.providers: dict[str | None, Tally] = {}
        self.facilities: dict[str | None, Tally] = {}
        self.policies: dict[str | None, Tally] = {}
        self.patterns: dict[str, _PatternTally] = {}
        self.kept: dict[str | None, list[_Kept]] = {}
        self.party_names: dict[str, str] = {}
        self.skipped = self.outside = self.error_count = 0
        self.errors: list[Problem] = []
        self.skipped_claims: list[SkippedClaim] = []

    # --- the sink --------------------------------------------------------------------------

    def write(self, page: PageOutcome) -> None:
        self._problems(page.problems)
        for outcome in page.claims:
            self._problems(outcome.problems)
            if outcome.skipped is not None:
                self.skipped += 1
                if len(self.skipped_claims) < MAX_SKIPPED_SHOWN:
                    self.skipped_claims.append(SkippedClaim(outcome.claim, outcome.skipped))
            if outcome.result is not None:
                self._claim(outcome, outcome.result)

    def _problems(self, problems: Iterable[Problem]) -> None:
        for p in problems:
            self.error_count += 1
            if len(self.errors) < MAX_ERRORS_SHOWN:
                self.errors.append(p)

    def _claim(self, outcome: ClaimOutcome, result: ClaimResult) -> None:
        if result.service_date not in self.period:
            self.outside += 1
            return
        providers = outcome.evidence.claim.providers if outcome.evidence else ()
        provider, facility = rendering_provider(providers), facility_of(providers)
        self.party_names.update((ref, name) for ref, name in outcome.names.items()
                                if ref in providers)
        self.total.add(result)
        _tally(self.months, result.service_date.strftime("%Y-%m")).add(result)
        _tally(self.providers, provider).add(result)
        _tally(self.facilities, facility).add(result)
        _tally(self.policies, result.policy).add(result)
        for label, findings in _by_pattern(result.findings).items():
            if label not in self.patterns:
                self.patterns[label] = _PatternTally()
            self.patterns[label].add(result.claim, findings)
        if outcome.evidence is None:  # nothing to show beside the codes: counted, not sampled
            return
        kept = self.kept.setdefault(provider, [])
        entry = _Kept(result.service_date, result.claim, outcome)
        if len(kept) < self.sample_size:
            heapq.heappush(kept, entry)
        elif kept[0] < entry:
            heapq.heapreplace(kept, entry)

    # --- the result ------------------------------------------------------------------------

    def provider_refs(self) -> set[str]:
        """Every provider and facility reference met, for a source that names them later."""
        return {ref for ref in (*self.providers, *self.facilities) if ref}

    def audit(self, more_names: Mapping[str, str] | None = None) -> Audit:
        """The audit of everything written so far; ``more_names`` names providers the
        chart did not (read from a server at the end)."""
        names = {**(more_names or {}), **self.party_names}

        def party(ref: str | None, none: str) -> Party:
            return Party(ref, names.get(ref, ref) if ref else none)

        providers = sorted(((party(ref, NO_PROVIDER), t) for ref, t in self.providers.items()),
                           key=_worst_party)
        facilities = sorted(((party(ref, NO_FACILITY), t) for ref, t in self.facilities.items()),
                            key=_worst_party)
        known = self.policy.payers.policies
        policies = sorted(((Party(pid, known[pid].name if pid in known else pid)
                            if pid else Party(None, NO_POLICY), t)
                           for pid, t in self.policies.items()), key=_worst_party)
        sample = [
            ProviderSample(who, tally.claims, tuple(sorted(
                (self._row(k.outcome, names) for k in self.kept.get(who.ref, ())),
                key=worst_first)))
            for who, tally in providers
        ]
        patterns = sorted((p.result(label) for label, p in self.patterns.items()),
                          key=lambda p: (-p.claims, p.label))
        return Audit(
            period=self.period, sample_size=self.sample_size, show_names=self.show_names,
            total=self.total, months=sorted(self.months.items()), providers=providers,
            facilities=facilities, patterns=patterns, sample=sample, skipped=self.skipped,
            outside=self.outside, errors=list(self.errors), error_count=self.error_count,
            policies=policies,
            skipped_claims=list(self.skipped_claims),
        )

    def _row(self, outcome: ClaimOutcome, names: Mapping[str, str]) -> SampleRow:
        result = outcome.result
        assert result is not None and outcome.evidence is not None
        ev = outcome.evidence
        providers = ev.claim.providers
        provider, facility = rendering_provider(providers), facility_of(providers)
        name = outcome.names.get(result.patient, "") if self.show_names else ""
        born = ev.patient.birth_date if self.show_names and ev.patient else None
        mask = (name_mask("") if self.show_names
                else name_mask(outcome.names.get(parts_key(result.patient), "")))
        return SampleRow(
            claim=result.claim,
            patient=result.patient,
            dates=ev.claim.b12_dates or (result.service_date,),
            billed=tuple(BilledCode(d.written or "?", icd10cm.title(d.code) if d.code else "")
                         for d in ev.claim.diagnoses),
            lines=_lines(ev),
            provider=names.get(provider, provider) if provider else NO_PROVIDER,
            facility=names.get(facility, facility) if facility else NO_FACILITY,
            assessments=tuple(replace(a, text=mask(a.text)) if a.written else a
                              for a in assessments(ev, result.findings, self.policy)),
            labs=labs(ev, self.policy),
            verdict=result.verdict,
            changes=tuple(Change(f.severity.value, f.code, f.message, f.suggested_code, f.day)
                          for f in sorted(result.findings,
                                          key=lambda f: (-f.severity.rank, f.code))),
            patient_name=name,
            birth_date=born,
            policy=self._policy_name(result.policy),
            notes=tuple(replace(n, before=mask(n.before), mention=mask(n.mention),
                                after=mask(n.after))
                        for n in note_lines(ev, self.policy)),
        )

    def _policy_name(self, pid: str | None) -> str:
        known = self.policy.payers.policies
        return (known[pid].name if pid in known else pid) if pid else ""


def name_mask(parts: str) -> Callable[[str], str]:
    """What masks the words of a patient's name (``parts``: space-separated, as the chart
    keeps them) in a quote: each as a whole word, in any case, becomes ``NAME_MASK``; a
    hyphenated or apostrophed name's pieces too. Words under two letters are left alone."""
    words = {piece for word in parts.split() for piece in (word, *re.split(r"[-'\u2019]", word))
             if len(piece) >= 2}
    if not words:
        return lambda text: text
    found = re.compile(r"(?<!\w)(?:" + "|".join(
        re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")(?!\w)", re.I)
    return lambda text: found.sub(NAME_MASK, text)


def worst_first(row: SampleRow) -> tuple:
    """Unsupported before review before supported; then the most serious findings (more of
    them first); then the most recent."""
    ranks = sorted((Severity(c.severity).rank for c in row.changes), reverse=True)
    return (-VERDICT_RANK[row.verdict], [-r for r in ranks] + [0],
            -row.service_date.toordinal(), row.claim)


def _tally(tallies: dict[K, Tally], key: K) -> Tally:
    found = tallies.get(key)
    if found is None:
        found = tallies[key] = Tally()
    return found


def _worst_party(item: tuple[Party, Tally]) -> tuple:
    who, t = item
    return (-t.verdicts[Verdict.UNSUPPORTED], -t.verdicts[Verdict.REVIEW], -t.claims,
            who.ref is None, who.label)


@dataclass
class _PatternTally:
    claims: int = 0
    pairs: Counter[str] = field(default_factory=Counter)
    codes: set[str] = field(default_factory=set)
    examples: list[str] = field(default_factory=list)

    def add(self, claim: str, findings: list[Finding]) -> None:
        self.claims += 1
        self.pairs.update({pair for f in findings if (pair := code_pair(f))})
        self.codes.update(f.code for f in findings)
        if len(self.examples) < 3:
            self.examples.append(claim)

    def result(self, label: str) -> PatternCount:
        return PatternCount(label, self.claims, tuple(sorted(self.pairs.items(),
                                                             key=lambda p: (-p[1], p[0]))),
                            tuple(sorted(self.codes)), tuple(self.examples))


def _by_pattern(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    grouped: dict[str, list[Finding]] = {}
    for f in findings:
        grouped.setdefault(pattern_label(f), []).append(f)
    return grouped


def _lines(ev: ClaimEvidence) -> str:
    """The B12 lines billed: "J3420 x1", with their dates when there are several."""
    several = len(ev.claim.b12_dates) > 1
    parts = []
    for item in ev.claim.b12_items:
        what = "J3420" if item.is_j3420 else "B12 drug"
        units = f" \u00d7{item.units:g}" if item.units is not None else " (no units)"
        when = f" on {ev.claim.item_date(item).isoformat()}" if several else ""
        parts.append(what + units + when)
    return "; ".join(parts)


def assessments(ev: ClaimEvidence, findings: Iterable[Finding],
                policy: Policy) -> tuple[Assessment, ...]:
    """The Conditions behind the billed codes: those documenting a billed code or a B12
    indication; the day's assessment first, then those the findings cite, then those the
    claim links, then the most recent."""
    billed = {d.code for d in ev.claim.diagnoses if d.code}
    cited = {ref for f in findings for ref in f.evidence}
    day = ev.claim.service_date
    relevant = [c for c in ev.conditions if status.counts(c.fact)
                and any(code in billed or policy.is_indication(code) for code in c.fact.codes)]

    def order(c: Linked[ConditionFact]) -> tuple:
        fact = c.fact
        today = policy.of_the_day(fact, ev.claim)
        when = _day_of(fact)
        return (not today, fact.ref not in cited, c.path is not Path.LINKED,
                -(when.toordinal() if when else 0), fact.ref)

    return tuple(_assessment(c, day) for c in sorted(relevant, key=order)[:MAX_ASSESSMENTS])


MAX_NOTE_LINES = 3


def note_lines(ev: ClaimEvidence, policy: Policy) -> tuple[NoteLine, ...]:
    """The day's note as the assessment line: its sentences that mention a B12 diagnosis
    first, then causes and manifestations, then symptoms; a note that mentions none, or
    cannot be read, says so. Empty when the B12 dates have no note (the Conditions show)."""
    lines: list[tuple[tuple[int, int], NoteLine]] = []
    for day_notes in ev.notes.days:
        for note in day_notes.notes:
            if not note.readable:
                lines.append(((3, 0), NoteLine(note.note, note.kind, note.day, "",
                                               "", f"cannot be read: {note.problem}", "",
                                               "")))
                continue
            if not note.mentions:
                lines.append(((3, 0), NoteLine(note.note, note.kind, note.day,
                                               "No B12 diagnosis, cause or symptom is "
                                               "mentioned in the note's assessment", "", "",
                                               "", "")))
            for n, mention in enumerate(note.mentions):
                rank = (0 if mention.code in policy.codes.ladder else
                        1 if mention.code not in ("symptom", "loading") else 2)
                before, _, rest = mention.sentence.partition("[[")
                said, _, after = rest.partition("]]")
                lines.append(((rank, n), NoteLine(note.note, note.kind, note.day, before,
                                                  said, after, mention.context, mention.code)))
    return tuple(line for _, line in sorted(lines, key=lambda x: x[0])[:MAX_NOTE_LINES])


def _day_of(fact: ConditionFact) -> date | None:
    return fact.recorded or fact.onset


def _assessment(c: Linked[ConditionFact], day: date) -> Assessment:
    fact = c.fact
    notes = []
    if not status.confirmed(fact):
        notes.append(fact.verification_status or "unconfirmed")
    if not status.current_at(fact, day):
        notes.append(f"not current on {day.isoformat()}"
                     + (f" ({fact.clinical_status})" if fact.clinical_status else ""))
    codes = sorted(fact.codes)
    return Assessment(
        ref=fact.ref,
        text=fact.text or "; ".join(icd10cm.title(code) or code for code in codes),
        written=bool(fact.text),
        codes=tuple(codes),
        categories=tuple(CATEGORY_WORDS.get(c, c) for c in sorted(fact.categories)),
        day=_day_of(fact),
        day_kind="recorded" if fact.recorded else "onset",
        status="; ".join(notes),
        linked=c.path is Path.LINKED,
    )


def labs(ev: ClaimEvidence, policy: Policy) -> tuple[LabLine, ...]:
    """The latest usable result of each kind the rules read, on or before the last B12
    date: B12-status labs within the lookback window, hemoglobin within its window if any."""
    last = max(ev.claim.b12_dates or (ev.claim.service_date,))
    t = policy.thresholds
    since = {kind: last - timedelta(days=t.lab_lookback_days)
             for kind in ("b12", "mma", "homocysteine")}
    if t.hemoglobin_window_days is not None:
        since["hemoglobin"] = last - timedelta(days=t.hemoglobin_window_days)
    latest: dict[str, LabFact] = {}
    for linked in ev.labs:
        lab = linked.fact
        if not status.usable(lab) or not may_be_between(lab, since.get(lab.kind), last):
            continue
        if lab.kind not in latest or lab.effective > latest[lab.kind].effective:
            latest[lab.kind] = lab
    kinds = sorted(latest, key=lambda k: (LAB_ORDER.index(k) if k in LAB_ORDER else 99, k))
    return tuple(_lab_line(latest[k], ev, policy) for k in kinds)


def _lab_line(lab: LabFact, ev: ClaimEvidence, policy: Policy) -> LabLine:
    kind = policy.lab_kinds.get(lab.kind)
    if lab.kind == "hemoglobin":  # as anemia-not-supported judges it
        flag = "low" if policy.hemoglobin_low(lab, ev.patient) else ""
    else:
        flag = (kind.abnormal_when if kind else "") if kind and policy.is_abnormal(lab) else ""
    if lab.value is None:
        value = ", ".join(sorted(lab.interpretation)) or "no value"
    else:
        value = f"{lab.comparator or ''}{lab.value:.4g}"
    return LabLine(lab.ref, LAB_LABELS.get(lab.kind, lab.kind), value,
                   kind.unit if kind and lab.value is not None else "", lab.effective, flag)
