"""``spark --config FILE`` judges as ``check --config FILE`` does: payer policies (SPEC 4.4)
with the payer's Coverage and Organization and the patient's whole injection history, every
``[notes]`` setting, and notes whose text is in a separate Binary.

The payer Organization has no patient: it reaches the claims that name it (as insurer, or as a
payor of their Coverage) through the job's join of references; a Coverage is its
beneficiary's; a Binary reaches the patient of the notes that point at it the same way.
"""

from __future__ import annotations

import base64
import gzip
import json
import pickle
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapter.cli import main
from adapter.judge import Judge
from fixtures import builders as b
from tests.spark.compare import assert_same, file_output, spark_output

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "fixtures" / "demo"
DEMO_POLICIES = DEMO / "policies.toml"
NOTES = ROOT / "fixtures" / "realdata" / "bulk-export-10-patients-notes"
POLICY_CODES = {"dx-not-covered", "frequency-exceeds-policy"}
Resource = dict[str, Any]


def codes(run: dict[str, Any]) -> set[str]:
    return {f["code"] for c in run["claims"].values() for f in c["findings"]}


def verdicts(run: dict[str, Any]) -> dict[str, tuple[str | None, list[str]]]:
    return {ref: (c["policy"], sorted(f["code"] for f in c["findings"]))
            for ref, c in run["claims"].items()}


def run_cli(source: Path, out: Path, *options: str) -> int:
    return main(["spark", "--source", str(source), "--out", str(out), "--master", "local[2]",
                 "--quiet", *options])


# --- the run's spec carries the whole configuration -------------------------------------


def test_the_run_spec_carries_policies_and_note_settings_as_picklable_data(tmp_path):
    from adapter.spark.records import RunSpec, judge

    config = tmp_path / "b12.toml"
    config.write_text(DEMO_POLICIES.read_text() + "\n[notes]\nquote = false\nrequired = true\n")
    loaded = Judge.load(config).policy
    spec = pickle.loads(pickle.dumps(RunSpec.of_policy(loaded, datetime.now(UTC))))

    rebuilt = judge(spec).policy  # what every executor judges by
    assert rebuilt.payers == loaded.payers and rebuilt.payers.active
    assert (rebuilt.notes_quote, rebuilt.notes_required) == (False, True)
    assert judge(RunSpec.of_policy(Judge.load().policy, datetime.now(UTC))).policy.payers \
        .active is False


# --- payer policies ----------------------------------------------------------------------


def test_the_demo_with_its_payer_policies_gives_check_configs_output(spark, tmp_path):
    out = tmp_path / "out"

    assert run_cli(DEMO, out, "--config", str(DEMO_POLICIES)) == 0

    spark_run = spark_output(out)
    assert_same(spark_run, file_output(DEMO, config=DEMO_POLICIES))
    assert codes(spark_run) >= POLICY_CODES
    assert {c["policy"] for c in spark_run["claims"].values()} == {
        None, "medicare-l33967", "aetna-cpb-0536"}


D = "2026-03-0"  # + a day: 2026-03-02 ... 2026-03-07


