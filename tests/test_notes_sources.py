"""Where notes come from and how their text is read (SPEC 4.2), through the one driver: a
DocumentReference with inline text or a Binary (relative and absolute url), a Composition, a
note-type DiagnosticReport (the same text as a DocumentReference is read once), HTML and RTF,
superseded and replaced notes, notes of another day or encounter; and bad input (bad base64,
an unknown charset, a 50 MB note, an HTML bomb, a missing Binary) named, never a crash."""

from __future__ import annotations

import logging

import pytest

from adapter.notes import text as note_text
from fixtures import builders as b
from tests.scenario import SERVICE, clean_chart, run

NOTE_CODES = {"note-missing", "note-unreadable", "note-symptom-only", "note-history-only",
              "note-contradicts", "note-uncertain", "note-no-indication",
              "note-specificity-loss", "dx-more-specific-than-note"}
SYMPTOM = "# Assessment and Plan\nB12 shot for low energy."
STATED = "# Assessment and Plan\nVitamin B12 deficiency, continue monthly injections."


def note_codes(*notes, chart=None):
    report = run(*(chart or clean_chart()), *notes)
    [claim] = report.claims
    return {f.code for f in claim.findings} & NOTE_CODES, report


def codes(*notes, **kw):
    return note_codes(*notes, **kw)[0]


def test_inline_text_plain_note_is_read():
    assert codes(b.document_reference("n1", "p1", SERVICE, SYMPTOM)) == {"note-symptom-only"}
    assert codes(b.document_reference("n1", "p1", SERVICE, STATED)) == set()


def test_a_charset_other_than_utf8_is_read():
    text = "Évaluation: B12 shot for low energy."
    note = b.document_reference("n1", "p1", SERVICE, data=b.encoded(text, "latin-1"),
                                content_type="text/plain; charset=ISO-8859-1")
    assert codes(note) == {"note-symptom-only"}


@pytest.mark.parametrize("url", ["Binary/bin1", "https://ehr.example.org/fhir/Binary/bin1"])
def test_a_binary_by_relative_and_by_absolute_url_is_read(url):
    note = b.document_reference("n1", "p1", SERVICE, url=url)
    assert codes(note, b.binary("bin1", SYMPTOM)) == {"note-symptom-only"}


def test_a_binary_read_before_its_note_is_read_too():
    assert codes(b.binary("bin1", SYMPTOM),
                 b.document_reference("n1", "p1", SERVICE, url="Binary/bin1")) == {
        "note-symptom-only"}


def test_a_missing_binary_is_a_named_problem_and_the_note_unreadable():
    found, report = note_codes(b.document_reference("n1", "p1", SERVICE, url="Binary/gone"))
    assert found == {"note-unreadable"}
    assert any(e.resource == "DocumentReference/n1" and "Binary/gone" in e.message
               for e in report.errors)


def test_an_html_note_is_read_with_its_headings():
    html = ("<html><body><h2>History</h2><p>Fatigue for years</p>"
            "<h2>Assessment</h2><p>Pernicious anemia</p><ul><li>B12 1000 mcg IM</li></ul>"
            "</body></html>")
    note = b.document_reference("n1", "p1", SERVICE, html, content_type="text/html")
    # the claim codes E53.8; the note's assessment states D51.0, its history's fatigue is
    # not read
    assert codes(note) == {"note-specificity-loss"}


def test_an_xhtml_note_is_read():
    xhtml = ('<div xmlns="http://www.w3.org/1999/xhtml"><p>A/P: B12 shot for low energy'
             '</p></div>')
    note = b.document_reference("n1", "p1", SERVICE, xhtml,
                                content_type="application/xhtml+xml")
    assert codes(note) == {"note-symptom-only"}


def test_an_rtf_note_is_read():
    rtf = (r"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard "
           r"{\b ASSESSMENT:} History of B12 deficiency.\par Injection given.\par}")
    note = b.document_reference("n1", "p1", SERVICE, rtf, content_type="text/rtf")
    assert codes(note) == {"note-history-only"}


