"""``load``'s conditional creates, decided without a server: what each entry says, the order
resources go up in, and references across transactions (end to end, against a server that
refuses client ids: tests/integration/test_server_faults.py)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import requests
import responses

from adapter.cli import main
from adapter.fhir import FhirClient, RetryPolicy
from adapter.load import (
    SOURCE_ID_SYSTEM,
    _as_loaded,
    _referenced_first,
    conditional_create,
    full_url,
    load,
)
from fixtures import builders as b
from tests.scenario import SERVICE

BASE = "http://fhir.test/fhir"


def test_an_entry_is_a_conditional_create_on_the_source_identifier_without_the_files_id():
    patient = {**b.patient("p1"), "meta": {"versionId": "7", "lastUpdated": "2026-01-01T00:00:00Z",
                                           "profile": ["http://example.org/p"]}}
    entry = conditional_create(patient, {})
    assert entry["fullUrl"] == full_url("Patient/p1") == conditional_create(patient, {})["fullUrl"]
    assert entry["request"]["method"] == "POST" and entry["request"]["url"] == "Patient"
    assert unquote(entry["request"]["ifNoneExist"]) == f"identifier={SOURCE_ID_SYSTEM}|Patient/p1"
    body = entry["resource"]
    assert "id" not in body and body["meta"] == {"profile": ["http://example.org/p"]}
    assert body["identifier"][-1] == {"system": SOURCE_ID_SYSTEM, "value": "Patient/p1"}
    again = conditional_create({**patient, "identifier": body["identifier"]}, {})
    assert again["resource"]["identifier"] == body["identifier"]  # never added twice


def test_references_point_where_the_loader_says():
    claim = b.claim("k1", "p1", SERVICE, supporting=("Condition/c1",))
    entry = conditional_create(claim, {"Patient/p1": "urn:uuid:x", "Condition/c1": "Condition/9"})
    assert entry["resource"]["patient"] == {"reference": "urn:uuid:x"}
    assert entry["resource"]["supportingInfo"][0]["valueReference"] == {
        "reference": "Condition/9"}


def test_resources_go_up_after_what_they_reference():
    observation = b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-01")
    condition = b.condition("c1", "p1", icd="E53.8")
    condition["evidence"] = [{"detail": [{"reference": "Observation/o1"}]}]
    ordered = _referenced_first([condition, observation, b.patient("p1")])
    assert [f"{r['resourceType']}/{r['id']}" for r in ordered] == [
        "Patient/p1", "Observation/o1", "Condition/c1"]


class Server:
    """Answers each transaction entry 201 with a server id, except entries whose source id is
    in ``refuse`` (400)."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.refuse = refuse
        self.sent: list[dict[str, Any]] = []
        responses.add_callback(responses.POST, BASE, callback=self.answer)

    def answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        bundle = json.loads(request.body)
        self.sent.append(bundle)
        entries = []
        for entry in bundle["entry"]:
            source = entry["resource"]["identifier"][-1]["value"]
            if source in self.refuse:
                entries.append({"response": {"status": "400", "outcome": {
                    "resourceType": "OperationOutcome", "issue": [{"diagnostics": "no"}]}}})
            else:
                rtype, rid = source.split("/")
                entries.append({"response": {"status": "201",
                                             "location": f"{rtype}/srv-{rid}/_history/1"}})
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "transaction-response",
                                    "entry": entries})


def _client() -> FhirClient:
    return FhirClient(BASE, writable_types=frozenset({"Patient", "Condition", "Claim"}),
                      retry=RetryPolicy(max_attempts=1))


@responses.activate
def test_a_reference_to_a_resource_of_an_earlier_transaction_gets_its_server_id():
    server = Server()
    totals = load(_client(), [b.patient("p1"), b.claim("k1", "p1", SERVICE)], chunk_size=1)
    assert (totals.loaded, totals.created, totals.transactions) == (2, 2, 2)
    assert server.sent[1]["entry"][0]["resource"]["patient"] == {"reference": "Patient/srv-p1"}


@responses.activate
def test_a_resource_never_shares_a_transaction_with_what_it_points_at():
    """Issue 25: a Claim committed beside a Condition the server refused pointed at nothing
    (servers do not all roll a transaction back); it now goes after, once its targets landed."""
    server = Server()
    totals = load(_client(), [b.patient("p1"), b.patient("p2"), b.claim("k1", "p1", SERVICE)],
                  chunk_size=8)
    assert [len(t["entry"]) for t in server.sent] == [2, 1] and totals.loaded == 3
    claim = server.sent[1]["entry"][0]["resource"]
    assert claim["patient"] == {"reference": "Patient/srv-p1"}


