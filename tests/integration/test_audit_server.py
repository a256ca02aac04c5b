"""``audit --server`` against a real FHIR server process on 127.0.0.1: the same page as from
files, provider names read from the server, and nothing written."""

from __future__ import annotations

import json
import re
from typing import Any

import requests

from adapter.cli import main
from adapter.fhir import FhirClient
from adapter.load import load
from fixtures import builders as b
from tests.audit.scenario import backed

CLAIM_ID = "urn:b12-fhir-adapter:claim"


def _chart() -> list[dict[str, Any]]:
    return [
        b.practitioner("au-d1", "Ana", "Ortiz", "Dr.", "MD"),
        b.practitioner("au-d2", "Ben", "Hale"),
        b.location("au-l1", "Main Clinic"),
        b.patient("au-p1", name=("Alma", "Abbott")),
        *backed("au-k1", "au-p1", "2026-03-02", practitioner="au-d1", facility="au-l1")[1:],
        *backed("au-k2", "au-p2", "2026-03-09", practitioner="au-d1", facility="au-l1",
                given=False),
        *backed("au-k3", "au-p3", "2026-02-02", practitioner="au-d2", lab=None),
    ]


def _rows(html: str) -> list[tuple[str, str]]:
    return re.findall(r'class="sample-row" data-claim="([^"]+)" data-verdict="([^"]+)"', html)


def test_audit_from_a_server_reads_names_there_and_writes_nothing(fhir_server, tmp_path,
                                                                    capsys):
    chart = _chart()
    with FhirClient(fhir_server,
                    writable_types=frozenset(r["resourceType"] for r in chart)) as client:
        assert not load(client, chart, keep_ids=True).problems
    claims = ["--claim", "au-k1", "--claim", "au-k2", "--claim", "au-k3"]
    from_server, with_names, from_files = (tmp_path / n for n in ("s.html", "n.html", "f.html"))

    assert main(["audit", "--server", fhir_server, *claims, "--out", str(from_server),
                 "--stats"]) == 0
    out, err = capsys.readouterr()
    assert "3 claims in the period" in out
    assert "requests: " in err
    assert main(["audit", "--server", fhir_server, *claims, "--out", str(with_names),
                 "--show-names"]) == 0
    files = tmp_path / "chart.ndjson"
    files.write_text("".join(json.dumps(r) + "\n" for r in chart))
    assert main(["audit", "--source", str(files), "--out", str(from_files)]) == 0

    html = from_server.read_text()
    for name in ("Dr. Ana Ortiz MD", "Ben Hale", "Main Clinic"):
        assert name in html
    assert "Alma Abbott" not in html and "Patient/au-p1" in html
    assert "Alma Abbott" in with_names.read_text()
    assert _rows(html) == _rows(from_files.read_text()) == [
        ("Claim/au-k2", "unsupported"), ("Claim/au-k1", "supported"), ("Claim/au-k3", "review")]
    for claim in ("au-k1", "au-k2", "au-k3"):  # an audit reads; it writes no DetectedIssue
        found = requests.get(f"{fhir_server}/DetectedIssue", params={
            "identifier": f"{CLAIM_ID}|Claim/{claim}"}, timeout=30).json()
        assert not found.get("entry")


def test_a_provider_the_server_does_not_hold_shows_as_its_reference(fhir_server, tmp_path):
    chart = backed("an-k1", "an-p1", "2026-03-02", practitioner="an-nobody")
    with FhirClient(fhir_server,
                    writable_types=frozenset(r["resourceType"] for r in chart)) as client:
        assert not load(client, chart, keep_ids=True).problems
    out = tmp_path / "r.html"

    assert main(["audit", "--server", fhir_server, "--claim", "an-k1", "--out", str(out)]) == 0

    assert "Practitioner/an-nobody" in out.read_text()


def test_names_that_cannot_be_read_leave_the_references_and_exit_1(fhir_server, tmp_path,
                                                                   monkeypatch, capsys):
    from adapter.fhir.errors import FhirAuthError
    from adapter.output.audit import lookup

    def refused(client: FhirClient, refs: object) -> dict[str, str]:
        raise FhirAuthError("POST", fhir_server, 403, "Practitioner.read is not in the scope")

    chart = backed("ar-k1", "ar-p1", "2026-03-02", practitioner="ar-d1")
    with FhirClient(fhir_server,
                    writable_types=frozenset(r["resourceType"] for r in chart)) as client:
        assert not load(client, chart, keep_ids=True).problems
    monkeypatch.setattr(lookup, "provider_names", refused)
    out = tmp_path / "r.html"

    assert main(["audit", "--server", fhir_server, "--claim", "ar-k1", "--out", str(out)]) == 1

    assert "provider names: POST" in (err := capsys.readouterr().err)
    assert "403: Practitioner.read is not in the scope" in err
    assert "Practitioner/ar-d1" in out.read_text() and 'data-claim="Claim/ar-k1"' in out.read_text()


def test_a_server_run_links_each_claim_and_resource_to_the_link_base(fhir_server, tmp_path):
    chart = [b.practitioner("al-d1", "Ana", "Ortiz"),
             *backed("al-k1", "al-p1", "2026-03-02", practitioner="al-d1")]
    with FhirClient(fhir_server,
                    writable_types=frozenset(r["resourceType"] for r in chart)) as client:
        assert not load(client, chart, keep_ids=True).problems
    out = tmp_path / "r.html"

    assert main(["audit", "--server", fhir_server, "--claim", "al-k1", "--out", str(out),
                 "--link-base", fhir_server]) == 0

    links = set(re.findall(r'<a class="ref" href="([^"]+)"', out.read_text()))
    assert {f"{fhir_server}/{ref}" for ref in (
        "Claim/al-k1", "Patient/al-p1", "Condition/al-k1-c", "Observation/al-k1-o",
        "Practitioner/al-d1")} <= links
    for url in links:  # each link opens the resource on the server it names
        found = requests.get(url, timeout=30)
        assert found.status_code == 200, url
        assert url.endswith(f"{found.json()['resourceType']}/{found.json()['id']}")
