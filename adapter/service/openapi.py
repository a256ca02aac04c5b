"""The OpenAPI description of the service's bodies and answers (served at /openapi.json).

The endpoints read their bodies as raw JSON (a FHIR resource is checked by the adapter's own
readers, which report bad input resource by resource), so the request schemas here describe
what is accepted for callers and for schemathesis; they are not enforced by FastAPI.
"""

from __future__ import annotations

from typing import Any

DESCRIPTION = """\
Checks that vitamin B12 injection claims (HCPCS J3420) are backed by the FHIR R4 chart.

* `POST /Claim/$b12-check`: one claim (bare, in a Bundle with its evidence, in a Parameters,
  or by reference to the configured FHIR server). Answers the claim's JSON report entry and
  its DetectedIssues (a Bundle); bad input is a 4xx with an OperationOutcome.
* `POST /subscription`, `PUT /subscription/{type}/{id}`: FHIR Subscription rest-hook.
* `GET /cds-services`, `POST /cds-services/b12-injection`: CDS Hooks 2.0 (order-sign).
* `GET /health`, `GET /ready`: probes (no token needed).

Callers send `Authorization: Bearer <token>` when the service is started with an API token.
"""

JSON = "application/json"
FHIR_JSON = "application/fhir+json"

_OUTCOME = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
        "issue": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["severity", "code"],
            "properties": {"severity": {"type": "string"}, "code": {"type": "string"},
                           "diagnostics": {"type": "string"}}}},
    },
}
_REFERENCE = {"type": "object", "required": ["reference"],
              "properties": {"reference": {"type": "string"}}}
_RESOURCE = {"type": "object", "required": ["resourceType"],
             "properties": {"resourceType": {"type": "string"}, "id": {"type": "string"}}}
_BUNDLE = {
    "type": "object", "required": ["resourceType"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Bundle"]},
        "type": {"type": "string"},
        "entry": {"type": "array", "items": {"type": "object", "properties": {
            "fullUrl": {"type": "string"}, "resource": _RESOURCE}}},
    },
}
_FINDING = {
    "type": "object",
    "required": ["code", "severity", "message", "evidence"],
    "properties": {"code": {"type": "string"}, "severity": {"type": "string"},
                   "diagnosis": {"type": ["string", "null"]}, "message": {"type": "string"},
                   "suggested_code": {"type": ["string", "null"]},
                   "quote": {"type": "string", "description": "a note finding's sentence, "
                             "the mention marked [[...]] (SPEC 4.2)"},
                   "evidence": {"type": "array", "items": {"type": "string"}}},
}
_CLAIM_ENTRY = {
    "type": ["object", "null"],
    "description": "The claim's entry of the JSON report (SPEC section 5); null when skipped.",
    "properties": {"claim": {"type": "string"}, "patient": {"type": "string"},
                   "service_date": {"type": "string"},
                   "verdict": {"type": "string",
                               "enum": ["supported", "review", "unsupported"]},
                   "policy": {"type": ["string", "null"],
                              "description": "The payer policy applied (SPEC 4.4), if any"},
                   "findings": {"type": "array", "items": _FINDING}},
}
_PROBLEMS = {"type": "array", "items": {
    "type": "object", "required": ["resource", "message"],
    "properties": {"resource": {"type": "string"}, "message": {"type": "string"}}}}
_WRITES = {
    "type": ["object", "null"],
    "description": "With a FHIR server: the DetectedIssue writes, as the server confirmed "
                   "them (dry run: the writes planned, none made).",
    "properties": {name: {"type": "integer"} for name in
                   ("created", "updated", "cancelled", "unchanged", "failed")}
    | {"dry_run": {"type": "boolean"}, "planned": {"type": "array",
                                                   "items": {"type": "string"}}},
}
_CHECK_ANSWER = {
    "type": "object",
    "required": ["claim", "skipped", "errors", "detected_issues", "writes"],
    "properties": {
        "claim": _CLAIM_ENTRY,
        "skipped": {"type": ["object", "null"], "properties": {
            "claim": {"type": "string"}, "reason": {"type": "string"}}},
        "errors": _PROBLEMS,
        "detected_issues": {**_BUNDLE, "description": "One R4 DetectedIssue per finding "
                                                      "(a collection Bundle)."},
        "writes": _WRITES,
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {FHIR_JSON: {"schema": _OUTCOME}}}


_AUTH_ERRORS = {401: _error("No valid bearer token"),
                403: _error("Client certificate missing or not allowed"),
                413: _error("Body over --max-body-bytes")}

HEALTH = {200: {"description": "The process answers"}}
READY = {200: {"description": "Ready: mappings, thresholds and ICD-10-CM loaded"},
         503: {"description": "Still starting"}}


def _json_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"requestBody": {"required": required, "content": {
        FHIR_JSON: {"schema": schema}, JSON: {"schema": schema}}}}


