"""The service as a FHIR client sees it: ``GET /metadata`` (CapabilityStatement), the
``$b12-check`` OperationDefinition, and the operation's answer as a ``Parameters`` resource.

A FHIR client asks for FHIR (``Accept: application/fhir+json``, or ``_format``) and gets a
Parameters: one ``result`` per claim (its reference, patient, date of service, verdict or
the reason it was skipped, and a ``finding`` part per finding), a ``detectedIssue`` per
DetectedIssue built, the server's ``writes`` when there is a server, and an ``outcome``
(OperationOutcome) for the resources that could not be used. An integration engine asking
for ``application/json`` (or anything else, or nothing) keeps the JSON report entry of
SPEC section 5.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapter import __version__

Resource = dict[str, Any]
FHIR_JSON = "application/fhir+json"
FHIR_VERSION = "4.0.1"
OPERATION = "b12-check"
CANONICAL = "urn:b12-fhir-adapter:OperationDefinition/b12-check"
CLAIM_TYPES = ("Claim", "ExplanationOfBenefit")
_FHIR_MEDIA = frozenset({"application/fhir+json", "application/json+fhir"})
_FORMAT_FHIR = frozenset({"json", "application/fhir+json", "application/json+fhir"})


def wants_fhir(accept: str | None, format_param: str | None = None) -> bool:
    """True when the caller asks for FHIR: ``_format`` decides when given, else the Accept
    media type of highest quality (FHIR wins a tie with ``application/json``)."""
    if format_param:
        return format_param.strip().lower() in _FORMAT_FHIR
    fhir = plain = 0.0
    for item in (accept or "").split(","):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if media in _FHIR_MEDIA:
            fhir = max(fhir, quality)
        elif media == "application/json":
            plain = max(plain, quality)
    return fhir > 0 and fhir >= plain


def capability_statement(base_url: str, *, writes_back: bool, started: datetime) -> Resource:
    """``GET /metadata``: the two claim types with their ``$b12-check`` operation."""
    operation = [{"name": OPERATION, "definition": CANONICAL,
                  "documentation": "Check the claim against the chart (B12 injections)"}]
    resources: list[Resource] = [{"type": rtype, "operation": operation}
                                 for rtype in CLAIM_TYPES]
    resources.append({"type": "OperationDefinition", "interaction": [{"code": "read"}]})
    return {
        "resourceType": "CapabilityStatement",
        "id": "b12-fhir-adapter",
        "name": "B12FhirAdapter",
        "title": "b12-fhir-adapter service",
        "status": "active",
        "date": started.astimezone(UTC).isoformat(timespec="seconds"),
        "kind": "instance",
        "software": {"name": "b12-fhir-adapter", "version": __version__},
        "implementation": {"description": "Checks vitamin B12 injection claims (J3420) "
                                          "against the FHIR R4 chart",
                           "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [{
            "mode": "server",
            "documentation": "DetectedIssues are written back to the configured FHIR server"
                             if writes_back else "Nothing is written (no FHIR server, or "
                                                 "--dry-run)",
            "security": {"description": "Authorization: Bearer <token> when the service is "
                                        "started with an API token; /metadata is open"},
            "resource": resources,
        }],
    }


def _part(name: str, **value: Any) -> Resource:
    return {"name": name, **value}


def operation_definition(*, writes_back: bool) -> Resource:
    """The ``$b12-check`` OperationDefinition (type level, on Claim and ExplanationOfBenefit).
    ``affectsState`` is true when the service writes DetectedIssues back to a server."""
    finding = [
        {**_part("code", type="code"), "use": "out", "min": 1, "max": "1",
         "documentation": "The finding code (SPEC section 4), e.g. dx-not-documented"},
        {**_part("severity", type="code"), "use": "out", "min": 1, "max": "1",
         "documentation": "high | moderate | low"},
        {**_part("diagnosis", type="code"), "use": "out", "min": 0, "max": "1",
         "documentation": "The claim diagnosis (ICD-10-CM) the finding concerns"},
        {**_part("message", type="string"), "use": "out", "min": 1, "max": "1"},
        {**_part("suggestedCode", type="code"), "use": "out", "min": 0, "max": "1"},
        {**_part("evidence", type="Reference"), "use": "out", "min": 0, "max": "*"},
    ]
    result = [
        {**_part("claim", type="Reference"), "use": "out", "min": 1, "max": "1"},
        {**_part("patient", type="Reference"), "use": "out", "min": 0, "max": "1"},
        {**_part("serviceDate", type="date"), "use": "out", "min": 0, "max": "1"},
        {**_part("verdict", type="code"), "use": "out", "min": 0, "max": "1",
         "documentation": "supported | review | unsupported (absent when skipped)"},
        {**_part("skipped", type="string"), "use": "out", "min": 0, "max": "1",
         "documentation": "Why the claim was not checked (no B12 line, status, use)"},
        {"name": "finding", "use": "out", "min": 0, "max": "*", "part": finding},
    ]
    writes = [{**_part(name, type="integer"), "use": "out", "min": 1, "max": "1"}
              for name in ("created", "updated", "cancelled", "unchanged", "failed")]
    writes.append({**_part("dryRun", type="boolean"), "use": "out", "min": 1, "max": "1"})
    return {
        "resourceType": "OperationDefinition",
        "id": OPERATION,
        "url": CANONICAL,
        "version": __version__,
        "name": "B12Check",
        "title": "Check B12 injection claims against the chart",
        "status": "active",
        "kind": "operation",
        "publisher": "b12-fhir-adapter",
        "description": "Checks that each vitamin B12 injection claim (HCPCS J3420) is backed "
                       "by the chart: its ICD-10-CM diagnosis against the patient's Conditions "
                       "and labs, the injection given. Writes one DetectedIssue per finding "
                       "back to the configured FHIR server unless it runs with --dry-run.",
        "affectsState": writes_back,
        "code": OPERATION,
        "resource": list(CLAIM_TYPES),
        "system": False,
        "type": True,
        "instance": False,
        "parameter": [
            {**_part("resource", type="Resource"), "use": "in", "min": 0, "max": "*",
             "documentation": "The Claim (or ExplanationOfBenefit), a Bundle holding it and "
                              "its evidence, or a batch Bundle of claims; several make a batch"},
            {**_part("claim", type="Reference"), "use": "in", "min": 0, "max": "*",
             "documentation": "The claim on the configured FHIR server, e.g. Claim/k1; "
                              "several make a batch"},
            {"name": "result", "use": "out", "min": 0, "max": "*", "part": result,
             "documentation": "One per claim: its JSON report entry as parts"},
            {**_part("detectedIssue", type="DetectedIssue"), "use": "out", "min": 0,
             "max": "*", "documentation": "One per finding (R4 DetectedIssue)"},
            {"name": "writes", "use": "out", "min": 0, "max": "1", "part": writes,
             "documentation": "With a FHIR server: the writes as the server confirmed them"},
            {**_part("outcome", type="OperationOutcome"), "use": "out", "min": 0, "max": "1",
             "documentation": "Resources that could not be used, each named"},
        ],
    }


def result_parameter(claim: Resource | None, skipped: Resource | None) -> Resource:
    """One claim's ``result``: its JSON report entry (or skip) as parts."""
    if claim is None:
        assert skipped is not None
        return {"name": "result", "part": [
            _part("claim", valueReference={"reference": skipped["claim"]}),
            _part("skipped", valueString=skipped["reason"])]}
    parts: list[Resource] = [
        _part("claim", valueReference={"reference": claim["claim"]}),
        _part("patient", valueReference={"reference": claim["patient"]}),
        _part("serviceDate", valueDate=claim["service_date"]),
        _part("verdict", valueCode=claim["verdict"]),
    ]
    for finding in claim["findings"]:
        inner: list[Resource] = [_part("code", valueCode=finding["code"]),
                                 _part("severity", valueCode=finding["severity"])]
        if finding.get("diagnosis"):
            inner.append(_part("diagnosis", valueCode=finding["diagnosis"]))
        inner.append(_part("message", valueString=finding["message"]))
        if finding.get("suggested_code"):
            inner.append(_part("suggestedCode", valueCode=finding["suggested_code"]))
        inner += [_part("evidence", valueReference={"reference": ref})
                  for ref in finding["evidence"]]
        parts.append({"name": "finding", "part": inner})
    return {"name": "result", "part": parts}