def test_a_composition_is_read_by_its_sections():
    note = b.composition("cmp1", "p1", SERVICE, (
        ("Chief complaint", "<p>Low energy</p>"),
        ("Assessment and Plan", "<p>Possible B12 deficiency; labs drawn.</p>")))
    assert codes(note) == {"note-uncertain"}


def test_a_note_type_diagnostic_report_is_read_and_the_same_text_only_once():
    report = b.note_report("dr1", "p1", SERVICE, SYMPTOM)
    _, result = note_codes(report, b.document_reference("n1", "p1", SERVICE, SYMPTOM))
    [finding] = [f for f in result.claims[0].findings if f.code == "note-symptom-only"]
    assert finding.evidence == ("DocumentReference/n1",)
    assert codes(report) == {"note-symptom-only"}


def test_a_lab_diagnostic_report_is_no_note():
    lab = {"resourceType": "DiagnosticReport", "id": "lab1", "status": "final",
           "code": {"coding": [{"system": b.LOINC, "code": "58410-2"}]},
           "subject": b.ref("Patient", "p1"), "effectiveDateTime": SERVICE,
           "presentedForm": [{"contentType": "text/plain", "data": b.encoded("fatigue")}]}
    assert codes(lab) == set()


def test_a_superseded_note_counts_unless_another_replaces_it():
    old = b.document_reference("n1", "p1", SERVICE, SYMPTOM, status="superseded")
    assert codes(old) == {"note-symptom-only"}
    new = b.document_reference("n2", "p1", SERVICE, STATED, replaces="n1")
    assert codes(old, new) == set()


def test_an_entered_in_error_note_and_a_consent_form_are_no_notes():
    wrong = b.document_reference("n1", "p1", SERVICE, SYMPTOM, status="entered-in-error")
    consent = b.document_reference("n2", "p1", SERVICE, SYMPTOM, loinc="59284-0",
                                   display="Consent", category=False)
    assert codes(wrong, consent) == set()


def test_a_note_of_another_day_is_not_the_days_note():
    other = b.document_reference("n1", "p1", "2026-02-20T10:00:00-05:00", SYMPTOM)
    assert codes(other) == {"note-missing"}


def test_the_note_of_the_items_encounter_is_the_days_note_whatever_its_date():
    chart = clean_chart(encounter="e1")
    note = b.document_reference("n1", "p1", "2026-03-01T23:00:00-05:00", SYMPTOM,
                                encounter="e1")
    other = b.document_reference("n2", "p1", SERVICE, STATED, encounter="e2")
    assert codes(note, other, chart=chart) == {"note-symptom-only"}


def test_a_patient_with_no_notes_at_all_earns_no_note_finding():
    assert codes() == set()


def test_another_patients_note_does_not_count():
    assert codes(b.patient("p2"), b.document_reference("n1", "p2", SERVICE, SYMPTOM)) == set()


def test_a_pdf_beside_its_text_is_read_from_the_text():
    pdf = {"attachment": {"contentType": "application/pdf", "data": b.encoded("%PDF-1.4")}}
    note = b.document_reference("n1", "p1", SERVICE, SYMPTOM, more_content=(pdf,))
    assert codes(note) == {"note-symptom-only"}


def test_a_pdf_alone_is_unreadable_but_no_error():
    note = b.document_reference("n1", "p1", SERVICE, data=b.encoded("%PDF-1.4"),
                                content_type="application/pdf")
    found, report = note_codes(note)
    assert found == {"note-unreadable"} and not report.errors


