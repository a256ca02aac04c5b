"""The barest pure-Python checker of the all-B12 mix: how low a whole run can go, for issue 24.

    python -m bench.bare [--source DIR] [--repeat 3]

Not the product and not a design: a lower bound. It does what any checker of this mix must do
and nothing more. It parses every line of the files the chart reads (the labs only where a
mapped LOINC code is in the line), makes one slotted object per record of the fields the rules
read, and indexes them by patient. It reads each claim's diagnoses, lines and links, and keeps
the claims that bill J3420. For each, it takes its patient's facts and runs 21 small checks,
each a pass over one list of them, then writes one JSON report.

It validates nothing: no field's type, no status, code system, unit or date checked, and no
error that names a resource. It has no code sets by date, no notes, no evidence paths, no
payers, no outcomes. Beside the floor (``json.loads`` of every line, the issue's yardstick,
timed in the same process), its ratio says how much of a goal is left for the checks the
product makes. A test holds that it judges the claims ``check`` judges, so the bound is of
the same work.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from adapter.mappings import load_mappings
from bench.mixes import all_b12

LABS = frozenset(load_mappings().labs_by_loinc)  # the product's lab codes (mappings/labs.json)
LAB_WORDS = tuple(code.encode() for code in sorted(LABS))
B12_CODES = {"E538", "D510", "D511", "D512", "D513", "D518", "D519", "D520", "K900", "K909"}


@lru_cache(maxsize=8192)
def _day(text: str) -> date:
    return date.fromisoformat(text[:10])


def _maybe_day(value: Any) -> date | None:
    return _day(value) if isinstance(value, str) else None


def _codes(concept: Any) -> list[tuple[str | None, str | None]]:
    if not concept:
        return []
    return [(c.get("system"), c.get("code")) for c in concept.get("coding", ())]


def _first(concept: Any) -> str | None:
    pairs = _codes(concept)
    return pairs[0][1] if pairs else None


def _ref(value: Any) -> str | None:
    return value.get("reference") if value else None


@dataclass(slots=True)
class Condition:
    ref: str
    patient: str | None
    codes: frozenset[str]
    clinical: str | None
    verification: str | None
    onset: date | None
    abatement: date | None
    recorded: date | None
    categories: frozenset[str]
    encounter: str | None
    evidence: tuple[str, ...]


@dataclass(slots=True)
class Lab:
    ref: str
    patient: str | None
    status: str | None
    loinc: str
    value: float | None
    unit: str | None
    interpretation: frozenset[str]
    effective: date | None


@dataclass(slots=True)
class Administration:
    ref: str
    patient: str | None
    status: str | None
    day: date | None
    dose: float | None
    unit: str | None
    route: str | None
    medication: str | None
    context: str | None
    reasons: tuple[str, ...]


@dataclass(slots=True)
class Patient:
    ref: str
    gender: str | None
    birth: date | None


@dataclass(slots=True)
class Item:
    sequence: int
    products: tuple[str | None, ...]
    day: date | None
    units: float | None
    diagnoses: tuple[int, ...]
    encounters: tuple[str | None, ...]


@dataclass(slots=True)
class Claim:
    ref: str
    patient: str | None
    status: str | None
    use: str | None
    created: date | None
    diagnoses: tuple[tuple[int, str | None], ...]
    items: tuple[Item, ...]
    supporting: tuple[str | None, ...]


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from (line for line in handle if line.strip())


def _condition(r: dict[str, Any]) -> Condition:
    return Condition(
        f"Condition/{r['id']}", _ref(r.get("subject")),
        frozenset((code or "").replace(".", "") for _, code in _codes(r.get("code"))),
        _first(r.get("clinicalStatus")), _first(r.get("verificationStatus")),
        _maybe_day(r.get("onsetDateTime")), _maybe_day(r.get("abatementDateTime")),
        _maybe_day(r.get("recordedDate")),
        frozenset(code for cat in r.get("category", ()) for _, code in _codes(cat) if code),
        _ref(r.get("encounter")),
        tuple(_ref(d) or "" for e in r.get("evidence", ()) for d in e.get("detail", ())))


def _lab(r: dict[str, Any]) -> Lab | None:
    loinc = next((c for _, c in _codes(r.get("code")) if c in LABS), None)
    if loinc is None:
        return None
    quantity = r.get("valueQuantity") or {}
    return Lab(f"Observation/{r['id']}", _ref(r.get("subject")), r.get("status"), loinc,
               quantity.get("value"), quantity.get("code") or quantity.get("unit"),
               frozenset(c or "" for i in r.get("interpretation", ()) for _, c in _codes(i)),
               _maybe_day(r.get("effectiveDateTime")))


def _administration(r: dict[str, Any]) -> Administration:
    dosage = r.get("dosage") or {}
    dose = dosage.get("dose") or {}
    return Administration(
        f"MedicationAdministration/{r['id']}", _ref(r.get("subject")), r.get("status"),
        _maybe_day(r.get("effectiveDateTime")), dose.get("value"), dose.get("unit"),
        _first(dosage.get("route")), _first(r.get("medicationCodeableConcept")),
        _ref(r.get("context")), tuple(_ref(x) or "" for x in r.get("reasonReference", ())))


def _patient(r: dict[str, Any]) -> Patient:
    return Patient(f"Patient/{r['id']}", r.get("gender"), _maybe_day(r.get("birthDate")))


def _claim(r: dict[str, Any]) -> Claim:
    items = tuple(Item(
        it.get("sequence", n + 1), tuple(c for _, c in _codes(it.get("productOrService"))),
        _maybe_day(it.get("servicedDate")), (it.get("quantity") or {}).get("value"),
        tuple(it.get("diagnosisSequence", ())),
        tuple(_ref(e) for e in it.get("encounter", ()))) for n, it in enumerate(r.get("item", ())))
    return Claim(
        f"Claim/{r['id']}", _ref(r.get("patient")), r.get("status"), r.get("use"),
        _maybe_day(r.get("created")),
        tuple((d.get("sequence", 0), (_first(d.get("diagnosisCodeableConcept")) or "")
               .replace(".", "")) for d in r.get("diagnosis", ())),
        items,
        tuple(_ref(s.get("valueReference")) for s in r.get("supportingInfo", ())))


@dataclass(slots=True)
class Chart:
    conditions: dict[str | None, list[Condition]]
    labs: dict[str | None, list[Lab]]
    administrations: dict[str | None, list[Administration]]
    patients: dict[str, Patient]


def read_chart(source: Path) -> Chart:
    chart = Chart(defaultdict(list), defaultdict(list), defaultdict(list), {})
    for line in _lines(source / "Condition.ndjson"):
        condition = _condition(orjson.loads(line))
        chart.conditions[condition.patient].append(condition)
    for line in _lines(source / "Observation.ndjson"):
        if any(word in line for word in LAB_WORDS) and (lab := _lab(orjson.loads(line))):
            chart.labs[lab.patient].append(lab)
    for line in _lines(source / "MedicationAdministration.ndjson"):
        given = _administration(orjson.loads(line))
        chart.administrations[given.patient].append(given)
    for line in _lines(source / "Patient.ndjson"):
        patient = _patient(orjson.loads(line))
        chart.patients[patient.ref] = patient
    return chart


Check = Callable[[Claim, list[Condition], list[Lab], list[Administration]], Iterator[str]]


def _checks() -> tuple[Check, ...]:
    """21 checks the size of the product's smallest: each one pass over one list."""
    def coded(c: Claim, cs: list[Condition], ls: list[Lab], ads: list[Administration]
              ) -> Iterator[str]:
        yield from (f"dx-invalid:{code}" for _, code in c.diagnoses if not code)

    def b12(c: Claim, cs: list[Condition], ls: list[Lab], ads: list[Administration]
            ) -> Iterator[str]:
        yield from (f"dx-not-b12:{code}" for _, code in c.diagnoses if code not in B12_CODES)

    def charted(c: Claim, cs: list[Condition], ls: list[Lab], ads: list[Administration]
                ) -> Iterator[str]:
        for _, code in c.diagnoses:
            if not any(code in x.codes and x.clinical == "active"
                       and x.verification == "confirmed" for x in cs):
                yield f"dx-not-in-chart:{code}"

    def lab_low(c: Claim, cs: list[Condition], ls: list[Lab], ads: list[Administration]
                ) -> Iterator[str]:
        if not any(x.loinc == "2132-9" and x.value is not None and x.value < 200 for x in ls):
            yield "lab-missing"

    def given(c: Claim, cs: list[Condition], ls: list[Lab], ads: list[Administration]
              ) -> Iterator[str]:
        for item in c.items:
            if "J3420" in item.products and not any(a.day == (item.day or c.created)
                                                    and a.status == "completed" for a in ads):
                yield "admin-missing"

    def dose(c: Claim, cs: list[Condition], ls: list[Lab], ads: list[Administration]
             ) -> Iterator[str]:
        yield from ("dose-units" for a in ads if a.dose is not None and a.dose > 1000)

    def linked(c: Claim, cs: list[Condition], ls: list[Lab], ads: list[Administration]
               ) -> Iterator[str]:
        sequences = {s for s, _ in c.diagnoses}
        yield from ("item-dx-link" for item in c.items
                    if not sequences.intersection(item.diagnoses))

    def supported(c: Claim, cs: list[Condition], ls: list[Lab], ads: list[Administration]
                  ) -> Iterator[str]:
        refs = {x.ref for x in cs}
        yield from ("evidence-not-linked" for ref in c.supporting if ref not in refs)

    return (coded, b12, charted, lab_low, given, dose, linked, supported,
            charted, lab_low, given, dose, charted, lab_low, given, dose, linked, supported,
            coded, b12, charted)


