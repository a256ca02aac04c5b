"""A deterministic synthetic Bulk Data export of any size, in the demo's mix of scenarios.

    python -m bench.generate --claims 10000 --out bench/data/10000 [--seed 12]

About two B12 claims per patient; Conditions in ICD-10-CM and SNOMED CT; B12 and hemoglobin
labs in several units; injections in ug, mg and mL; and the unrelated resources a real export
carries (flu-shot claims, glucose labs, hypertension). Lines are streamed to the files, so
100k claims need little memory.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from fixtures import builders as b

TYPES = ("Patient", "Condition", "Observation", "MedicationAdministration", "Claim")
START = date(2026, 1, 5)

# (weight, chart code on the problem list, claim codes): the demo's mix, mostly clean.
DIAGNOSES = [
    (30, ("icd", "E53.8"), ("E53.8",)),
    (15, ("snomed", "190634004"), ("E53.8",)),
    (12, ("snomed", "84027009"), ("D51.0",)),
    (8, ("icd", "D51.9"), ("D51.9",)),
    (4, ("icd", "D51.0"), ("E53.8",)),  # specificity-loss
    (3, ("icd", "D51.9"), ("D51.0",)),  # dx-more-specific-than-chart
    (3, ("icd", "I10"), ("E53.8",)),  # dx-not-documented
    (3, ("icd", "E53.8"), ("R53.83",)),  # dx-no-indication
    (2, ("icd", "E53.8"), ("G63", "E53.8")),  # manifestation-sequencing
]
WEIGHTS = [w for w, _, _ in DIAGNOSES]


def _day(rng: random.Random, start: date, span: int) -> str:
    return (start + timedelta(days=rng.randrange(span))).isoformat()


def patient_records(rng: random.Random, n: int) -> Iterator[dict[str, Any]]:
    """One patient's resources and their claims (1-3 monthly injections)."""
    pid = f"p{n:07d}"
    gender = rng.choice(("female", "male"))
    yield b.patient(pid, gender, f"{rng.randrange(1935, 2000)}-{rng.randrange(1, 13):02d}-15")
    _, (system, chart_code), claim_codes = rng.choices(DIAGNOSES, WEIGHTS)[0]
    verification = "provisional" if rng.random() < 0.03 else "confirmed"
    clinical = "resolved" if rng.random() < 0.03 else "active"
    yield b.condition(f"{pid}-c1", pid, onset="2024-05-01", verification=verification,
                      clinical=clinical, **{system: chart_code})
    if rng.random() < 0.08:
        yield b.condition(f"{pid}-c2", pid, icd=rng.choice(("K90.0", "Z98.84", "K50.00")))
    if rng.random() < 0.5:
        yield b.condition(f"{pid}-c3", pid, icd="I10", snomed="38341003")
    lab_day = _day(rng, date(2025, 6, 1), 200)
    if rng.random() > 0.05:  # lab-missing otherwise
        value, unit, kind = rng.choice((
            (rng.uniform(90, 195), "pg/mL", "b12"), (rng.uniform(90, 195), "ng/L", "b12"),
            (rng.uniform(60, 140), "pmol/L", "b12-molar"), (rng.uniform(220, 600), "pg/mL", "b12"),
        ))
        yield b.lab(f"{pid}-o1", pid, kind, round(value, 1), unit, lab_day)
    if claim_codes[0].startswith("D51") or rng.random() < 0.3:
        hb, unit = rng.choice(((rng.uniform(9, 13.5), "g/dL"), (rng.uniform(90, 135), "g/L"),
                               (rng.uniform(5.6, 8.4), "mmol/L")))
        kind = "hemoglobin-molar" if unit == "mmol/L" else "hemoglobin"
        yield b.lab(f"{pid}-h1", pid, kind, round(hb, 1), unit, lab_day)
    yield b.lab(f"{pid}-g1", pid, "glucose", rng.randrange(70, 180), "mg/dL", lab_day)
    first = date.fromisoformat(_day(rng, START, 25))
    for k in range(rng.choice((1, 2, 2, 3))):
        when = (first + timedelta(days=28 * k)).isoformat()
        kid = f"{pid}-k{k}"
        dose, unit = rng.choice(((1000, "ug"), (1, "mg"), (1, "mL"), (1000, "mcg")))
        if rng.random() > 0.04:  # admin-missing otherwise
            yield b.administration(f"{kid}-a", pid, when, dose=dose, unit=unit,
                                   rxnorm=rng.choice(("309594", "309594", "317106")))
        linked = rng.random() < 0.8
        yield b.claim(kid, pid, when, diagnoses=claim_codes,
                      units=2 if rng.random() < 0.03 else 1,
                      pointers=(len(claim_codes),),
                      supporting=(f"Condition/{pid}-c1",) if linked else ())
    if rng.random() < 0.1:
        yield b.claim(f"{pid}-flu", pid, "2026-01-20", diagnoses=("Z23",), units=None,
                      product=(b.CPT, "90686"), extra_items=False)


def generate(claims: int, out: Path, seed: int = 12) -> int:
    """Write at least ``claims`` B12 and unrelated claims; returns the number of Claims."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    with ExitStack() as stack:
        files = {t: stack.enter_context((out / f"{t}.ndjson").open("w")) for t in TYPES}
        n = 0
        while written < claims:
            n += 1
            for resource in patient_records(rng, n):
                rtype = resource["resourceType"]
                files[rtype].write(json.dumps(resource, separators=(",", ":")) + "\n")
                written += rtype == "Claim"
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    print(f"{generate(args.claims, args.out, args.seed)} claims in {args.out}")


if __name__ == "__main__":
    main()