@pytest.mark.parametrize(("note", "said"), [
    (b.document_reference("n1", "p1", SERVICE, data="not base64 !!"), "base64"),
    (b.document_reference("n1", "p1", SERVICE, data=b.encoded("fatigue"),
                          content_type="text/plain; charset=x-no-such"), "charset"),
    (b.document_reference("n1", "p1", SERVICE, data=b.encoded(b"\xff\xfe\xfa fatigue"),
                          content_type="text/plain; charset=utf-8"), "utf-8"),
    (b.document_reference("n1", "p1", SERVICE, "<div>" * 5000 + "fatigue",
                          content_type="text/html"), "deeper"),
])
def test_bad_note_input_is_a_named_problem_and_the_claim_is_still_judged(note, said):
    found, report = note_codes(note)
    assert found == {"note-unreadable"}
    [claim] = report.claims
    assert claim.verdict.value == "supported" or claim.findings
    assert any(e.resource == "DocumentReference/n1" and said in e.message.lower()
               for e in report.errors), report.errors


def _plain(text, content_type):
    return b.document_reference("n1", "p1", SERVICE, data=b.encoded(text, "latin-1"),
                                content_type=content_type)


ABLE = "# Assessment and Plan\nB12 deficiency."


@pytest.mark.parametrize(("note", "more", "said"), [
    *[(_plain(ABLE, f"text/plain; charset={codec}"), (), "no text charset")
      for codec in ("base64", "hex", "zlib", "rot13", "uu", "undefined", "unicode_escape")],
    (_plain(ABLE, "text/plain; charset=utf\x008"), (), "unknown charset"),
    (_plain('<html><meta charset="hex"><p>B12 deficiency</p></html>', "text/html"), (),
     "no text charset"),
    (b.document_reference("n1", "p1", SERVICE, url="Binary/b1"),
     (b.binary("b1", ABLE, content_type="text/plain; charset=base64"),), "no text charset"),
    (_plain(r"{\rtf1 \uc B12 deficiency.}", "text/rtf"), (), "rtf that cannot be read"),
    (_plain(r"{\rtf1 \u9999999999 B12 deficiency.}", "text/rtf"), (),
     "rtf that cannot be read"),
    (_plain("B12 deficiency. " * 65_003, "text/plain"), (), "1,040,048 characters long"),
    (b.document_reference("n1", "p1", SERVICE, data=""), (), "is empty"),
    (_plain(ABLE, "text/plain; charset=utf-16"), (), "not utf-16"),
])
def test_a_body_no_charset_or_reader_can_take_is_an_unreadable_note_not_a_crash(note, more,
                                                                                 said):
    """A hostile-input hunt: charset=base64 (hex, zlib, rot13...) was a LookupError, RTF's \\uc
    with no number a TypeError, a note over 1,000,000 characters spaCy's E088, each a
    traceback ending the run; an empty body and UTF-8 labelled UTF-16 (read as CJK noise) were
    judged as notes saying nothing."""
    found, report = note_codes(note, *more)
    assert found == {"note-unreadable"}
    [error] = [e for e in report.errors if e.resource == "DocumentReference/n1"]
    content_type = (more[0] if more else note["content"][0]["attachment"])["contentType"]
    assert error.message.startswith(f"note ({content_type}): its ")
    assert said in error.message.lower()


def test_the_unreadable_note_finding_names_the_content_type_once_in_a_sentence():
    note = b.document_reference("n1", "p1", SERVICE, data=b.encoded(b"\xff\xfe\xfa fatigue"))
    [finding] = [f for f in note_codes(note)[1].claims[0].findings
                 if f.code == "note-unreadable"]
    assert finding.message == ("The note DocumentReference/n1 (Progress note, text/plain; "
                               f"charset=utf-8) of {SERVICE} cannot be read: its content is not "
                               "valid utf-8 text")