def held_out(directory: Path) -> Path:
    """Payers reached every way file mode reaches them, and an injection history held in
    other claims (one of them a later claim of a standing id, in another file)."""
    medicare = b.payer("mcare", "Medicare Part B")  # its name only in the Organization
    aetna = b.payer("aet", "Aetna", (b.NPI, "1234567893"))
    resources: list[Resource] = [
        medicare, aetna, b.organization("clinic", "Clinic"),
        # insurer Organization by reference, E53.8 alone: Aetna covers it only with a partner
        b.patient("h1"),
        b.insured(b.claim("k-h1", "h1", "2026-03-02"), insurer=b.ref("Organization", "aet")),
        # focal Coverage -> its payor Organization (Medicare by name): E53.8 covered
        b.patient("h2"), b.coverage("cov2", "h2", b.ref("Organization", "mcare")),
        b.insured(b.claim("k-h2", "h2", "2026-03-02"), coverage="Coverage/cov2"),
        # the injection history is the patient's other claims: five days, then the sixth
        # (index 5: at least 7 days after the one before, under both shipped policies)
        b.patient("h3"), b.coverage("cov3", "h3", b.ref("Organization", "mcare")),
        *[b.insured(b.claim(f"k-h3{n}", "h3", f"{D}{n}"), coverage="Coverage/cov3")
          for n in (2, 3, 4, 5)],
        b.insured(b.claim("k-h3-last", "h3", f"{D}7"), coverage="Coverage/cov3"),
        # a Coverage whose payor is named by identifier only in the Reference
        b.patient("h4"), b.coverage("cov4", "h4", {"identifier": {
            "system": b.NPI, "value": "1234567893"}}),
        b.insured(b.claim("k-h4", "h4", "2026-03-02", diagnoses=("D51.0",)),
                  coverage="Coverage/cov4"),
        # another patient's Coverage, its payor Aetna (by the Organization's identifier)
        b.coverage("cov-other", "h1", b.ref("Organization", "aet")),
        b.patient("h7"),
        b.insured(b.claim("k-h7", "h7", "2026-03-02"), coverage="Coverage/cov-other"),
        # no payer the configuration knows: the default policy (when one is set)
        b.patient("h5"), b.claim("k-h5", "h5", "2026-03-02", diagnoses=("D64.9",)),
        # a Coverage that is not in the source
        b.patient("h6"),
        b.insured(b.claim("k-h6", "h6", "2026-03-02"), coverage="Coverage/nowhere"),
    ]
    b.write_bulk(directory, resources)
    # a second claim of id k-h35 (in a later file): not checked, but its B12 date (03-06)
    # is the patient's history, as file mode bills every claim it reads
    later = b.insured(b.claim("k-h35", "h3", f"{D}6"), coverage="Coverage/cov3")
    (directory / "ExplanationOfBenefit.ndjson").write_text(json.dumps(
        {**later, "resourceType": "ExplanationOfBenefit", "id": "k-h35"}) + "\n")
    (directory / "Claim.001.ndjson").write_text(json.dumps({**later, "id": "k-h35"}) + "\n")
    return directory


def config(directory: Path, notes: str = "") -> Path:
    path = directory / "b12.toml"
    path.write_text(DEMO_POLICIES.read_text().replace(
        "[policies.payers]", '[policies]\ndefault = "medicare-l33967"\n\n[policies.payers]')
        + notes)
    return path


def test_a_held_out_set_with_policies_and_note_settings_gives_check_configs_output(
        spark, tmp_path):
    source = held_out(tmp_path / "export")
    settings = config(tmp_path, "\n[notes]\nquote = false\nrequired = true\n")
    out = tmp_path / "out"

    assert run_cli(source, out, "--config", str(settings)) == 1  # the second claim of k-h35

    spark_run = spark_output(out)
    assert_same(spark_run, file_output(source, config=settings))
    found = verdicts(spark_run)
    assert codes(spark_run) >= POLICY_CODES
    assert found["Claim/k-h1"][0] == "aetna-cpb-0536"
    assert "dx-not-covered" in found["Claim/k-h1"][1]
    assert found["Claim/k-h2"][0] == "medicare-l33967"
    assert "dx-not-covered" not in found["Claim/k-h2"][1]
    # the sixth day of the course: only with the history of the later k-h35 (03-06)
    assert "frequency-exceeds-policy" in found["Claim/k-h3-last"][1]
    assert found["Claim/k-h4"][0] == "aetna-cpb-0536"
    assert found["Claim/k-h5"][0] == "medicare-l33967"  # the default
    assert found["Claim/k-h7"][0] == "aetna-cpb-0536"  # through another patient's Coverage
    assert "note-missing" in codes(spark_run)  # [notes] required: no note at all counts


