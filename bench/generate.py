"""A deterministic synthetic Bulk Data export of any size, in the demo's mix of scenarios.

    python -m bench.generate --claims 10000 --seed 12 --out bench/data/10000

Exactly ``--claims`` Claims, about two per patient, ~10% of them without a B12 item (flu
shots, office visits). The B12 claims follow the demo's mix: mostly supported (E53.8 and
D51.x charted in ICD-10-CM or SNOMED CT, a low B12 lab, the injection given), with some
undocumented, unconfirmed or resolved diagnoses, missing or normal labs, anemia without a
low hemoglobin, a first-listed manifestation code, a missing administration and billed
units that do not match the dose. B12 labs come in pg/mL, ng/L and pmol/L, hemoglobin in
g/dL, g/L and mmol/L; injections are RxNorm 309594/317106 in ug, mg, mL or "mcg" text.
Unrelated resources a real export carries come along: glucose labs (2345-7), hypertension
(I10), Encounters. Resources are built with ``fixtures.builders`` and streamed line by line
to ``<Type>.ndjson``, so 100k claims need little memory.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from fixtures import builders as b

TYPES = ("Patient", "Encounter", "Condition", "Observation", "MedicationAdministration",
         "Claim")
START = date(2026, 1, 5)

# (weight, chart code on the problem list, claim codes): the demo's mix, mostly clean.
DIAGNOSES = [
    (30, ("icd", "E53.8"), ("E53.8",)),
    (15, ("snomed", "190634004"), ("E53.8",)),  # SNOMED B12 deficiency -> E53.8
    (12, ("snomed", "84027009"), ("D51.0",)),  # SNOMED pernicious anemia -> D51.0 (lifelong)
    (8, ("icd", "D51.9"), ("D51.9",)),
    (3, ("icd", "D51.1"), ("D51.1",)),
    (4, ("icd", "D51.0"), ("E53.8",)),  # specificity-loss
    (3, ("icd", "D51.9"), ("D51.0",)),  # dx-more-specific-than-chart
    (3, ("icd", "I10"), ("E53.8",)),  # dx-not-documented
    (3, ("icd", "E53.8"), ("R53.83",)),  # dx-no-indication
    (2, ("icd", "E53.8"), ("G63", "E53.8")),  # manifestation-sequencing (G63 first-listed)
    (2, ("icd", "E53.8"), ("E53.8", "G32.0")),  # manifestation after its cause: fine
]
WEIGHTS = [w for w, _, _ in DIAGNOSES]
FIRST = ("Maria", "James", "Linda", "Robert", "Patricia", "John", "Aiko", "Kwame", "Sofia",
         "Dmitri", "Fatima", "Liam", "Mei", "Carlos", "Ingrid", "Tariq")
LAST = ("Garcia", "Smith", "Nguyen", "Okafor", "Rossi", "Kowalski", "Haddad", "Tanaka",
        "Johansson", "Patel", "Murphy", "Silva", "Novak", "Cohen", "Adeyemi", "Larsen")
CITIES = ("Springfield", "Riverside", "Fairview", "Madison", "Georgetown", "Salem")
ENCOUNTER_CLASS = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}


def _day(rng: random.Random, start: date, span: int) -> str:
    return (start + timedelta(days=rng.randrange(span))).isoformat()


def _patient(rng: random.Random, pid: str) -> dict[str, Any]:
    gender = rng.choice(("female", "male"))
    resource = b.patient(pid, gender, f"{rng.randrange(1935, 2000)}-{rng.randrange(1, 13):02d}-"
                         f"{rng.randrange(1, 29):02d}")
    resource.update({
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": f"MRN{pid[1:]}"}],
        "name": [{"family": rng.choice(LAST), "given": [rng.choice(FIRST)]}],
        "address": [{"city": rng.choice(CITIES), "state": "OH", "postalCode": "43004"}],
    })
    return resource


def _encounter(eid: str, pid: str, when: str) -> dict[str, Any]:
    return {"resourceType": "Encounter", "id": eid, "status": "finished",
            "class": ENCOUNTER_CLASS, "subject": b.ref("Patient", pid),
            "period": {"start": when, "end": when}}


def _b12_lab(rng: random.Random, pid: str, when: str, normal: bool) -> dict[str, Any]:
    """A B12 result, low unless ``normal``, in one of three units."""
    unit = rng.choice(("pg/mL", "ng/L", "pmol/L"))
    pg_ml = rng.uniform(250, 700) if normal else rng.uniform(80, 190)
    value = pg_ml * 0.738 if unit == "pmol/L" else pg_ml  # 1 pg/mL = 1 ng/L = 0.738 pmol/L
    kind = "b12-molar" if unit == "pmol/L" else "b12"
    return b.lab(f"{pid}-o1", pid, kind, round(value, 1), unit, when)


def _hemoglobin(rng: random.Random, pid: str, when: str, low: bool) -> dict[str, Any]:
    g_dl = rng.uniform(8.5, 11.5) if low else rng.uniform(13.6, 15.8)
    unit = rng.choice(("g/dL", "g/L", "mmol/L"))
    value = {"g/dL": g_dl, "g/L": g_dl * 10, "mmol/L": g_dl * 0.6206}[unit]
    kind = "hemoglobin-molar" if unit == "mmol/L" else "hemoglobin"
    return b.lab(f"{pid}-h1", pid, kind, round(value, 1), unit, when)


def patient_records(rng: random.Random, n: int, max_claims: int,
                    one_per_patient: bool = False) -> Iterator[dict[str, Any]]:
    """One patient's resources and up to ``max_claims`` claims (1-3 monthly injections; with
    ``one_per_patient``, exactly one B12 claim and nothing else billed)."""
    pid = f"p{n:07d}"
    yield _patient(rng, pid)
    _, (system, chart_code), claim_codes = rng.choices(DIAGNOSES, WEIGHTS)[0]
    first = date.fromisoformat(_day(rng, START, 25))  # first injection
    lab_day = _day(rng, date(2025, 6, 1), 200)
    has_lab = rng.random() > 0.05  # lab-missing otherwise
    linked_lab = has_lab and rng.random() < 0.3  # Condition.evidence.detail -> the lab
    yield b.condition(
        f"{pid}-c1", pid, onset="2024-05-01",
        verification="provisional" if rng.random() < 0.03 else "confirmed",  # dx-unconfirmed
        clinical="resolved" if rng.random() < 0.02 else "active",  # dx-not-current
        evidence=(f"{pid}-o1",) if linked_lab else (), **{system: chart_code})
    if rng.random() < 0.08:  # a malabsorption cause: cause-not-coded
        yield b.condition(f"{pid}-c2", pid, icd=rng.choice(("K90.0", "Z98.84", "K50.00")))
    if rng.random() < 0.5:
        yield b.condition(f"{pid}-c3", pid, icd="I10", snomed="38341003")
    if has_lab:
        yield _b12_lab(rng, pid, lab_day, normal=rng.random() < 0.08)  # lab-not-low
    if claim_codes[0].startswith("D51") or rng.random() < 0.3:
        # anemia-not-supported when the D51 claim's hemoglobin is normal
        hb_day = (first - timedelta(days=rng.randrange(3, 30))).isoformat()  # in the 90 days
        yield _hemoglobin(rng, pid, hb_day, low=rng.random() > 0.08)
    yield b.lab(f"{pid}-g1", pid, "glucose", rng.randrange(70, 180), "mg/dL", lab_day)

    # the B12 item points at the underlying diagnosis, not at a manifestation code
    pointer = next(n for n, code in enumerate(claim_codes, 1) if not code.startswith("G"))
    b12_claims = 1 if one_per_patient else min(rng.choice((1, 2, 2, 3)), max_claims)
    for k in range(b12_claims):
        when = (first + timedelta(days=28 * k)).isoformat()
        kid = f"{pid}-k{k}"
        encounter = f"{kid}-e" if rng.random() < 0.3 else None
        if encounter:
            yield _encounter(encounter, pid, when)
        dose, unit = rng.choice(((1000, "ug"), (1, "mg"), (1, "mL"), (1000, "mcg")))
        if rng.random() > 0.04:  # admin-missing otherwise
            yield b.administration(f"{kid}-a", pid, when, dose=dose, unit=unit,
                                   rxnorm=rng.choice(("309594", "309594", "317106")),
                                   context=encounter)
        yield b.claim(kid, pid, when, diagnoses=claim_codes,
                      units=2 if rng.random() < 0.03 else 1,  # dose-units-mismatch
                      pointers=(pointer,),
                      supporting=(f"Condition/{pid}-c1",) if rng.random() < 0.8 else (),
                      encounter=encounter)
    if not one_per_patient and b12_claims < max_claims and rng.random() < 0.22:
        # ~10% of claims have no B12 item
        if rng.random() < 0.55:
            yield b.claim(f"{pid}-flu", pid, "2026-01-20", diagnoses=("Z23",), units=None,
                          product=(b.CPT, "90686"), extra_items=False)
        else:
            yield b.claim(f"{pid}-ov", pid, _day(rng, START, 60), diagnoses=("I10",),
                          units=None, product=(b.CPT, "99213"), extra_items=False)


def generate(claims: int, out: Path, seed: int = 12, layout: str = "bulk",
             mix: str = "demo") -> int:
    """Write exactly ``claims`` Claims (and their patients' records); returns that number.

    ``layout`` "bulk": one NDJSON file per type; "bundles": one collection Bundle per patient
    (``<patient>.json``, as Synthea writes), the same resources. ``mix`` "demo": about two
    claims per patient, ~10% not B12; "one-per-patient": every claim a B12 claim of its own
    patient (the hardest case per claim: a whole chart read for each).
    """
    one = mix == "one-per-patient"
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    if layout == "bundles":
        n = 0
        while written < claims:
            n += 1
            records = list(patient_records(rng, n, claims - written, one))
            written += sum(r["resourceType"] == "Claim" for r in records)
            bundle = {"resourceType": "Bundle", "type": "collection",
                      "entry": [{"resource": r} for r in records]}
            (out / f"p{n:07d}.json").write_text(json.dumps(bundle, separators=(",", ":")),
                                               encoding="utf-8")
        return written
    with ExitStack() as stack:
        files = {t: stack.enter_context((out / f"{t}.ndjson").open("w", encoding="utf-8"))
                 for t in TYPES}
        n = 0
        while written < claims:
            n += 1
            for resource in patient_records(rng, n, claims - written, one):
                rtype = resource["resourceType"]
                files[rtype].write(json.dumps(resource, separators=(",", ":")) + "\n")
                written += rtype == "Claim"
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--layout", choices=("bulk", "bundles"), default="bulk",
                        help="NDJSON per type (default) or one Bundle per patient")
    parser.add_argument("--mix", choices=("demo", "one-per-patient"), default="demo",
                        help="the demo's mix (default) or one B12 claim per patient")
    args = parser.parse_args()
    if args.claims < 1:
        parser.error("--claims must be at least 1")
    started = time.perf_counter()
    count = generate(args.claims, args.out, args.seed, args.layout, args.mix)
    print(f"{count} claims in {args.out} ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