def problems_outcome(errors: list[Resource]) -> Resource:
    """The resources that could not be used, one issue each (the run went on without them)."""
    return {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "processing",
         "diagnostics": f"{e['resource']}: {e['message']}"} for e in errors]}


def parameters(results: list[Resource], issues: list[Resource], errors: list[Resource],
               writes: Resource | None) -> Resource:
    """The operation's answer: ``result`` parameters, then DetectedIssues, writes, problems."""
    parameter = [*results]
    parameter += [_part("detectedIssue", resource=issue) for issue in issues]
    if writes is not None:
        parameter.append({"name": "writes", "part": [
            *(_part(name, valueInteger=writes[name])
              for name in ("created", "updated", "cancelled", "unchanged", "failed")),
            _part("dryRun", valueBoolean=bool(writes["dry_run"]))]})
    if errors:
        parameter.append(_part("outcome", resource=problems_outcome(errors)))
    return {"resourceType": "Parameters", "parameter": parameter}


def claim_parameters(answer: Resource) -> Resource:
    """The Parameters for one claim's JSON answer (``CheckRun.claim_answer``)."""
    issues = [entry["resource"] for entry in answer["detected_issues"]["entry"]]
    return parameters([result_parameter(answer["claim"], answer["skipped"])], issues,
                      answer["errors"], answer["writes"])