def judge(source: Path, chart: Chart) -> list[dict[str, Any]]:
    checks = _checks()
    results = []
    for line in _lines(source / "Claim.ndjson"):
        claim = _claim(orjson.loads(line))
        if not any("J3420" in item.products for item in claim.items):
            continue
        patient = claim.patient
        cs, ls = chart.conditions.get(patient, []), chart.labs.get(patient, [])
        ads = chart.administrations.get(patient, [])
        found = [finding for check in checks for finding in check(claim, cs, ls, ads)]
        results.append({"claim": claim.ref, "patient": patient,
                        "birth": str(chart.patients[patient].birth) if patient in chart.patients
                        else None, "findings": found})
    return results


def run(source: Path) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """CPU of each step, and the claims judged."""
    start = time.process_time()
    chart = read_chart(source)
    read = time.process_time()
    results = judge(source, chart)
    judged = time.process_time()
    io.BytesIO().write(orjson.dumps({"claims": results}))
    end = time.process_time()
    return {"read the chart": read - start, "claims and checks": judged - read,
            "report": end - judged}, results


def floor(source: Path) -> float:
    start = time.process_time()
    for path in sorted(source.glob("*.ndjson")):
        for line in _lines(path):
            json.loads(line)
    return time.process_time() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="an all-B12 mix (default: bench.mixes's, "
                        "20k claims)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    source = args.source or all_b12(20_000)
    best: dict[str, float] = {}
    claims = 0
    for _ in range(args.repeat):
        times, results = run(source)
        claims = len(results)
        for step, spent in times.items():
            best[step] = min(best.get(step, spent), spent)
    parsed = min(floor(source) for _ in range(args.repeat))
    total = sum(best.values())
    print(f"bare checker, {claims:,} claims; floor (json.loads of every line) {parsed:.2f} s\n")
    print("| step | CPU s |\n| --- | ---: |")
    for step, spent in best.items():
        print(f"| {step} | {spent:.3f} |")
    print(f"| **all** (start-up not counted) | **{total:.3f} ({total / parsed:.1f}x)** |")


if __name__ == "__main__":
    main()