@responses.activate
def test_a_claim_whose_condition_was_refused_in_the_same_chunk_is_held_back():
    server = Server(refuse=frozenset({"Condition/c1"}))
    condition = b.condition("c1", "p1", icd="E53.8")
    claim = b.claim("k1", "p1", SERVICE, supporting=("Condition/c1",))
    totals = load(_client(), [b.patient("p1"), condition, claim], chunk_size=8)
    assert totals.loaded == 1 and totals.refused == 2
    assert [p.resource for p in totals.problems] == ["Condition/c1", "Claim/k1"]
    assert "400: no" in totals.problems[0].message
    assert "points at Condition/c1 and the server did not take it" in totals.problems[1].message
    assert all(e["resource"]["resourceType"] != "Claim" for t in server.sent for e in t["entry"])


@responses.activate
def test_what_points_at_a_refused_resource_is_not_sent_and_both_are_named():
    server = Server(refuse=frozenset({"Patient/p1"}))
    resources = [b.patient("p1"), b.patient("p2"), b.claim("k1", "p1", SERVICE),
                 b.claim("k2", "p2", SERVICE)]
    totals = load(_client(), resources, chunk_size=2)
    assert totals.loaded == 2 and totals.refused == 2
    assert [p.resource for p in totals.problems] == ["Patient/p1", "Claim/k1"]
    assert "400: no" in totals.problems[0].message
    assert "points at Patient/p1" in totals.problems[1].message
    assert [e["resource"]["identifier"][-1]["value"] for e in server.sent[1]["entry"]] == [
        "Claim/k2"]


@responses.activate
def test_a_reference_cycle_goes_up_in_one_transaction_by_full_urls():
    """An Encounter and its Condition pointing at each other (Synthea writes both ways):
    neither can land first, so they share a transaction; what points at them goes after."""
    server = Server()
    encounter = {"resourceType": "Encounter", "id": "e1", "status": "finished",
                 "class": {"code": "AMB"}, "subject": {"reference": "Patient/p1"},
                 "diagnosis": [{"condition": {"reference": "Condition/c1"}}]}
    condition = b.condition("c1", "p1", icd="E53.8", encounter="e1")
    claim = b.claim("k1", "p1", SERVICE, supporting=("Condition/c1",))
    client = FhirClient(BASE, writable_types=frozenset(
        {"Patient", "Condition", "Encounter", "Claim"}), retry=RetryPolicy(max_attempts=1))
    totals = load(client, [b.patient("p1"), claim, condition, encounter], chunk_size=8)
    assert totals.problems == [] and totals.loaded == 4
    sent = [[e["resource"]["identifier"][-1]["value"] for e in t["entry"]] for t in server.sent]
    assert [sorted(t) for t in sent] == [["Patient/p1"], ["Condition/c1", "Encounter/e1"],
                                         ["Claim/k1"]]
    cycle = {e["resource"]["resourceType"]: e["resource"] for e in server.sent[1]["entry"]}
    assert cycle["Condition"]["encounter"] == {"reference": full_url("Encounter/e1")}
    assert cycle["Encounter"]["diagnosis"][0]["condition"] == {
        "reference": full_url("Condition/c1")}


@responses.activate
def test_a_versioned_absolute_or_padded_reference_gets_the_server_id_too():
    """Every form the file source resolves (fields.resolvable): they went up as written,
    pointing at ids the server does not have, and load said all loaded."""
    server = Server()
    claim = b.claim("k1", "p1", SERVICE, supporting=("Condition/c1/_history/3",
                                                     "http://old.example/fhir/R4/Condition/c2"))
    claim["patient"] = {"reference": " Patient/p1 "}
    resources = [claim, b.condition("c1", "p1", icd="E53.8"),
                 b.condition("c2", "p1", icd="D51.0"), b.patient("p1")]
    totals = load(_client(), resources, chunk_size=8)
    assert totals.problems == [] and totals.loaded == 4
    sent = server.sent[-1]["entry"][0]["resource"]  # after what it points at, as Type/id
    assert sent["patient"] == {"reference": "Patient/srv-p1"}
    assert [s["valueReference"] for s in sent["supportingInfo"]] == [
        {"reference": "Condition/srv-c1"}, {"reference": "Condition/srv-c2"}]