@pytest.mark.parametrize("bom", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_a_byte_order_mark_says_the_charset_where_the_content_type_does_not(bom):
    encoded = ("\ufeff" + ABLE).encode(bom) if bom.endswith("be") else ABLE.encode(bom)
    note = b.document_reference("n1", "p1", SERVICE, data=b.encoded(encoded),
                                content_type="text/plain")
    found, report = note_codes(note)
    assert found == set() and not report.errors


def test_rtf_a_note_of_unclosed_hyperlink_fields_or_font_table_is_read_in_linear_time():
    """striprtf's hyperlink pattern is cubic on unclosed fields (1,500 of them: 21 s) and its
    font table pattern quadratic (160 KB: 27 s); both are rewritten first, the fonts' charsets
    kept."""
    links = "{\\rtf1 Assessment: B12 deficiency. " + '{\\field{\\*\\fldinst{HYPERLINK "a' * 1500
    assert codes(_plain(links, "text/rtf")) == set()
    fonts = (r"{\rtf1{\fonttbl{\f0\fcharset0 Arial;}{\f1\fcharset238 Arial CE;}}"
             r"\f1 Assessment: B12 deficiency, see {\field{\*\fldinst{HYPERLINK "
             r"\"https://x.org\"}}{\fldrslt{the \'9ae guide}}}.\par}")
    assert note_text.rtf_text(fonts) == "Assessment: B12 deficiency, see the \u0161e guide."
    table = "{\\rtf1{\\fonttbl" + "\\f1 x" * 32000 + " Assessment: B12 deficiency}"
    assert note_text.rtf_text(table) == ""  # an unclosed table holds the note: never shown


def test_a_note_over_the_size_cap_is_not_decoded(monkeypatch):
    monkeypatch.setattr(note_text, "MAX_NOTE_BYTES", 1000)
    found, report = note_codes(b.document_reference("n1", "p1", SERVICE, "fatigue " * 500))
    assert found == {"note-unreadable"}
    assert any("larger than" in e.message for e in report.errors)


def test_the_50_mb_cap_is_what_the_spec_allows():
    assert note_text.MAX_NOTE_BYTES == 50 * 1024 * 1024


def test_a_quote_reaches_the_report_and_never_a_log_line(caplog):
    caplog.set_level(logging.DEBUG)
    note = b.document_reference("n1", "p1", SERVICE,
                                "# Assessment and Plan\nShe wants an energy boost shot.")
    found, report = note_codes(note)
    assert found == {"note-symptom-only"}
    [finding] = [f for f in report.claims[0].findings if f.code == "note-symptom-only"]
    assert finding.quote == "DocumentReference/n1: She wants an [[energy boost]] shot."
    assert "energy boost" in report.to_json()
    assert not any("energy boost" in r.getMessage() for r in caplog.records)


def test_the_detected_issue_carries_the_quote_and_validates():
    from datetime import UTC, datetime

    from adapter.output.detected_issue import build_detected_issue

    _, report = note_codes(b.document_reference("n1", "p1", SERVICE, SYMPTOM))
    [claim] = report.claims
    [finding] = [f for f in claim.findings if f.code == "note-symptom-only"]
    issue = build_detected_issue(claim, finding, datetime(2026, 3, 3, tzinfo=UTC))
    assert "B12 shot for [[low energy]]." in issue["detail"]
    assert {"reference": "DocumentReference/n1"} in issue["implicated"]


def _ndjson(folder, resources):
    import json
    from collections import defaultdict

    by_type = defaultdict(list)
    for resource in resources:
        by_type[resource["resourceType"]].append(json.dumps(resource))
    for rtype, lines in by_type.items():
        (folder / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n")


def _file_run(folder):
    from adapter.driver import Driver
    from adapter.file_plan import FilePlan
    from adapter.mappings import load_mappings
    from adapter.output.report import Report
    from adapter.rules import Policy
    from adapter.sources.files import FileSource

    mappings = load_mappings()
    report = Report()
    source = FileSource.open(folder)
    driver = Driver(source, Policy.from_mappings(mappings, mappings.thresholds), mappings,
                    [report], plan=FilePlan(source, mappings))
    driver.run()
    assert driver._chart is not None
    return report, driver._chart[0]


def test_a_file_source_keeps_only_the_notes_of_b12_claims_patients(tmp_path):
    _ndjson(tmp_path, [*clean_chart(), b.patient("p2"),
                       b.document_reference("n1", "p1", SERVICE, SYMPTOM),
                       b.document_reference("n2", "p2", SERVICE, SYMPTOM),
                       b.note_report("dr1", "p1", SERVICE, SYMPTOM)])
    report, chart = _file_run(tmp_path)
    assert set(chart.notes) == {"Patient/p1"}
    assert [n.ref for n in chart.notes["Patient/p1"]] == ["DocumentReference/n1"]
    assert {f.code for f in report.claims[0].findings} & NOTE_CODES == {"note-symptom-only"}


def test_a_free_text_condition_in_a_file_source_documents_its_code(tmp_path):
    chart = clean_chart()
    free = {"resourceType": "Condition", "id": "c1", "subject": b.ref("Patient", "p1"),
            "clinicalStatus": {"coding": [{"system": b.CLINICAL, "code": "active"}]},
            "code": {"text": "Vitamin B12 Deficiency"}, "onsetDateTime": "2024-01-15"}
    _ndjson(tmp_path, [free if r["resourceType"] == "Condition" else r for r in chart])
    report, _ = _file_run(tmp_path)
    found = {f.code for f in report.claims[0].findings}
    assert "dx-text-only" in found and "dx-not-documented" not in found


def test_a_negated_free_text_condition_documents_nothing():
    chart = clean_chart()
    free = {"resourceType": "Condition", "id": "c1", "subject": b.ref("Patient", "p1"),
            "clinicalStatus": {"coding": [{"system": b.CLINICAL, "code": "active"}]},
            "code": {"text": "B12 deficiency ruled out"}, "onsetDateTime": "2024-01-15"}
    report = run(*[free if r["resourceType"] == "Condition" else r for r in chart])
    found = {f.code for f in report.claims[0].findings}
    assert "dx-text-only" not in found and "dx-not-documented" in found


def test_bad_note_input_sets_the_exit_status_and_the_claim_is_still_judged(tmp_path, capsys):
    import json

    from adapter.cli import main

    bundle = tmp_path / "one.json"
    resources = [*clean_chart(), b.document_reference("n1", "p1", SERVICE, data="%%%")]
    bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": r} for r in resources]}))
    assert main(["check", "--source", str(bundle), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["checked"] == 1 and report["summary"]["errors"] == 1
    assert [f["code"] for f in report["claims"][0]["findings"]] == ["note-unreadable"]
    assert report["errors"][0]["resource"] == "DocumentReference/n1"


def test_a_note_past_50_mb_is_refused_before_it_is_decoded():
    huge = "QUFB" * (18 * 1024 * 1024)  # 72 MB of base64: a 54 MB note
    found, report = note_codes(b.document_reference("n1", "p1", SERVICE, data=huge))
    assert found == {"note-unreadable"}
    assert any("larger than 50 MB" in e.message for e in report.errors)


@pytest.mark.parametrize(("said", "fires"), [
    ("# Assessment and Plan\nB12 deficiency, relapse: loading dose restarted weekly.", False),
    ("# Assessment and Plan\nB12 deficiency. No acute distress.", True),
    ("# Assessment and Plan\nB12 deficiency; no loading dose needed.", True),
])
def test_a_loading_phase_stated_in_the_days_note_silences_the_payers_frequency_limit(
        said, fires):
    """Issue 23's frequency-exceeds-policy reads ClaimEvidence.loading_stated, filled from
    each B12 date's notes (DayNotes.loading_phase, read with ConText)."""
    from tests.test_payer_policies import MEDICARE, PAYERS

    dates = ["2025-12-01", "2025-12-02", "2025-12-03", "2025-12-04", "2025-12-05",
             "2025-12-12", "2025-12-19", "2025-12-26", "2026-01-02", "2026-02-01"]
    others = [b.insured(b.claim(f"old{n}", "p1", day), coverage="Coverage/cov1")
              for n, day in enumerate(dates)]
    claim = b.insured(b.claim("k1", "p1", "2026-02-11", supporting=("Condition/c1",
                                                                      "Observation/o1")),
                      coverage="Coverage/cov1")
    chart = [*clean_chart()[:-2], b.administration("a1", "p1", "2026-02-11"),
             b.coverage("cov1", "p1", b.ref("Organization", "cms")), MEDICARE,
             b.document_reference("n1", "p1", "2026-02-11T09:00:00-05:00", said)]
    report = run(*chart, *others, claim, payers=PAYERS)
    result = next(r for r in report.claims if r.claim == "Claim/k1")
    assert ("frequency-exceeds-policy" in {f.code for f in result.findings}) is fires


def test_the_table_for_people_shows_the_notes_sentence():
    from adapter.output.table import render_table

    _, report = note_codes(b.document_reference("n1", "p1", SERVICE, SYMPTOM))
    assert "note says: \u201cDocumentReference/n1: B12 shot for [[low energy]].\u201d" in \
        render_table(report)


# Which notes count, and on which day (SPEC 4.1 "Times", 4.2): a hostile-input hunt

RULED_OUT = "# Assessment and Plan\nB12 deficiency ruled out. B12 injection given."


def _zoned(*resources, zone=None):
    from zoneinfo import ZoneInfo

    from adapter.driver import Driver
    from adapter.mappings import load_mappings
    from adapter.output.report import Report
    from adapter.rules import Policy
    from adapter.sources.memory import MemorySource

    mappings = load_mappings()
    report = Report()
    policy = Policy.from_mappings(mappings, mappings.thresholds, ZoneInfo(zone) if zone else None)
    Driver(MemorySource(list(resources)), policy, mappings, [report]).run()
    [claim] = report.claims
    return {f.code for f in claim.findings} & NOTE_CODES, report


def test_a_note_stamped_in_utc_counts_on_each_day_it_may_be_at_the_clinic():
    # 19:30 in New York on the service date, stored as 00:30Z the next day
    note = b.document_reference("n1", "p1", "2026-03-03T00:30:00Z", RULED_OUT)
    found, report = _zoned(*clean_chart(), note)
    assert found == {"note-contradicts"} and report.claims[0].zone_guessed
    assert any("note stamped in UTC" in said for said in report.run_notes())
    found, report = _zoned(*clean_chart(), note, zone="America/New_York")
    assert found == {"note-contradicts"} and not report.claims[0].zone_guessed
    # a facility in UTC+9 has it on 03-03: not the day's note
    assert _zoned(*clean_chart(), note, zone="Asia/Tokyo")[0] == {"note-missing"}


def test_a_note_stamped_on_the_day_is_read_before_one_that_only_may_be():
    stamped = b.document_reference("n1", "p1", SERVICE, STATED)
    utc = b.document_reference("n2", "p1", "2026-03-03T00:30:00Z", RULED_OUT)
    found, report = _zoned(*clean_chart(), stamped, utc)
    assert found == set() and not report.claims[0].zone_guessed


@pytest.mark.parametrize("when", ["2026-03", "2026"])
def test_a_note_dated_by_a_month_or_a_year_is_no_days_note(when):
    note = b.document_reference("n1", "p1", when, RULED_OUT)
    found, report = note_codes(note)
    assert found == {"note-missing"} and not report.errors
    [missing] = [f for f in report.claims[0].findings if f.code == "note-missing"]
    assert f"DocumentReference/n1 is dated {when} (context.period.start)" in missing.message
    # beside a note of another day it is silently not the day's note
    other = b.document_reference("n2", "p1", "2026-02-20T10:00:00-05:00", SYMPTOM)
    [missing] = [f for f in note_codes(note, other)[1].claims[0].findings
                 if f.code == "note-missing"]
    assert "n1" not in missing.message


def test_a_bad_note_date_names_the_field_it_is_in():
    note = b.document_reference("n1", "p1", "2026-13-40", RULED_OUT)
    _, report = note_codes(note)
    assert [(e.resource, e.message) for e in report.errors] == [
        ("DocumentReference/n1", "context.period.start is not a valid date: '2026-13-40'")]


@pytest.mark.parametrize("no_note", [
    {"docStatus": "entered-in-error"},
    {"resourceType": "DiagnosticReport", "status": "cancelled"},
    {"resourceType": "DiagnosticReport", "status": "entered-in-error"},
])
def test_a_note_entered_in_error_or_cancelled_does_not_count(no_note):
    if no_note.get("resourceType") == "DiagnosticReport":
        note = {**b.note_report("r1", "p1", SERVICE, RULED_OUT), **no_note}
    else:
        note = {**b.document_reference("n1", "p1", SERVICE, RULED_OUT), **no_note}
    assert codes(note) == set()
    # beside a note of the day that counts, it is not read with it
    assert codes(note, b.document_reference("n2", "p1", SERVICE, STATED)) == set()


@pytest.mark.parametrize(("loinc", "display"), [("59284-0", "Consent Document"),
                                                 ("60591-5", "Patient summary Document")])
def test_a_composition_that_is_no_clinical_note_does_not_count(loinc, display):
    document = b.composition("cmp1", "p1", SERVICE, (("Consent", "<p>I consent.</p>"),))
    document["type"] = {"coding": [{"system": b.LOINC, "code": loinc, "display": display}]}
    assert codes(document) == set()  # neither note-no-indication nor a note of the patient
    # another day's summary is no note either: no note-missing on its account
    document["date"] = "2025-11-03T10:00:00Z"
    assert codes(document) == set()


def test_the_report_copy_of_a_replaced_note_is_replaced_too():
    old = b.document_reference("n1", "p1", SERVICE, STATED, status="superseded")
    copy = b.note_report("r1", "p1", SERVICE, STATED)  # Synthea's DiagnosticReport of n1
    new = b.document_reference("n2", "p1", SERVICE, RULED_OUT, replaces="n1")
    assert codes(old, new) == {"note-contradicts"}
    assert codes(old, copy, new) == {"note-contradicts"}


def test_the_same_text_on_two_days_is_each_days_note():
    chart = [*clean_chart(more_dates=("2026-03-09",)),
             b.administration("a2", "p1", "2026-03-09")]
    first = b.document_reference("n1", "p1", SERVICE, SYMPTOM)
    again = b.document_reference("n2", "p1", "2026-03-09", SYMPTOM)
    found, report = note_codes(first, again, chart=chart)
    assert found == {"note-symptom-only"}
    days = {f.day.isoformat() for f in report.claims[0].findings if f.code.startswith("note-")}
    assert days == {SERVICE, "2026-03-09"}


def test_a_replacing_note_dated_only_when_written_documents_the_replaced_notes_visit():
    old = b.document_reference("n1", "p1", SERVICE, RULED_OUT, status="superseded")
    new = b.document_reference("n2", "p1", "2026-03-04T09:00:00-05:00", STATED,
                               replaces="n1", period=False)
    assert codes(old, new) == set()
    # with a clinical time of its own, it is the note of that time
    timed = b.document_reference("n2", "p1", "2026-03-04T09:00:00-05:00", STATED,
                                 replaces="n1")
    assert codes(old, timed) == {"note-missing"}


def test_a_note_that_replaces_itself_still_counts_and_is_named():
    note = b.document_reference("n1", "p1", SERVICE, RULED_OUT, replaces="n1")
    found, report = note_codes(note)
    assert found == {"note-contradicts"}
    assert [(e.resource, e.message) for e in report.errors] == [
        ("DocumentReference/n1", "relatesTo 'replaces' names the note itself: ignored")]


def test_two_notes_that_replace_each_other_are_both_read_and_named():
    first = b.document_reference("n1", "p1", SERVICE, SYMPTOM, replaces="n2")
    second = b.document_reference("n2", "p1", SERVICE, RULED_OUT, replaces="n1")
    found, report = note_codes(first, second)
    assert found == {"note-symptom-only", "note-contradicts"}  # each note's words count
    assert [(e.resource, e.message) for e in report.errors] == [
        ("DocumentReference/n1", "relatesTo 'replaces' names DocumentReference/n2, which "
         "replaces this note in turn: ignored, both notes are read as if neither replaced "
         "the other")]


def test_notes_that_replace_each_other_round_a_cycle_are_all_read_and_named_once():
    notes = [b.document_reference("n1", "p1", SERVICE, SYMPTOM, replaces="n2"),
             b.document_reference("n2", "p1", SERVICE, SYMPTOM, replaces="n3"),
             b.document_reference("n3", "p1", SERVICE, RULED_OUT, replaces="n1"),
             # out of the cycle, a replacement still holds: n4's words are not read
             b.document_reference("n4", "p1", SERVICE, STATED, status="superseded"),
             b.document_reference("n5", "p1", SERVICE, SYMPTOM, replaces="n4")]
    found, report = note_codes(*notes)
    assert found == {"note-symptom-only", "note-contradicts"}
    assert [(e.resource, e.message) for e in report.errors] == [
        ("DocumentReference/n1", "relatesTo 'replaces' makes a cycle with "
         "DocumentReference/n2, DocumentReference/n3: ignored, every note of it is read as "
         "if none replaced another")]


def test_a_contained_binary_is_read():
    note = b.document_reference("n1", "p1", SERVICE, url="#b1")
    note["contained"] = [b.binary("b1", RULED_OUT)]
    assert codes(note) == {"note-contradicts"}
    note["contained"] = [b.binary("b1", RULED_OUT, data="%%%")]
    found, report = note_codes(note)
    assert found == {"note-unreadable"}
    assert [e.resource for e in report.errors] == ["DocumentReference/n1"]


def test_a_binary_named_by_its_bundle_fullurl_is_read(tmp_path, capsys):
    import json

    from adapter.cli import main

    note = b.document_reference("n1", "p1", SERVICE, url="urn:uuid:7f1c0d9e-0b1a-4c55-9e4e-1")
    entries = [{"resource": r} for r in clean_chart()]
    entries += [{"fullUrl": "urn:uuid:7f1c0d9e-0b1a-4c55-9e4e-1",
                 "resource": b.binary("b1", RULED_OUT),
                 "request": {"method": "POST", "url": "Binary"}},
                {"resource": note}]
    bundle = tmp_path / "tx.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "transaction",
                                  "entry": entries}))
    assert main(["check", "--source", str(bundle), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [f["code"] for f in report["claims"][0]["findings"]] == ["note-contradicts"]
    assert report["errors"] == []


def test_a_long_assessment_is_read_in_pieces_each_mention_in_its_own_sentence():
    """ConText compares every modifier with every mention of a doc: a note repeating "no B12
    deficiency, history of pernicious anemia." took 51 s at 98k characters. Read in pieces of
    whole sentences, each mention keeps its sentence's context and quote."""
    from adapter.notes.reader import PIECE_CHARS, read_mentions

    text = "Assessment: " + "No B12 deficiency. Pernicious anemia, resolved. Celiac disease. " * 60
    assert len(text) > 3 * PIECE_CHARS
    mentions = read_mentions(text)
    assert [m.context for m in mentions] == ["negated", "historical", "affirmed"] * 60
    assert {m.sentence for m in mentions} == {
        "No [[B12 deficiency]].", "[[Pernicious anemia]], resolved.", "[[Celiac disease]]."}
    one_sentence = "Assessment: " + "possible B12 deficiency, " * 100  # cut between words
    assert len(read_mentions(one_sentence)) == 100
