"""Notes from a FHIR server (SPEC 4.2 "Cost"): the page's DocumentReferences, Compositions and
note DiagnosticReports of the B12 dates come in the page's one batch, the Binaries they point
at in one more; at most 0.05 requests per claim. The server here answers batches from a list
of resources (``responses``: no network)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import responses

from adapter.driver import Driver
from adapter.evidence.needs import record_searches
from adapter.fhir import NO_RETRY, FhirClient
from adapter.mappings import load_mappings
from adapter.output.report import Report
from adapter.rules import Policy
from adapter.sources.server import ClaimSelection, ServerSource
from fixtures import builders as b
from tests.scenario import SERVICE

BASE = "http://127.0.0.1:9/fhir"
SYMPTOM = "# Assessment and Plan\nB12 shot for low energy."
STATED = "# Assessment and Plan\nVitamin B12 deficiency, continue monthly injections."
Resource = dict[str, Any]


def _day_of(resource: Resource) -> str | None:
    for field in ("date", "effectiveDateTime"):
        if isinstance(resource.get(field), str):
            return resource[field][:10]
    return None


def _matches(resource: Resource, params: list[tuple[str, str]]) -> bool:
    for name, value in params:
        if name in ("patient", "subject"):
            owner = (resource.get("subject") or resource.get("patient") or {}).get("reference")
            if owner not in value.split(","):
                return False
        elif name == "_id" and resource["id"] not in value.split(","):
            return False
        elif name == "date" and (day := _day_of(resource)):
            op, bound = value[:2], value[2:]
            if (op == "ge" and day < bound) or (op == "lt" and day >= bound):
                return False
    return True


class Server:
    def __init__(self, chart: list[Resource], claims: list[Resource]) -> None:
        self.chart = chart
        self.searched: list[str] = []
        self.refused: dict[str, tuple[int, Resource]] = {}  # type -> status, OperationOutcome
        responses.get(f"{BASE}/Claim", json=self._searchset(claims))
        responses.get(f"{BASE}/ExplanationOfBenefit", json=self._searchset([]))
        responses.add_callback(responses.POST, BASE, callback=self._batch)

    @staticmethod
    def _searchset(found: list[Resource]) -> Resource:
        return {"resourceType": "Bundle", "type": "searchset",
                "entry": [{"resource": r, "search": {"mode": "match"}} for r in found]}

    def _batch(self, request: Any) -> tuple[int, dict[str, str], str]:
        entries = []
        for entry in json.loads(request.body)["entry"]:
            url = urlsplit(entry["request"]["url"])
            rtype, params = url.path.rsplit("/", 1)[-1], parse_qsl(url.query)
            self.searched.append(entry["request"]["url"])
            if rtype in self.refused:
                status, outcome = self.refused[rtype]
                entries.append({"response": {"status": str(status), "outcome": outcome}})
                continue
            found = [r for r in self.chart if r["resourceType"] == rtype and _matches(r, params)]
            entries.append({"resource": self._searchset(found),
                            "response": {"status": "200 OK"}})
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "batch-response",
                                    "entry": entries})


def _run(**client: Any) -> Report:
    mappings = load_mappings()
    report = Report()
    client = FhirClient(BASE, page_size=100, **client)
    source = ServerSource(client, ClaimSelection(), record_searches(mappings))
    Driver(source, Policy.from_mappings(mappings, mappings.thresholds), mappings,
           [report]).run()
    return report


def _patient(n: int, note: list[Resource]) -> tuple[list[Resource], Resource]:
    pid = f"p{n}"
    return [b.patient(pid), b.condition(f"c{n}", pid, icd="E53.8"),
            b.lab(f"o{n}", pid, "b12", 150, "pg/mL", "2026-02-10"),
            b.administration(f"a{n}", pid, SERVICE), *note], b.claim(
        f"k{n}", pid, SERVICE, supporting=(f"Condition/c{n}", f"Observation/o{n}"))


@responses.activate
def test_notes_and_their_binaries_cost_two_batches_a_page_at_most_005_requests_a_claim():
    chart, claims = [], []
    for n in range(100):
        note = ([b.document_reference(f"n{n}", f"p{n}", SERVICE, url=f"Binary/bin{n}"),
                 b.binary(f"bin{n}", SYMPTOM if n % 2 else STATED)] if n % 10 else
                [b.composition(f"cmp{n}", f"p{n}", SERVICE, (("Assessment", "Low energy."),))])
        records, claim = _patient(n, note)
        chart += records
        claims.append(claim)
    server = Server(chart, claims)
    report = _run()
    assert not report.errors, report.errors[:3]
    codes = {c.claim: {f.code for f in c.findings} for c in report.claims}
    assert "note-symptom-only" in codes["Claim/k1"]  # a note whose text is in a Binary
    assert not codes["Claim/k2"] & {"note-symptom-only", "note-no-indication", "note-missing"}
    assert "note-symptom-only" in codes["Claim/k10"]  # the Composition's assessment
    requests_made = len(responses.calls)
    assert requests_made / len(claims) <= 0.05, [c.request.url for c in responses.calls]
    assert sum("Binary?" in url for url in server.searched) == 1
    dated = [url for url in server.searched if url.startswith("DocumentReference?")]
    assert dated and "date=ge2026-03-01" in dated[0] and "date=lt2026-03-04" in dated[0]


@responses.activate
def test_a_binary_the_server_does_not_hold_is_a_named_problem():
    records, claim = _patient(1, [b.document_reference("n1", "p1", SERVICE,
                                                       url="Binary/gone")])
    Server(records, [claim])
    report = _run()
    assert {f.code for f in report.claims[0].findings} >= {"note-unreadable"}
    assert any(e.resource == "DocumentReference/n1" and "Binary/gone" in e.message
               for e in report.errors)


@responses.activate
def test_a_note_outside_the_pages_dates_is_not_fetched_but_counts_as_held():
    """Only the dates' notes are read; whether the patient holds notes at all is asked in
    the same batch (one entry per patient), so note-missing fires as in file mode."""
    records, claim = _patient(1, [b.document_reference("n1", "p1", "2025-06-01", SYMPTOM)])
    Server(records, [claim])
    report = _run()
    found = {f.code for f in report.claims[0].findings}
    assert "note-symptom-only" not in found and "note-missing" in found
    assert len(responses.calls) == 3  # claims, payer EOBs, the one batch


@responses.activate
def test_a_patient_without_notes_on_the_server_earns_no_note_missing():
    records, claim = _patient(1, [])
    Server(records, [claim])
    report = _run()
    assert not {f.code for f in report.claims[0].findings} & {"note-missing"}


def _outcome(text: str, code: str = "processing") -> Resource:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "details": {"text": text}}]}


@responses.activate
def test_a_note_type_the_server_does_not_support_is_said_once_and_the_others_are_read():
    chart, claims = [], []
    for n in range(3):
        records, claim = _patient(n, [b.document_reference(f"n{n}", f"p{n}", SERVICE, SYMPTOM)])
        chart, claims = chart + records, [*claims, claim]
    server = Server(chart, claims)
    server.refused = {  # HAPI's words; another server's bare code
        "Composition": (400, _outcome("HAPI-0302: Unknown resource type 'Composition' - "
                                      "Server knows how to handle: [Patient, ...]")),
        "DiagnosticReport": (422, _outcome("Resource not available here", "not-supported"))}
    report = _run()
    assert not report.errors, report.errors[:3]
    assert len(report.claims) == 3
    assert all("note-symptom-only" in {f.code for f in c.findings} for c in report.claims)
    assert [n.split(" (")[0] for n in report.run_notes()] == [
        "the server does not support Composition", "the server does not support DiagnosticReport"]
    assert "notes are read from DocumentReference" in report.run_notes()[0]


@responses.activate
def test_a_server_failure_on_a_note_search_stays_an_error_naming_a_short_url():
    """Only a clear "not supported" counts: a 500 (or a 403) is an error, as before; the
    error shows the search's path and the start of its query, not the kilobytes of it."""
    chart, claims = [], []
    for n in range(60):
        records, claim = _patient(n, [])
        chart, claims = chart + records, [*claims, claim]
    server = Server(chart, claims)
    server.refused = {"Composition": (500, _outcome("Unknown resource type, database down"))}
    report = _run(retry=NO_RETRY)  # retried as ever, here at once
    assert not report.claims and not report.run_notes()
    messages = [e.message for e in report.errors]
    assert len(messages) == 60 and "-> 500: Unknown resource type, database down" in messages[0]
    url = messages[0].split("POST ", 1)[-1].split("GET ", 1)[-1].split(" ->")[0]
    assert url.startswith(f"{BASE}/Composition?") and url.endswith("more characters)")
    assert len(url) < len(BASE) + 160
