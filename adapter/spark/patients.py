"""Reduce side: one patient's rows -> the core's checks -> output rows.

A partition arrives sorted by patient, then chart before claims: the patient's facts, the
resources their claims and facts link to (which may be another patient's: the checks report
that, as in every mode), then the claims. The chart is built from the first (and finished,
as file mode finishes it, before the first claim), and each claim is judged against it by
``adapter.check`` as it streams past, so a task holds one patient's facts (never their
resources) and one claim at a time, however large the partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import groupby
from operator import itemgetter

from adapter.check import InScope, check_claim, read_scoped
from adapter.evidence.chart import Chart
from adapter.notes.documents import NOTE_TYPES
from adapter.outcomes import ClaimOutcome
from adapter.spark.records import (
    Judge,
    Output,
    RunSpec,
    chart,
    judge,
    loads,
    outcome_outputs,
    problem_output,
)

# order within a patient: what the chart holds first, the claims last; HISTORY: a claim not
# judged here (a later one of an id) whose B12 dates still count in the injection history
OWN, LINKED, KNOWN_REF, CLAIM, HISTORY = 0, 1, 2, 3, 4
# (patient key, order, ref, JSON text, JSON text of the Medication a use names)
GroupRow = tuple[str, int, str, str | None, str | None]


def check_partition(rows: Iterable[GroupRow], spec: RunSpec) -> Iterator[Output]:
    """Every claim of every patient in a partition sorted by (key, order)."""
    for _, group in groupby(rows, key=itemgetter(0)):
        yield from check_patient(group, spec)


def check_patient(rows: Iterable[GroupRow], spec: RunSpec) -> Iterator[Output]:
    """One patient's claims against their chart. With payer policies configured, the claims
    are held until the last so that each is judged with the patient's whole injection history
    (every B12 claim of theirs, as file mode bills the chart before judging); else each is
    judged as it streams past."""
    run = judge(spec)
    patient = chart(run)
    finished = False
    history = run.policy.payers.active
    held: list[InScope | ClaimOutcome] = []
    for _, order, ref, text, drug in rows:
        if order >= CLAIM:
            if not finished:  # every Medication is read: judge the uses that name one
                patient.finish()
                finished = True
                # a note's defects (reading it, its Binary) are named here, once, as file
                # mode names those of the notes of its claims' patients; problems reading
                # any other chart resource were reported on the map side, once
                for bad in patient.problems:
                    if bad.ref.partition("/")[0] in NOTE_TYPES:
                        yield problem_output(bad.ref, bad.problem)
                patient.problems.clear()
            scoped = read_scoped(loads(text or "{}"), run.policy)
            if history:
                if isinstance(scoped, InScope):
                    facts = scoped.facts
                    patient.bill(facts.ref, facts.patient, facts.b12_dates)
                if order == CLAIM:
                    held.append(scoped)
            elif order == CLAIM:
                yield from _judged(scoped, patient, run)
        elif order == KNOWN_REF:
            patient.known.add(ref)  # exists in the source, gives no fact (another lab, drug)
        else:
            if drug is not None:
                patient.add(loads(drug))
            patient.add(loads(text or "{}"))
    for scoped in held:
        yield from _judged(scoped, patient, run)


def _judged(scoped: InScope | ClaimOutcome, patient: Chart, run: Judge) -> Iterator[Output]:
    patient.problems.clear()  # each claim's own problems come with its outcome
    outcome = check_claim(scoped, patient, run.policy, evidence=False) \
        if isinstance(scoped, InScope) else scoped  # no sink here shows the evidence
    yield from outcome_outputs(outcome, run.identified)