@responses.activate
def test_with_keep_ids_every_form_is_written_as_type_and_id():
    sent: list[dict[str, Any]] = []

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        bundle = json.loads(request.body)
        sent.extend(e["resource"] for e in bundle["entry"])
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "transaction-response",
                                    "entry": [{"response": {"status": "201", "location":
                                               f"{e['request']['url']}/_history/1"}}
                                              for e in bundle["entry"]]})

    responses.add_callback(responses.POST, BASE, callback=answer)
    claim = b.claim("k1", "p1", SERVICE, supporting=("http://old.example/Condition/c1",))
    totals = load(_client(), [claim, b.condition("c1", "p1", icd="E53.8"), b.patient("p1")],
                  keep_ids=True)
    assert totals.problems == [] and totals.loaded == 3
    assert sent[-1]["supportingInfo"][0]["valueReference"] == {"reference": "Condition/c1"}


def test_a_notes_binary_is_pointed_at_like_a_reference():
    note = b.document_reference("n1", "p1", "2026-02-01", url="http://old.example/Binary/b1")
    ordered = _referenced_first(_as_loaded_each([note, b.binary("b1", "B12 low")]))
    assert [r["id"] for r in ordered] == ["b1", "n1"]  # the Binary first
    assert ordered[1]["content"][0]["attachment"]["url"] == "Binary/b1"
    entry = conditional_create(ordered[1], {"Binary/b1": "Binary/9", "Patient/p1": "Patient/8"})
    assert entry["resource"]["content"][0]["attachment"]["url"] == "Binary/9"


def _as_loaded_each(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    loading = {f"{r['resourceType']}/{r['id']}" for r in resources}
    return [_as_loaded(r, loading) for r in resources]


@responses.activate
def test_a_link_load_cannot_rewrite_holds_its_resource_back_naming_the_element():
    server = Server()
    patient = b.patient("p1")
    patient["photo"] = [{"contentType": "image/png", "url": "http://old.example/Condition/c1"}]
    # a canonical resource's own url and an extension's url are identities, not links
    questionnaire = {"resourceType": "Questionnaire", "id": "q1", "status": "active",
                     "url": "http://example.org/fhir/Questionnaire/q1"}
    other = {**b.patient("p2"), "extension": [
        {"url": "http://example.org/fhir/Questionnaire/q1", "valueString": "x"}]}
    client = FhirClient(BASE, writable_types=frozenset({"Patient", "Condition", "Questionnaire"}),
                        retry=RetryPolicy(max_attempts=1))
    totals = load(client, [patient, b.condition("c1", "p2", icd="E53.8"), other, questionnaire],
                  chunk_size=8)
    assert totals.loaded == 3 and [p.resource for p in totals.problems] == ["Patient/p1"]
    assert totals.problems[0].message.startswith(
        "not loaded: photo[0].url names Condition/c1, which load cannot point at the server's "
        "id there")
    assert "--keep-ids" in totals.problems[0].message
    assert all(e["resource"]["identifier"][-1]["value"] != "Patient/p1"
               for t in server.sent for e in t["entry"])


@responses.activate
def test_a_resource_found_after_a_lost_answer_is_not_called_already_there(tmp_path, capsys):
    """The first transaction timed out after the server committed it; sent again, its
    conditional creates answer 200. load searched nothing before (it cannot know whether an
    earlier load made them): it says it cannot tell, not "already there"."""
    def timed_out(request: Any) -> Any:
        raise requests.ReadTimeout("read timed out")

    def found(request: Any) -> tuple[int, dict[str, str], str]:
        entries = [{"response": {"status": "200 OK", "location":
                    f"Patient/srv-{n}/_history/1"}} for n, _ in
                   enumerate(json.loads(request.body)["entry"])]
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "transaction-response",
                                    "entry": entries})

    responses.add_callback(responses.POST, BASE, callback=timed_out)
    responses.add_callback(responses.POST, BASE, callback=found)
    client = FhirClient(BASE, writable_types=frozenset({"Patient"}),
                        retry=RetryPolicy(sleep=lambda s: None))
    totals = load(client, [b.patient("p1"), b.patient("p2")])
    assert (totals.loaded, totals.created, totals.unsure) == (2, 0, 2)

    source = tmp_path / "Patient.ndjson"
    source.write_text('{"resourceType": "Patient", "id": "p1"}\n')
    responses.add_callback(responses.POST, BASE, callback=timed_out)
    responses.add_callback(responses.POST, BASE, callback=found)
    assert main(["load", "--source", str(source), "--server", BASE]) == 0
    out = capsys.readouterr().out
    assert ": 0 created, 0 already there, 1 created now or already there (sent again" in out
