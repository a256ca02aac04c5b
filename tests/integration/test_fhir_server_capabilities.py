"""What the test FHIR server (Medplum's FhirRouter + MemoryRepository) does, pinned with
plain HTTP: the request shapes the adapter relies on, and where this engine differs from
the FHIR spec or from other servers (each such test says so in its name and docstring).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

FHIR_JSON = {"Content-Type": "application/fhir+json"}
ISSUE_SYSTEM = "http://example.org/x"


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers.update({"Accept": "application/fhir+json"})
        yield session


@pytest.fixture
def uid() -> str:
    """A prefix no other test (nor another test module on the shared server) uses."""
    return f"cap{uuid.uuid4().hex[:10]}"


def _put(http: requests.Session, base: str, resource: dict[str, Any],
         **headers: str) -> requests.Response:
    url = f"{base}/{resource['resourceType']}/{resource['id']}"
    return http.put(url, json=resource, headers={**FHIR_JSON, **headers}, timeout=10)


def _ok(response: requests.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    return response.json()


def _get(http: requests.Session, url: str, status: int = 200) -> dict[str, Any]:
    return _ok(http.get(url, timeout=10), status)


def _post_bundle(http: requests.Session, base: str, bundle: dict[str, Any],
                 status: int = 200) -> dict[str, Any]:
    return _ok(http.post(base, json=bundle, headers=FHIR_JSON, timeout=10), status)


def _ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])
            if e.get("search", {}).get("mode") == mode]


def _link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((ln["url"] for ln in bundle.get("link", []) if ln["relation"] == relation), None)


def _claim(cid: str, patient: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Claim", "id": cid, "status": "active", "use": "claim",
            "patient": {"reference": f"Patient/{patient}"}, **extra}


def _issue(value: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "DetectedIssue", "status": "final",
            "identifier": [{"system": ISSUE_SYSTEM, "value": value}], **extra}


def _conditional_create(value: str, **extra: Any) -> dict[str, Any]:
    return {"resource": _issue(value, **extra),
            "request": {"method": "POST", "url": "DetectedIssue",
                        "ifNoneExist": f"identifier={ISSUE_SYSTEM}|{value}"}}


def _transaction(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def _outcome_text(outcome: dict[str, Any]) -> str:
    assert outcome["resourceType"] == "OperationOutcome"
    return outcome["issue"][0]["details"]["text"]


# (0) metadata ------------------------------------------------------------------------------------


def test_metadata_is_an_r4_capability_statement(fhir_server, http):
    statement = _get(http, f"{fhir_server}/metadata")
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert {"Claim", "DetectedIssue", "Observation", "MedicationAdministration"} <= set(resources)
    assert "implicated" in {p["name"] for p in resources["DetectedIssue"]["searchParam"]}


# (1) create / read with client-assigned ids ------------------------------------------------------


def test_put_with_client_ids_creates_and_get_reads_them_back(fhir_server, http, uid):
    patient = _ok(_put(http, fhir_server, {"resourceType": "Patient", "id": f"{uid}-p1"}))
    response = _put(http, fhir_server, _claim(f"{uid}-k1", f"{uid}-p1"))
    # Update-as-create answers 200, not 201 (FhirRouter's update route always says allOk),
    # with no Location header.
    claim = _ok(response, 200)
    assert "Location" not in response.headers
    assert response.headers["ETag"] == f'W/"{claim["meta"]["versionId"]}"'
    assert "Last-Modified" in response.headers

    for created in (patient, claim):
        read = _get(http, f"{fhir_server}/{created['resourceType']}/{created['id']}")
        assert read["id"] == created["id"]
        assert read["meta"]["versionId"] == created["meta"]["versionId"]
        assert read["meta"]["lastUpdated"].endswith("Z")
        assert read["meta"]["lastUpdated"] == created["meta"]["lastUpdated"]
    assert _get(http, f"{fhir_server}/Claim/{uid}-k1")["patient"]["reference"] == \
        f"Patient/{uid}-p1"


def test_post_create_answers_201_with_a_server_id_and_location(fhir_server, http):
    response = http.post(f"{fhir_server}/Patient", json={"resourceType": "Patient"},
                         headers=FHIR_JSON, timeout=10)
    patient = _ok(response, 201)
    assert response.headers["Location"] == f"{fhir_server}/Patient/{patient['id']}"
    assert _get(http, f"{fhir_server}/Patient/{patient['id']}")["id"] == patient["id"]


def test_read_of_an_unknown_id_is_404_with_an_operation_outcome(fhir_server, http, uid):
    outcome = _get(http, f"{fhir_server}/Claim/{uid}-nope", status=404)
    assert _outcome_text(outcome) == "Not found"


# (2) paging --------------------------------------------------------------------------------------


def test_search_pages_follow_the_next_link(fhir_server, http, uid):
    for i in range(5):
        _ok(_put(http, fhir_server, _claim(f"{uid}-k{i}", f"{uid}-p")))
    url: str | None = f"{fhir_server}/Claim?patient=Patient/{uid}-p&_count=2"
    pages = []
    while url:
        page = _get(http, url)
        assert page["type"] == "searchset"
        assert page["total"] == 5  # always there, without _total
        pages.append(page)
        url = _link(page, "next")
    assert [len(_ids(p)) for p in pages] == [2, 2, 1]
    assert sorted(i for p in pages for i in _ids(p)) == [f"{uid}-k{i}" for i in range(5)]

    # The links are absolute, re-serialised by core.formatSearchQuery (as Medplum's server
    # writes them): parameters sorted by name, values percent-encoded, offset paging.
    first = pages[0]
    assert _link(first, "self") == (
        f"{fhir_server}/Claim?_count=2&patient=Patient%2F{uid}-p")
    assert _link(first, "next") == (
        f"{fhir_server}/Claim?_count=2&_offset=2&patient=Patient%2F{uid}-p")
    assert _link(pages[1], "previous") == _link(first, "first")
    assert _link(pages[2], "next") is None
    entry = first["entry"][0]
    assert entry["fullUrl"] == f"{fhir_server}/Claim/{entry['resource']['id']}"


def test_search_without_count_returns_every_match_in_one_page(fhir_server, http, uid):
    """Unlike Medplum's real server (and HAPI), the MemoryRepository has no default page
    size: without _count every match comes back at once and there is no next link."""
    for i in range(25):
        _ok(_put(http, fhir_server, _claim(f"{uid}-k{i}", f"{uid}-p")))
    page = _get(http, f"{fhir_server}/Claim?patient=Patient/{uid}-p")
    assert len(_ids(page)) == 25
    assert _link(page, "next") is None


# (3) multi-value reference search ----------------------------------------------------------------


def _conditions(http, base, uid):
    for who in ("a", "b", "c"):
        _ok(_put(http, base, {"resourceType": "Condition", "id": f"{uid}-c{who}",
                              "subject": {"reference": f"Patient/{uid}-{who}"}}))


def test_comma_separated_patients_return_both_patients_conditions(fhir_server, http, uid):
    _conditions(http, fhir_server, uid)
    both = [f"{uid}-ca", f"{uid}-cb"]
    for query in (f"patient=Patient/{uid}-a,Patient/{uid}-b",
                  f"subject=Patient/{uid}-a,Patient/{uid}-b",
                  f"patient={uid}-a,{uid}-b"):  # bare ids work too
        assert sorted(_ids(_get(http, f"{fhir_server}/Condition?{query}"))) == both, query


def test_repeated_patient_parameters_are_anded_not_ored(fhir_server, http, uid):
    """FHIR semantics: `patient=A&patient=B` means both at once, so nothing matches."""
    _conditions(http, fhir_server, uid)
    query = f"patient=Patient/{uid}-a&patient=Patient/{uid}-b"
    assert _ids(_get(http, f"{fhir_server}/Condition?{query}")) == []


# (4) token search with several system|code values ------------------------------------------------


def test_observation_search_by_patient_and_several_loinc_codes(fhir_server, http, uid):
    def obs(oid: str, system: str, code: str) -> dict[str, Any]:
        return {"resourceType": "Observation", "id": f"{uid}-{oid}", "status": "final",
                "subject": {"reference": f"Patient/{uid}-p"},
                "code": {"coding": [{"system": system, "code": code}]}}

    for resource in (obs("b12", "http://loinc.org", "2132-9"),
                     obs("hgb", "http://loinc.org", "718-7"),
                     obs("glu", "http://loinc.org", "2345-7"),
                     obs("other", "http://example.org/codes", "2132-9")):
        _ok(_put(http, fhir_server, resource))
    query = (f"patient=Patient/{uid}-p"
             "&code=http://loinc.org|2132-9,http://loinc.org|718-7")
    assert sorted(_ids(_get(http, f"{fhir_server}/Observation?{query}"))) == \
        [f"{uid}-b12", f"{uid}-hgb"]
    encoded = quote("http://loinc.org|2132-9,http://loinc.org|718-7", safe="")
    assert sorted(_ids(_get(
        http, f"{fhir_server}/Observation?patient=Patient/{uid}-p&code={encoded}"))) == \
        [f"{uid}-b12", f"{uid}-hgb"]


# (5) _lastUpdated and _sort ----------------------------------------------------------------------


def test_last_updated_gt_ge_and_sort(fhir_server, http, uid):
    stamps = []
    for i in range(3):
        stamps.append(_ok(_put(http, fhir_server, _claim(f"{uid}-k{i}", f"{uid}-p")))
                      ["meta"]["lastUpdated"])
        time.sleep(0.01)  # distinct milliseconds
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    search = f"{fhir_server}/Claim?patient=Patient/{uid}-p"

    gt = _get(http, f"{search}&_lastUpdated=gt{stamps[1]}")
    assert _ids(gt) == [f"{uid}-k2"]
    ge = _get(http, f"{search}&_lastUpdated=ge{stamps[1]}&_sort=_lastUpdated")
    assert _ids(ge) == [f"{uid}-k1", f"{uid}-k2"]
    window = _get(http, f"{search}&_lastUpdated=ge{stamps[0]}&_lastUpdated=lt{stamps[2]}")
    assert sorted(_ids(window)) == [f"{uid}-k0", f"{uid}-k1"]
    newest_first = _get(http, f"{search}&_sort=-_lastUpdated")
    assert _ids(newest_first) == [f"{uid}-k2", f"{uid}-k1", f"{uid}-k0"]
    # `+` in a raw query string is a space: an instant with an offset must be encoded.
    assert _ids(_get(http, f"{search}&_lastUpdated=gt{quote(stamps[1], safe='')}")) == \
        [f"{uid}-k2"]


# (6) transaction with conditional create (ifNoneExist) -------------------------------------------


def test_conditional_create_in_a_transaction_creates_once(fhir_server, http, uid):
    bundle = _transaction({"fullUrl": f"urn:uuid:{uuid.uuid4()}", **_conditional_create(uid)})
    first = _post_bundle(http, fhir_server, bundle)
    assert first["type"] == "transaction-response"
    response = first["entry"][0]["response"]
    created = first["entry"][0]["resource"]
    assert response["status"] == "201"  # a bare code, not "201 Created"
    assert response["location"] == f"DetectedIssue/{created['id']}"  # relative, no _history
    assert response["outcome"]["id"] == "created"

    again = _post_bundle(http, fhir_server, bundle)
    response = again["entry"][0]["response"]
    assert response["status"] == "200"
    assert response["outcome"]["id"] == "ok"
    assert response["location"] == f"DetectedIssue/{created['id']}"
    # The entry carries the existing resource, unchanged (same version).
    assert again["entry"][0]["resource"]["meta"] == created["meta"]

    found = _get(http, f"{fhir_server}/DetectedIssue?identifier={ISSUE_SYSTEM}|{uid}")
    assert found["total"] == 1
    assert _ids(found) == [created["id"]]


def test_conditional_create_as_plain_post_with_if_none_exist_header(fhir_server, http, uid):
    headers = {**FHIR_JSON, "If-None-Exist": f"identifier={ISSUE_SYSTEM}|{uid}"}
    first = http.post(f"{fhir_server}/DetectedIssue", json=_issue(uid), headers=headers,
                      timeout=10)
    created = _ok(first, 201)
    second = http.post(f"{fhir_server}/DetectedIssue", json=_issue(uid), headers=headers,
                       timeout=10)
    assert _ok(second, 200)["id"] == created["id"]
    assert "Location" not in second.headers


def test_transaction_with_more_than_eight_conditional_entries_is_refused(fhir_server, http, uid):
    """Medplum runs conditional entries serializably and then caps a transaction at 8
    entries (maxSerializableTransactionEntries); nothing is written."""
    nine = _transaction(*(_conditional_create(f"{uid}-{i}") for i in range(9)))
    outcome = _post_bundle(http, fhir_server, nine, status=400)
    assert _outcome_text(outcome) == \
        "Transaction requires strict isolation but has too many entries"
    assert _get(http, f"{fhir_server}/DetectedIssue?identifier={ISSUE_SYSTEM}|{uid}-0")[
        "total"] == 0
    eight = _transaction(*(_conditional_create(f"{uid}-{i}") for i in range(8)))
    statuses = [e["response"]["status"] for e in _post_bundle(http, fhir_server, eight)["entry"]]
    assert statuses == ["201"] * 8


def test_transaction_with_more_than_fifty_updates_is_refused(fhir_server, http, uid):
    puts = [{"resource": _claim(f"{uid}-k{i}", f"{uid}-p"),
             "request": {"method": "PUT", "url": f"Claim/{uid}-k{i}"}} for i in range(51)]
    outcome = _post_bundle(http, fhir_server, _transaction(*puts), status=400)
    assert _outcome_text(outcome) == "Transaction contains more update operations than allowed"
    statuses = {e["response"]["status"]
                for e in _post_bundle(http, fhir_server, _transaction(*puts[:50]))["entry"]}
    assert statuses == {"200"}


# (7) conditional update in a transaction ---------------------------------------------------------


def test_conditional_update_in_a_transaction_creates_then_updates(fhir_server, http, uid):
    url = f"DetectedIssue?identifier={ISSUE_SYSTEM}|{uid}"
    entry = {"resource": _issue(uid, status="preliminary"),
             "request": {"method": "PUT", "url": url}}
    first = _post_bundle(http, fhir_server, _transaction(entry))["entry"][0]
    assert first["response"]["status"] == "201"
    created = first["resource"]

    entry["resource"] = _issue(uid, status="final")
    second = _post_bundle(http, fhir_server, _transaction(entry))["entry"][0]
    assert second["response"]["status"] == "200"
    assert second["response"]["location"] == f"DetectedIssue/{created['id']}"
    assert second["resource"]["id"] == created["id"]
    assert second["resource"]["meta"]["versionId"] != created["meta"]["versionId"]

    found = _get(http, f"{fhir_server}/{url}")
    assert found["total"] == 1
    assert found["entry"][0]["resource"]["status"] == "final"


def test_conditional_update_that_matches_nothing_refuses_a_client_id(fhir_server, http, uid):
    """Update-as-create through a conditional URL must not carry an id (400)."""
    entry = {"resource": {**_issue(uid), "id": f"{uid}-mine"},
             "request": {"method": "PUT", "url": f"DetectedIssue?identifier={ISSUE_SYSTEM}|{uid}"}}
    outcome = _post_bundle(http, fhir_server, _transaction(entry), status=400)
    assert _outcome_text(outcome) == "Cannot provide ID for create by update"


def test_plain_conditional_update_url(fhir_server, http, uid):
    url = f"{fhir_server}/DetectedIssue?identifier={ISSUE_SYSTEM}|{uid}"
    created = _ok(http.put(url, json=_issue(uid), headers=FHIR_JSON, timeout=10), 201)
    updated = _ok(http.put(url, json=_issue(uid, status="cancelled"), headers=FHIR_JSON,
                           timeout=10), 200)
    assert updated["id"] == created["id"] and updated["status"] == "cancelled"


# (8) batch of searches ---------------------------------------------------------------------------


def test_batch_of_searches_answers_one_searchset_per_entry(fhir_server, http, uid):
    _conditions(http, fhir_server, uid)
    for i in range(3):
        _ok(_put(http, fhir_server, _claim(f"{uid}-k{i}", f"{uid}-a")))
    encoded = quote(f"Patient/{uid}-a,Patient/{uid}-b", safe="")
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": f"Condition?patient={encoded}&_count=50"}},
        {"request": {"method": "GET", "url": f"Claim?patient=Patient/{uid}-a&_count=2"}},
        {"request": {"method": "GET", "url": f"Patient?_id={uid}-a,{uid}-b"}},
        {"request": {"method": "GET", "url": f"Condition?no-such-param={uid}"}},
    ]}
    answer = _post_bundle(http, fhir_server, batch)
    assert answer["type"] == "batch-response"
    conditions, claims, patients, bad = answer["entry"]
    for entry in (conditions, claims, patients):
        assert entry["response"]["status"] == "200"
        assert entry["resource"]["type"] == "searchset"
    assert sorted(_ids(conditions["resource"])) == [f"{uid}-ca", f"{uid}-cb"]
    assert _ids(patients["resource"]) == []  # no such Patients were written
    # Searches inside a batch get the same absolute links as top-level ones.
    next_url = _link(claims["resource"], "next")
    assert next_url == f"{fhir_server}/Claim?_count=2&_offset=2&patient=Patient%2F{uid}-a"
    assert len(_ids(_get(http, next_url))) == 1
    # An unknown search parameter is no error here: it matches nothing (see below).
    assert bad["response"]["status"] == "200"
    assert bad["resource"]["total"] == 0


def test_search_with_an_unknown_parameter_silently_matches_nothing(fhir_server, http, uid):
    """Medplum's real server answers 400 and HAPI ignores the parameter; the
    MemoryRepository answers 200 with an empty searchset, so a misspelt parameter looks
    like "no data"."""
    _ok(_put(http, fhir_server, _claim(f"{uid}-k", f"{uid}-p")))
    bundle = _get(http, f"{fhir_server}/Claim?patient=Patient/{uid}-p&no-such-param=x")
    assert bundle["total"] == 0 and "entry" not in bundle
    assert _ids(_get(http, f"{fhir_server}/Claim?patient=Patient/{uid}-p")) == [f"{uid}-k"]


# (9) DetectedIssue searches ----------------------------------------------------------------------


def test_detected_issue_by_identifier_and_by_implicated_claim(fhir_server, http, uid):
    _ok(_put(http, fhir_server, _claim(f"{uid}-k1", f"{uid}-p")))
    for n, claim in ((1, f"{uid}-k1"), (2, f"{uid}-k1"), (3, f"{uid}-k2")):
        issue = _issue(f"Claim/{claim}#{n}", id=f"{uid}-i{n}",
                       implicated=[{"reference": f"Claim/{claim}"}])
        _ok(_put(http, fhir_server, issue))
    by_claim = _get(http, f"{fhir_server}/DetectedIssue?implicated=Claim/{uid}-k1")
    assert sorted(_ids(by_claim)) == [f"{uid}-i1", f"{uid}-i2"]
    one = quote(f"{ISSUE_SYSTEM}|Claim/{uid}-k1#1", safe="/:")
    assert _ids(_get(http, f"{fhir_server}/DetectedIssue?identifier={one}")) == [f"{uid}-i1"]
    # Several system|value tokens at once, values with '/' and '#' percent-encoded.
    two = ",".join(quote(f"{ISSUE_SYSTEM}|Claim/{uid}-{k}", safe="/:") for k in ("k1#2", "k2#3"))
    assert sorted(_ids(_get(http, f"{fhir_server}/DetectedIssue?identifier={two}"))) == \
        [f"{uid}-i2", f"{uid}-i3"]
    # Token search is exact: a value prefix does not match.
    prefix = quote(f"{ISSUE_SYSTEM}|Claim/{uid}-k1", safe="/:")
    assert _ids(_get(http, f"{fhir_server}/DetectedIssue?identifier={prefix}")) == []


# (10) versions -----------------------------------------------------------------------------------


def test_second_put_bumps_the_version_and_vread_needs_the_real_version_id(fhir_server, http, uid):
    """versionIds are random UUIDs, not 1, 2, ...: `_history/1` is 404; vread works with
    the versionId the server returned."""
    first = _ok(_put(http, fhir_server, _claim(f"{uid}-k", f"{uid}-p")))
    second = _ok(_put(http, fhir_server, _claim(f"{uid}-k", f"{uid}-p", status="cancelled")))
    v1, v2 = first["meta"]["versionId"], second["meta"]["versionId"]
    assert v1 != v2
    uuid.UUID(v1)
    assert second["meta"]["lastUpdated"] >= first["meta"]["lastUpdated"]

    assert _get(http, f"{fhir_server}/Claim/{uid}-k/_history/{v1}")["status"] == "active"
    assert _get(http, f"{fhir_server}/Claim/{uid}-k/_history/{v2}")["status"] == "cancelled"
    _get(http, f"{fhir_server}/Claim/{uid}-k/_history/1", status=404)
    history = _get(http, f"{fhir_server}/Claim/{uid}-k/_history")
    assert history["type"] == "history"
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == [v2, v1]


# (11) _include / _revinclude ---------------------------------------------------------------------


def test_include_brings_the_referenced_resources(fhir_server, http, uid):
    _ok(_put(http, fhir_server, {"resourceType": "Patient", "id": f"{uid}-p"}))
    _ok(_put(http, fhir_server, {
        "resourceType": "Medication", "id": f"{uid}-med",
        "code": {"coding": [{"system": "https://www.cms.gov/hcpcs", "code": "J3420"}]}}))
    for i in range(2):
        _ok(_put(http, fhir_server, {
            "resourceType": "MedicationAdministration", "id": f"{uid}-ma{i}",
            "status": "completed", "effectiveDateTime": "2024-03-01",
            "medicationReference": {"reference": f"Medication/{uid}-med"},
            "subject": {"reference": f"Patient/{uid}-p"}}))
    query = (f"MedicationAdministration?patient=Patient/{uid}-p"
             "&_include=MedicationAdministration:medication"
             "&_include=MedicationAdministration:patient")
    bundle = _get(http, f"{fhir_server}/{query}")
    assert sorted(_ids(bundle)) == [f"{uid}-ma0", f"{uid}-ma1"]
    assert sorted(_ids(bundle, mode="include")) == [f"{uid}-med", f"{uid}-p"]  # once each
    assert bundle["total"] == 2  # matches only


def test_revinclude_brings_the_issues_of_a_claim(fhir_server, http, uid):
    _ok(_put(http, fhir_server, _claim(f"{uid}-k", f"{uid}-p")))
    _ok(_put(http, fhir_server, _issue(uid, id=f"{uid}-i",
                                       implicated=[{"reference": f"Claim/{uid}-k"}])))
    bundle = _get(http, f"{fhir_server}/Claim?_id={uid}-k&_revinclude=DetectedIssue:implicated")
    assert _ids(bundle) == [f"{uid}-k"]
    assert _ids(bundle, mode="include") == [f"{uid}-i"]


# (12) If-Match, and transactions that fail -------------------------------------------------------


def test_if_match_must_be_a_quoted_etag(fhir_server, http, uid):
    v1 = _ok(_put(http, fhir_server, _claim(f"{uid}-k", f"{uid}-p")))["meta"]["versionId"]
    v2 = _ok(_put(http, fhir_server, _claim(f"{uid}-k", f"{uid}-p", status="draft"),
                  **{"If-Match": f'W/"{v1}"'}))["meta"]["versionId"]
    stale = _put(http, fhir_server, _claim(f"{uid}-k", f"{uid}-p"), **{"If-Match": f'W/"{v1}"'})
    assert _outcome_text(_ok(stale, 412)) == "Precondition Failed"
    assert _ok(_put(http, fhir_server, _claim(f"{uid}-k", f"{uid}-p", status="active"),
                    **{"If-Match": f'"{v2}"'}))["status"] == "active"
    # An unquoted value is not read as an ETag at all: the stale update goes through.
    unquoted = _put(http, fhir_server, _claim(f"{uid}-k", f"{uid}-p", status="cancelled"),
                    **{"If-Match": v1})
    assert _ok(unquoted)["status"] == "cancelled"


def test_transaction_entry_with_a_stale_if_match_fails_the_whole_bundle(fhir_server, http, uid):
    v1 = _ok(_put(http, fhir_server, _claim(f"{uid}-k", f"{uid}-p")))["meta"]["versionId"]
    _ok(_put(http, fhir_server, _claim(f"{uid}-k", f"{uid}-p", status="draft")))
    entry = {"resource": _claim(f"{uid}-k", f"{uid}-p", status="cancelled"),
             "request": {"method": "PUT", "url": f"Claim/{uid}-k", "ifMatch": f'W/"{v1}"'}}
    outcome = _post_bundle(http, fhir_server, _transaction(entry), status=412)
    assert _outcome_text(outcome) == "Precondition Failed"
    assert _get(http, f"{fhir_server}/Claim/{uid}-k")["status"] == "draft"

    # In a batch the same entry fails alone.
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        entry, {"request": {"method": "GET", "url": f"Claim/{uid}-k"}}]}
    failed, read = _post_bundle(http, fhir_server, batch)["entry"]
    assert failed["response"]["status"] == "412"
    assert read["response"]["status"] == "200"


def test_transactions_are_not_atomic(fhir_server, http, uid):
    """The MemoryRepository has no rollback: entries that ran before the failing one stay
    written although the transaction answers an error. (Creates run before updates
    whatever the Bundle order: Medplum orders entries by interaction.)"""
    _ok(_put(http, fhir_server, _claim(f"{uid}-k", f"{uid}-p")))
    bundle = _transaction(
        {"resource": _claim(f"{uid}-k", f"{uid}-p", status="cancelled"),
         "request": {"method": "PUT", "url": f"Claim/{uid}-k", "ifMatch": 'W/"not-current"'}},
        _conditional_create(uid),
    )
    _post_bundle(http, fhir_server, bundle, status=412)
    found = _get(http, f"{fhir_server}/DetectedIssue?identifier={ISSUE_SYSTEM}|{uid}")
    assert found["total"] == 1  # the create landed anyway
    assert _get(http, f"{fhir_server}/Claim/{uid}-k")["status"] == "active"


def test_a_bundle_posted_to_a_type_endpoint_is_not_a_transaction(fhir_server, http, uid):
    response = http.post(f"{fhir_server}/DetectedIssue",
                         json=_transaction(_conditional_create(uid)), headers=FHIR_JSON,
                         timeout=10)
    assert _outcome_text(_ok(response, 400)) == \
        "Incorrect resource type: expected DetectedIssue, but found Bundle"
