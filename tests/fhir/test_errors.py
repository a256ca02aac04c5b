"""Errors: status -> type, the server's words, one line, no credentials."""

from __future__ import annotations

import pickle

import pytest
import requests

from adapter.fhir import (
    FhirAuthError,
    FhirError,
    FhirServerError,
    PageExpiredError,
)
from adapter.fhir.errors import error_for_response, outcome_text, redact_url, response_outcome
from tests.fhir.testkit import BASE, outcome


def response(status: int, body: str = "") -> requests.Response:
    made = requests.Response()
    made.status_code = status
    made._content = body.encode()
    return made


@pytest.mark.parametrize(
    ("status", "paging_link", "expected"),
    [
        (400, False, FhirError),
        (409, False, FhirError),
        (412, False, FhirError),
        (422, False, FhirError),
        (405, False, FhirError),
        (401, False, FhirAuthError),
        (403, False, FhirAuthError),
        (404, False, FhirError),
        (410, False, FhirError),
        (404, True, PageExpiredError),
        (410, True, PageExpiredError),
        (429, False, FhirServerError),
        (500, False, FhirServerError),
        (503, False, FhirServerError),
    ],
)
def test_each_status_maps_to_the_error_a_caller_handles(status, paging_link, expected):
    error = error_for_response("GET", f"{BASE}/Claim", response(status), paging_link=paging_link)

    assert type(error) is expected
    assert isinstance(error, FhirError)
    assert error.status == status


def test_outcome_text_joins_diagnostics_and_details():
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "diagnostics": "Claim.status: unknown code 'x'"},
            {"severity": "error", "details": {"text": "Profile mismatch"}},
            {"severity": "error", "details": {"coding": [{"code": "MSG_PARAM_INVALID"}]}},
        ],
    }

    assert outcome_text(body) == (
        "Claim.status: unknown code 'x'; Profile mismatch; MSG_PARAM_INVALID"
    )
    assert outcome_text({"resourceType": "Claim"}) == ""


def test_a_non_fhir_body_is_quoted_up_to_300_characters_on_one_line():
    html = "<html>\n<body>" + "Bad Gateway " * 60 + "</body></html>"

    text = response_outcome(response(502, html))

    assert text.startswith("<html> <body>Bad Gateway")
    assert len(text) == 300
    assert "\n" not in text


def test_the_message_is_one_line_even_when_the_server_writes_several():
    body = '{"resourceType": "OperationOutcome", "issue": [{"diagnostics": "line one\\nline two"}]}'

    error = error_for_response("POST", BASE, response(400, body))

    assert str(error) == f"POST {BASE} -> 400: line one line two"


def test_credentials_never_appear_in_the_url_of_an_error():
    error = FhirServerError(
        "get", "https://svc:hunter2@fhir.test/fhir/Claim?access_token=abc&x=1", None
    )

    assert error.url == "https://fhir.test/fhir/Claim?access_token=***&x=1"
    assert "hunter2" not in str(error) and "abc" not in str(error)
    assert str(error) == "GET https://fhir.test/fhir/Claim?access_token=***&x=1"


def test_redaction_leaves_ordinary_urls_untouched():
    url = f"{BASE}/Observation?code=http://loinc.org%7C2132-9&_count=100"
    assert redact_url(url) == url


def test_errors_survive_pickling_with_their_fields():
    error = FhirServerError("POST", BASE, 503, "bad")

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is FhirServerError
    assert (copy.method, copy.url, copy.status, copy.outcome) == ("POST", BASE, 503, "bad")
    assert str(copy) == str(error)


def test_outcome_builder_round_trips_through_response_outcome():
    import json

    assert response_outcome(response(422, json.dumps(outcome("a", "b")))) == "a; b"


PATIENT = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Quintero",
                                                             "given": ["Alma"]}]}


@pytest.mark.parametrize(("body", "said"), [
    (PATIENT, "a Patient body (not quoted: it may hold patient data)"),
    ({"resourceType": "Bundle", "entry": [{"resource": PATIENT}]}, "a Bundle body (not quoted"),
    ({"error": "no such patient: Alma Quintero"}, "a JSON body that is not an OperationOutcome"),
    ([PATIENT], "a JSON body that is not an OperationOutcome"),
    ({"resourceType": "Alma Quintero"}, "a JSON body that is not an OperationOutcome"),
    ({"_remainingPoints": 0, "_msBeforeNext": 37414}, "a JSON body that is not"),
])
def test_json_bodies_that_are_not_an_operation_outcome_are_never_quoted(body, said):
    import json

    error = error_for_response("GET", f"{BASE}/Patient/p1", response(500, json.dumps(body)))

    assert said in error.outcome
    assert "Alma" not in str(error) and "Quintero" not in str(error)


def test_a_fhir_xml_resource_is_not_quoted_but_an_xml_operation_outcome_is():
    patient = ('<Patient xmlns="http://hl7.org/fhir"><name><family value="Quintero"/>'
               '</name></Patient>')
    assert response_outcome(response(500, patient)) == (
        "a FHIR XML body (not quoted: it may hold patient data)")
    issue = ('<OperationOutcome xmlns="http://hl7.org/fhir"><issue><severity value="error"/>'
             '<diagnostics value="HAPI-0389: Invalid id"/></issue></OperationOutcome>')
    assert response_outcome(response(400, issue)) == "HAPI-0389: Invalid id"


def test_an_operation_outcome_without_text_says_so():
    assert response_outcome(response(500, '{"resourceType": "OperationOutcome"}')) == (
        "an OperationOutcome without text")


def test_only_a_clear_answer_says_the_server_does_not_support_a_type():
    from adapter.fhir.errors import refuses_type

    assert refuses_type(404, "Not found")  # a search endpoint that is not there
    assert refuses_type(400, "HAPI-0302: Unknown resource type 'Composition'")
    assert refuses_type(400, "Resource type Composition is not supported by this server")
    assert refuses_type(422, "unavailable", ("not-supported",))
    assert not refuses_type(400, "Invalid date parameter")
    for status in (500, 503, 403, 401, 429, None):  # failures, refusals of us: errors still
        assert not refuses_type(status, "Unknown resource type 'Composition'")


def test_an_error_shows_a_long_query_cut_to_its_start():
    from adapter.fhir.errors import FhirError

    url = "http://h/fhir/Condition?patient=" + ",".join(f"Patient/p{n}" for n in range(500))
    shown = str(FhirError("GET", url, 500, "boom"))
    assert shown.startswith("GET http://h/fhir/Condition?patient=Patient/p0,Patient/p1,")
    assert len(shown) < 200 and "more characters) -> 500: boom" in shown
    assert str(FhirError("GET", "http://h/fhir/Claim?_id=k1", 404, "x")) \
        == "GET http://h/fhir/Claim?_id=k1 -> 404: x"
