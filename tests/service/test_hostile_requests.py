"""Hostile input over HTTP: a malformed element or a lone surrogate is a 4xx OperationOutcome
naming the resource and the field, or is passed over where the file mode passes it over;
never a 500 (the cases of the hostile-input hunt, and those found beside them).

A draft order is read as a claim is (``adapter.evidence.fields``): a reason, supportingInfo or
date that is not what FHIR says is 422 (the order cannot be judged, as a claim with such a
diagnosis cannot); the prefetch's Bundles are the request's own structure, 400 when malformed.
Text from the input (an id, a unit, a code) reaches answers made printable: U+FFFD for a lone
surrogate, as ``text()`` makes it for the command line.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from fixtures import builders as b
from tests.scenario import SERVICE, clean_chart, replace
from tests.service.conftest import bundle
from tests.service.test_cds_hooks import BACKED, SIGN, _with_coverage, order, request

CHECK = "/Claim/$b12-check"
FHIR = {"Accept": "application/fhir+json"}
NO_LAB = [b.condition("c1", "p1", icd="E53.8")]  # a lab-missing card: its uuids are built
MORE_SPECIFIC = [b.condition("c1", "p1", icd="D51.0"),  # specificity-loss: a suggestion
                 b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-10"),  # echoing the order,
                 b.lab("h1", "p1", "hemoglobin", 10.5, "g/dL", "2026-02-10")]  # and a link


@dataclass(frozen=True)
class Case:
    path: str
    body: dict[str, Any]
    status: int
    said: str  # in the OperationOutcome's diagnostics (or, at 200, in the answer)
    headers: dict[str, str] = field(default_factory=dict)
    clean: dict[str, Any] | None = None  # at 200: judged as this request (the element absent)


def _draft(change: Callable[[dict], object], chart: list[dict] = BACKED,
           ordered: dict | None = None) -> dict:
    """A CDS request whose draft order ``change`` made hostile."""
    body = request(ordered or order(), chart=chart)
    change(body["context"]["draftOrders"]["entry"][0]["resource"])
    return body


def _set(**values: object) -> Callable[[dict], object]:
    return lambda resource: resource.update(values)


def _no_system(resource: dict) -> None:
    resource["reasonCode"][0]["coding"][0].pop("system")


def _request(change: Callable[[dict], object], chart: list[dict] = BACKED) -> dict:
    body = request(order(), chart=chart)
    change(body)
    return body


def _prefetch_entry(key: str) -> Callable[[dict], object]:
    return lambda body: body["prefetch"][key].update(entry=1)


def _chart_with(resource: dict) -> dict:
    return bundle(*replace(clean_chart(), resource))


def _batch_with_eob_id(rid: str) -> dict:
    eob = {**b.claim("e1", "p1", SERVICE), "resourceType": "ExplanationOfBenefit", "id": rid}
    return {**bundle(*clean_chart(), eob), "type": "batch"}


def _by_contained_medication() -> dict:
    ordered = order()
    del ordered["medicationCodeableConcept"]
    return ordered


def _coverage_detail_code(code: object) -> Callable[[dict], object]:
    def change(resource: dict) -> None:
        detail = resource["extension"][0]["extension"][-1]
        detail["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = code
    return change


BAD_REASON = "draft order MedicationRequest/mr1 cannot be checked: "
CASES = {
    # the hunt's cases: CDS Hooks
    "reasonCode true": Case(SIGN, _draft(_set(reasonCode=True)), 422,
                            BAD_REASON + "reasonCode is not a list of objects"),
    "reasonCode -1": Case(SIGN, _draft(_set(reasonCode=-1)), 422,
                          BAD_REASON + "reasonCode is not a list of objects"),
    "reasonCode 1e308": Case(SIGN, _draft(_set(reasonCode=1e308)), 422,
                             BAD_REASON + "reasonCode is not a list of objects"),
    "reasonCode coding 5": Case(SIGN, _draft(_set(reasonCode=[{"coding": 5}])), 422,
                                BAD_REASON + "reasonCode[0].coding is not a list of objects"),
    # a system that is not a string is no system (fields.codings, as in a file): the code is
    # not read as ICD-10-CM, and the card says so
    "reasonCode system []": Case(
        SIGN, _draft(lambda r: r["reasonCode"][0]["coding"][0].update(system=[])), 200,
        "has no ICD-10-CM code", clean=_draft(_no_system)),
    "reasonReference 1": Case(SIGN, _draft(_set(reasonReference=1)), 422,
                              BAD_REASON + "reasonReference is not a list of objects"),
    "contained 1 beside a # reason": Case(
        SIGN, _draft(_set(contained=1, reasonReference=[{"reference": "#c1"}])), 422,
        BAD_REASON + "contained is not a list of objects"),
    # a claim's malformed insurance is passed over (evidence.payer): judged without it
    "insurance 1": Case(SIGN, _draft(_set(insurance=1), NO_LAB), 200, "lab-missing",
                        clean=_draft(_set(), NO_LAB)),
    "supportingInfo 1": Case(SIGN, _draft(_set(supportingInfo=1)), 422,
                             BAD_REASON + "supportingInfo is not a list of objects"),
    **{f"prefetch {key} entry 1": Case(SIGN, _request(_prefetch_entry(key)), 400,
                                       f"prefetch.{key}: Bundle.entry is not a list")
       for key in ("conditions", "observations", "administrations")},
    "hookInstance lone surrogate": Case(
        SIGN, _request(lambda body: body.update(hookInstance="\ud800"), NO_LAB), 200,
        "lab-missing", clean=_request(lambda body: None, NO_LAB)),
    "order id lone surrogate": Case(SIGN, _draft(_set(id="\ud800"), NO_LAB), 200,
                                    "Order: MedicationRequest/\ufffd.",
                                    clean=_draft(_set(), NO_LAB)),
    # the hunt's cases: $b12-check
    "resourceType lone surrogate": Case(CHECK, {"resourceType": "\ud800"}, 400,
                                        "or a reference; got a \ufffd"),
    "lab unit lone surrogate": Case(
        CHECK, _chart_with(b.lab("o1", "p1", "b12", 150, "\ud800", "2026-02-10")), 200,
        "Observation/o1: valueQuantity: unit '\ufffd' cannot be converted to pg/mL", FHIR),
    "dose unit lone surrogate": Case(
        CHECK, _chart_with(b.administration("a1", "p1", SERVICE, unit="\ud800")), 200,
        "MedicationAdministration/a1: dosage.dose: unit '\ufffd' cannot be converted to ug",
        FHIR),
    # found beside them
    "contained medication lone surrogate": Case(
        CHECK, _chart_with(b.administration("a1", "p1", SERVICE, medication="#\ud800")), 200,
        "MedicationAdministration/a1: medicationReference #\ufffd names no contained "
        "Medication", FHIR),
    "batch other claim type, id lone surrogate": Case(
        CHECK, _batch_with_eob_id("\ud800"), 400,
        "the batch holds ExplanationOfBenefit/(no id)"),
    "authoredOn not a date": Case(
        SIGN, _draft(_set(authoredOn="2026-13-45"), ordered=_with_coverage(order())), 422,
        BAD_REASON + "authoredOn is not a valid date: '2026-13-45'"),
    "fhirAuthorization token lone surrogate": Case(
        SIGN, _request(lambda body: body.update(fhirServer="https://ehr.example.org/fhir",
                                                fhirAuthorization={"access_token": "\ud800"})),
        400, "fhirAuthorization.access_token must be a bearer token"),
    "fhirServer lone surrogate": Case(
        SIGN, _request(lambda body: body.update(fhirServer="\ud800"), MORE_SPECIFIC), 200,
        "\ufffd/Condition/c1"),
    "order note lone surrogate, echoed in a suggestion": Case(
        SIGN, _draft(_set(note=[{"text": "monthly \ud800"}]), MORE_SPECIFIC), 200,
        "monthly \ufffd", clean=_draft(_set(), MORE_SPECIFIC)),
    # Da Vinci CRD coverage information is read leniently (crd.read): a malformed part is
    # passed over, its words made printable
    "coverage information extension 1": Case(
        SIGN, _draft(_set(extension=1), NO_LAB), 200, "lab-missing",
        clean=_draft(_set(), NO_LAB)),
    "coverage information code lone surrogate": Case(
        SIGN, _draft(lambda r: r["extension"][0]["extension"][0].update(valueCode="\ud800"),
                     NO_LAB, _with_coverage(order())), 200, "coverage: \ufffd"),
    "coverage information detail code []": Case(
        SIGN, _draft(_coverage_detail_code([]), NO_LAB, _with_coverage(order())), 200,
        "lab-missing", clean=_draft(_set(), NO_LAB)),
    # a contained Medication that cannot be found: the order is not recognised, and said
    "contained 1 beside a # medication": Case(
        SIGN, _draft(_set(contained=1, medicationReference={"reference": "#m1"}),
                     ordered=_by_contained_medication()), 200,
        "not checked: the medication of MedicationRequest/mr1"),
}


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


def _diagnostics(answer: dict) -> str:
    """The OperationOutcome's diagnostics: the answer's own, or a Parameters' ``outcome``."""
    if answer["resourceType"] == "Parameters":
        (answer,) = [p["resource"] for p in answer["parameter"] if p["name"] == "outcome"]
    assert answer["resourceType"] == "OperationOutcome" and answer["issue"]
    return " | ".join(issue["diagnostics"] for issue in answer["issue"])


def _topics(answer: dict) -> list[str]:
    return [card["source"]["topic"]["code"] for card in answer["cards"]]


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_hostile_input_is_a_4xx_naming_the_field_or_is_passed_over_never_a_500(client, case):
    """4xx: the OperationOutcome names the resource and the field. 200: the element is
    optional and the rest can be judged (a non-string coding system is no system, a
    malformed insurance or CRD part is passed over, as the file mode passes them over; a lone
    surrogate is made printable), so the request is judged as ``case.clean`` is and the answer
    says what ``case.said`` says."""
    response = client.post(case.path, json=case.body, headers=case.headers)

    assert response.status_code == case.status, response.text
    answer = response.json()
    if case.status >= 400:
        assert response.headers["content-type"].startswith("application/fhir+json")
        assert case.said in _diagnostics(answer)
        return
    if case.path == CHECK:
        assert case.said in _diagnostics(answer)
        return
    assert any(case.said in t for t in _texts(answer)), answer
    for card in answer["cards"]:
        uuid.UUID(card["uuid"])
    if case.clean is not None:
        clean = client.post(case.path, json=case.clean)
        assert clean.status_code == 200, clean.text
        assert _topics(answer) == _topics(clean.json())

