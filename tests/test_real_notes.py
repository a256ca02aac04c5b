"""Real clinical notes (SPEC 4.2): the 1,215 Synthea DocumentReferences of the Bulk Data export
in fixtures/realdata/bulk-export-10-patients (US Core, base64 text/plain with
``# Assessment and Plan``; every note but each patient's last is ``superseded``), kept gzipped
in fixtures/realdata/bulk-export-10-patients-notes. B12 claims are added for a few of those
patients on days they have a note, and on one they do not; each gets exactly the note findings
SPEC says, and no B12 mention is read from real text that has none."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
from functools import cache
from pathlib import Path

import pytest

from adapter.driver import Driver
from adapter.file_plan import FilePlan
from adapter.mappings import load_mappings
from adapter.notes.reader import read_mentions
from adapter.output.report import Report
from adapter.rules import Policy
from adapter.sources.files import FileSource
from fixtures import builders as b

REAL = Path(__file__).resolve().parent.parent / "fixtures/realdata"
EXPORT = REAL / "bulk-export-10-patients"
NOTES = REAL / "bulk-export-10-patients-notes" / "DocumentReference.000.ndjson.gz"
NOTE_CODES = {"note-missing", "note-unreadable", "note-symptom-only", "note-history-only",
              "note-contradicts", "note-uncertain", "note-no-indication",
              "note-specificity-loss", "dx-more-specific-than-note"}

# (claim, patient, date, the note findings SPEC gives it, why)
CLAIMS = [
    ("r1", "7bc002fa-dc52-17d6-1563-fd8901826f7d", "2020-05-22", {"note-no-indication"},
     "the note of the day presents prediabetes and anemia (disorder): no B12 words"),
    ("r2", "ca15b832-01e4-41dd-6a52-97bd3e5510cb", "2021-01-23", {"note-symptom-only"},
     "the note of the day presents fatigue (finding) and no diagnosis of B12 deficiency"),
    ("r3", "8e1a0a7c-e308-444b-075a-3c2b1f60f881", "1988-06-29", {"note-no-indication"},
     "the plan prescribes 'vitamin b12 5 mg/ml injectable solution': a drug, no diagnosis"),
    ("r4", "129c6ac7-8d06-89de-ad63-0204a93e76c3", "1977-06-15", {"note-no-indication"},
     "'history of coronary artery bypass grafting' is no gastric bypass"),
    ("r5", "7bc002fa-dc52-17d6-1563-fd8901826f7d", "2020-05-25", {"note-missing"},
     "the patient has notes, none on that day"),
]


@cache
def real_notes() -> tuple[dict, ...]:
    with gzip.open(NOTES, "rt", encoding="utf-8") as handle:
        return tuple(json.loads(line) for line in handle if line.strip())


def note_text(note: dict) -> str:
    return base64.b64decode(note["content"][0]["attachment"]["data"]).decode("utf-8")


def test_the_fixture_is_the_real_export():
    notes = real_notes()
    assert len(notes) == 1215
    assert {n["status"] for n in notes} == {"current", "superseded"}
    assert all("# Assessment and Plan" in note_text(n) for n in notes)


def test_no_b12_diagnosis_is_read_from_real_notes_that_state_none():
    """Every real note read: only symptoms are found (fatigue), never a B12 diagnosis or cause
    (these patients have none), and nothing crashes."""
    found: set[tuple[str, str]] = set()
    for note in real_notes():
        for mention in read_mentions(note_text(note)):
            found.add((mention.code, mention.term.lower()))
    assert found and {code for code, _ in found} == {"symptom"}, found


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Report:
    folder = tmp_path_factory.mktemp("export")
    for path in EXPORT.glob("*.ndjson"):
        shutil.copy(path, folder / path.name)
    shutil.copy(NOTES, folder / NOTES.name)
    claims, given = [], []
    for kid, pid, day, _, _ in CLAIMS:
        claims.append(b.claim(kid, pid, day))
        given.append(b.administration(f"{kid}-adm", pid, day))
    (folder / "Claim.000.ndjson").write_text("\n".join(json.dumps(c) for c in claims) + "\n")
    (folder / "MedicationAdministration.000.ndjson").write_text(
        "\n".join(json.dumps(a) for a in given) + "\n")
    mappings = load_mappings()
    out = Report()
    source = FileSource.open(folder)
    Driver(source, Policy.from_mappings(mappings, mappings.thresholds), mappings, [out],
           plan=FilePlan(source, mappings)).run()
    return out


def test_the_real_export_is_read_without_an_error(report):
    assert not report.errors, report.errors[:3]
    assert len(report.claims) == len(CLAIMS)


@pytest.mark.parametrize(("kid", "pid", "day", "expected", "why"), CLAIMS,
                         ids=[c[0] for c in CLAIMS])
def test_each_b12_claim_gets_exactly_the_note_findings_spec_gives(report, kid, pid, day,
                                                                  expected, why):
    claim = next(c for c in report.claims if c.claim == f"Claim/{kid}")
    assert {f.code for f in claim.findings} & NOTE_CODES == expected, why
    if expected != {"note-missing"}:
        day_notes = [n for n in real_notes()
                     if n["subject"]["reference"] == f"Patient/{pid}"
                     and n["context"]["period"]["start"].startswith(day)]
        assert day_notes  # the note of the day exists, and the finding names it
        [finding] = [f for f in claim.findings if f.code in expected]
        assert f"DocumentReference/{day_notes[0]['id']}" in finding.evidence


def test_the_day_without_a_note_has_none_in_the_export():
    assert not [n for n in real_notes() if n["subject"]["reference"].endswith(CLAIMS[4][1])
                and n["date"].startswith(CLAIMS[4][2])]