def check_body(claim_type: str) -> dict[str, Any]:
    claim = {**_RESOURCE, "properties": {**_RESOURCE["properties"], "resourceType": {
        "type": "string", "enum": [claim_type]}}}
    parameters = {
        "type": "object", "required": ["resourceType", "parameter"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["Parameters"]},
            "parameter": {"type": "array", "items": {
                "type": "object", "required": ["name"],
                "properties": {"name": {"type": "string", "enum": ["resource", "claim"]},
                               "resource": _RESOURCE, "valueReference": _REFERENCE}}}},
    }
    return _json_body({"anyOf": [claim, _BUNDLE, parameters, _REFERENCE]})


def operation_description(claim_type: str) -> str:
    return (
        f"Checks one {claim_type}. Post the {claim_type} (checked against the configured FHIR "
        f"server's chart, and its DetectedIssues written back unless the service runs with "
        f"--dry-run; with no server, against nothing but itself), a Bundle holding the "
        f"{claim_type} and its evidence (checked against the Bundle only; nothing written), "
        f"a Reference such as {{\"reference\": \"{claim_type}/k1\"}} (read from the server), "
        f"or a Parameters wrapping one of these (parameter `resource` or `claim`).\n\n"
        f"Answers 200 with `claim` (the JSON report entry), `skipped`, `errors` (resources "
        f"that could not be used), `detected_issues` (a Bundle of the DetectedIssues built "
        f"for the findings) and `writes` (server only). Bad input: 4xx with an "
        f"OperationOutcome.")


CHECK_RESPONSES = {
    200: {"description": "Checked (or skipped, with the reason)",
          "content": {JSON: {"schema": _CHECK_ANSWER}}},
    400: _error("Not a Claim, Bundle, Parameters or Reference; invalid JSON"),
    404: _error("The referenced claim is not on the FHIR server"),
    415: _error("Not JSON (FHIR XML is not supported)"),
    422: _error("No claim, several claims, an unreadable claim, or a resource type this "
                "version does not check"),
    502: _error("The FHIR server failed or refused the service's credentials"),
    **_AUTH_ERRORS,
}

NOTIFY_BODY = _json_body({"anyOf": [_BUNDLE, _RESOURCE]}, required=False)
PUT_BODY = _json_body(_RESOURCE)
_NOTIFY_ANSWER = {"type": "object", "required": ["notification"], "properties": {
    "notification": {"type": "string"},
    "checked": {"type": "array", "items": {"type": "object"}},
    "skipped": {"type": "array"}, "errors": _PROBLEMS, "writes": _WRITES,
    "ignored": {"type": "array", "items": {"type": "string"}},
    "sync": {"type": "string"}}}
NOTIFY_RESPONSES = {
    200: {"description": "Handshake, heartbeat, or the notified claims checked and written",
          "content": {JSON: {"schema": _NOTIFY_ANSWER}}},
    202: {"description": "Empty notification (ping): an incremental sync run was started",
          "content": {JSON: {"schema": _NOTIFY_ANSWER}}},
    400: _error("Not a notification"),
    404: _error("No FHIR server configured"),
    415: _error("Not JSON"),
    422: _error("An empty notification and no --state"),
    502: _error("The FHIR server failed; deliver the notification again"),
    **_AUTH_ERRORS,
}

_CARD = {"type": "object", "required": ["summary", "indicator", "source"], "properties": {
    "uuid": {"type": "string"}, "summary": {"type": "string", "maxLength": 140},
    "detail": {"type": "string"},
    "indicator": {"type": "string", "enum": ["info", "warning", "critical"]},
    "source": {"type": "object", "required": ["label"],
               "properties": {"label": {"type": "string"}}}}}
_SERVICE = {"type": "object", "required": ["hook", "id", "description"],
            "properties": {"hook": {"type": "string"}, "id": {"type": "string"},
                           "prefetch": {"type": "object"}}}
DISCOVERY = {
    200: {"description": "The CDS services", "content": {JSON: {"schema": {
        "type": "object", "required": ["services"],
        "properties": {"services": {"type": "array", "items": _SERVICE}}}}}},
    **{k: v for k, v in _AUTH_ERRORS.items() if k != 413},
}
CDS_RESPONSES = {
    200: {"description": "Cards (none when the chart backs the order, or when the chart "
                         "could not be had: see extension)",
          "content": {JSON: {"schema": {"type": "object", "required": ["cards"], "properties": {
              "cards": {"type": "array", "items": _CARD},
              "extension": {"type": "object"}}}}}},
    400: _error("Not a CDS Hooks order-sign/order-select request"),
    415: _error("Not JSON"),
    **_AUTH_ERRORS,
}


def cds_body(hook: str) -> dict[str, Any]:
    context = {"type": "object", "required": ["patientId", "draftOrders"], "properties": {
        "userId": {"type": "string"}, "patientId": {"type": "string"},
        "draftOrders": _BUNDLE}}
    if hook == "order-select":
        context["required"] = [*context["required"], "selections"]
        context["properties"]["selections"] = {"type": "array", "items": {"type": "string"}}
    return _json_body({"type": "object", "required": ["hook", "hookInstance", "context"],
                       "properties": {"hook": {"type": "string", "enum": [hook]},
                                      "hookInstance": {"type": "string"},
                                      "fhirServer": {"type": "string"},
                                      "fhirAuthorization": {"type": "object"},
                                      "context": context,
                                      "prefetch": {"type": "object"}}})