def test_without_a_config_no_claim_gets_a_policy(spark, tmp_path):
    source = held_out(tmp_path / "export")
    out = tmp_path / "out"

    run_cli(source, out)

    spark_run = spark_output(out)
    assert_same(spark_run, file_output(source))
    assert {c["policy"] for c in spark_run["claims"].values()} == {None}
    assert not POLICY_CODES & codes(spark_run)


# --- notes whose text is in a Binary -----------------------------------------------------


def binary_notes(directory: Path) -> Path:
    """The real export's notes (fixtures/realdata), every other one with its text moved to a
    Binary its attachment points at (relative ``Binary/x`` or an absolute URL); B12 claims
    on the days of some of them; one note pointing at a Binary that is not in the source."""
    directory.mkdir()
    with gzip.open(NOTES / "DocumentReference.000.ndjson.gz", "rt", encoding="utf-8") as lines:
        notes = [json.loads(line) for line in lines]
    binaries: list[Resource] = []
    for n, note in enumerate(notes):
        if n % 2:
            continue
        attachment = note["content"][0]["attachment"]
        binaries.append(b.binary(f"bin{n}", b"", attachment["contentType"],
                                 data=attachment.pop("data")))
        attachment["url"] = f"Binary/bin{n}" if n % 4 else \
            f"https://ehr.example.org/fhir/Binary/bin{n}"
    patients = sorted({note["subject"]["reference"] for note in notes})
    claims: list[Resource] = []
    for index, patient in enumerate(patients):
        pid = patient.partition("/")[2]
        theirs = [(n, note) for n, note in enumerate(notes)
                  if note["subject"]["reference"] == patient]
        for n, note in theirs[-2:]:  # a Binary note and an inline one, mostly
            claims.append(b.claim(f"k{index}-{n}", pid, note["date"][:10]))
        claims.append(b.patient(pid))
    missing = notes[0]
    missing["content"][0]["attachment"]["url"] = "Binary/not-there"
    b.write_bulk(directory, [*claims, *binaries])
    (directory / "DocumentReference.ndjson").write_text(
        "".join(json.dumps(note) + "\n" for note in notes))
    return directory


def test_notes_with_their_text_in_a_binary_read_as_in_file_mode(spark, tmp_path):
    source = binary_notes(tmp_path / "export")
    out = tmp_path / "out"

    run_cli(source, out)

    spark_run = spark_output(out)
    expected = file_output(source)
    assert_same(spark_run, expected)
    messages = [json.loads(e)["message"] for e in spark_run["errors"].elements()]
    assert not any("Binary/bin" in m for m in messages)  # every Binary in the source is read
    assert any("Binary/not-there is not in the source" in m for m in messages)
    assert len(spark_run["claims"]) >= 10


def test_a_binary_note_decoded_on_the_executors_gives_the_notes_findings(spark,
                                                                          tmp_path):
    """A built case: a note in a Binary says the deficiency is ruled out; the claim bills it."""
    said = "Assessment: B12 deficiency ruled out. Injection given today."
    resources = [
        b.patient("n1"),
        b.document_reference("note1", "n1", "2026-03-02T10:00:00-05:00", url="Binary/body1"),
        b.binary("body1", said),
        b.claim("k-n1", "n1", "2026-03-02"),
        b.patient("n2"),  # the same text inline: the same findings
        b.document_reference("note2", "n2", "2026-03-02T10:00:00-05:00", text=said),
        b.claim("k-n2", "n2", "2026-03-02"),
    ]
    source = b.write_bulk(tmp_path / "export", resources)
    out = tmp_path / "out"

    run_cli(source, out)

    spark_run = spark_output(out)
    assert_same(spark_run, file_output(source))
    found = verdicts(spark_run)
    assert found["Claim/k-n1"][1] == found["Claim/k-n2"][1]
    assert "note-contradicts" in found["Claim/k-n1"][1]
    assert base64.b64decode(resources[2]["data"]).decode() == said
