"""What each route says in the OpenAPI document (served at /openapi.json), from the declared
models of ``models.py``: FastAPI places the JSON answers' models in the document's
components; the FHIR answers (``application/fhir+json``) and the request bodies, which the
endpoints read raw with the adapter's own readers, carry the same models' schemas inline.
"""

from __future__ import annotations

from typing import Any

from fastapi import Security
from fastapi.security import HTTPBearer
from pydantic import BaseModel

from adapter.service import models as m

DESCRIPTION = """\
Checks that vitamin B12 injection claims (HCPCS J3420) are backed by the FHIR R4 chart.

* `POST /Claim/$b12-check`: one claim (bare, in a Bundle with its evidence, in a Parameters,
  or by reference to the configured FHIR server), or a batch. Answers the claim's JSON report
  entry and its DetectedIssues (a Bundle), or a FHIR `Parameters` for
  `Accept: application/fhir+json`; `Prefer: respond-async` answers 202 and `/async/{id}`.
* `POST /subscription`, `PUT /subscription/{type}/{id}`: FHIR Subscription rest-hook.
* `GET /cds-services`, `POST /cds-services/b12-injection`: CDS Hooks 2.0 (order-sign).
* `GET /metadata` (CapabilityStatement), `GET /OperationDefinition/b12-check`: FHIR
  discovery (no token needed).
* `GET /health`, `GET /ready`: probes (no token needed); `GET /metrics`: Prometheus.

Callers send `Authorization: Bearer <token>` when the service is started with an API token
(CDS clients: the token, or their signed JWT when their issuer is trusted).
"""

JSON = "application/json"
FHIR_JSON = "application/fhir+json"

# Described here; enforced before routing by guards.CallerAuth (which also refuses callers
# on unknown paths and before any body is read, which a dependency could not).
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description="The service's API token (--api-token-env/--api-token-file); "
                                "on /cds-services also a trusted CDS client's signed JWT")
AUTH = [Security(BEARER)]


def _fhir(model: type[BaseModel]) -> dict[str, Any]:
    return {FHIR_JSON: {"schema": m.schema(model)}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _fhir(m.OperationOutcome)}


def _answer(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "model": model}


_AUTH_ERRORS = {401: _error("No valid bearer token (or CDS client JWT)"),
                403: _error("Client certificate missing or not allowed"),
                429: _error("The service is saturated (--max-concurrent); Retry-After")}
_BODY_ERRORS = {408: _error("Body not received within --body-timeout"),
                413: _error("Body over --max-body-bytes"),
                415: _error("Not JSON (FHIR XML is not supported)")}

HEALTH = {200: {"description": "The process answers"}}
READY = {200: _answer(m.Ready, "Ready: mappings, thresholds and ICD-10-CM loaded; "
                               "fhir_server_answers: the configured server's /metadata"),
         503: {"description": "Still starting"}}
METRICS = {200: {"description": "Prometheus text exposition format (version 0.0.4)",
                 "content": {"text/plain": {"schema": {"type": "string"}}}},
           **_AUTH_ERRORS}
METADATA = {200: {"description": "The CapabilityStatement", "content": _fhir(m.Resource)}}
DEFINITION = {200: {"description": "The OperationDefinition of $b12-check",
                    "content": _fhir(m.Resource)}}


def _json_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"requestBody": {"required": required, "content": {
        FHIR_JSON: {"schema": schema}, JSON: {"schema": schema}}}}


def check_body(claim_type: str) -> dict[str, Any]:
    claim = m.schema(m.Resource)
    claim["properties"]["resourceType"] = {"type": "string", "enum": [claim_type]}
    reference = m.schema(m.ReferenceIn)
    reference["properties"]["reference"]["pattern"] = (
        rf"^(.*/)?{claim_type}/[A-Za-z0-9\-.]{{1,64}}(/_history/[^/]+)?/?$")
    parameters = m.schema(m.ParametersIn)
    return _json_body({"anyOf": [claim, m.schema(m.Bundle), parameters, reference]})


def operation_description(claim_type: str) -> str:
    return (
        f"Checks one {claim_type}. Post the {claim_type} (checked against the configured FHIR "
        f"server's chart, and its DetectedIssues written back unless the service runs with "
        f"--dry-run; with no server, against nothing but itself), a Bundle holding the "
        f"{claim_type} and its evidence (checked against the Bundle only; nothing written), "
        f"a Reference such as {{\"reference\": \"{claim_type}/k1\"}} (read from the server), "
        f"or a Parameters wrapping one of these (parameter `resource` or `claim`). A Bundle of "
        f"several claims (or of type batch), or a Parameters of several, is a batch "
        f"(--max-batch-claims).\n\n"
        f"Answers 200 with `claim` (the JSON report entry), `skipped`, `errors` (resources "
        f"that could not be used), `detected_issues` (a Bundle of the DetectedIssues built "
        f"for the findings) and `writes` (server only); a batch with the JSON report and "
        f"the same `detected_issues` and `writes`; `Accept: application/fhir+json`: a "
        f"Parameters. `Prefer: respond-async`: 202 with Content-Location to poll. Bad input: "
        f"4xx with an OperationOutcome.")


CHECK_RESPONSES = {
    200: {"description": "Checked (or skipped, with the reason): the JSON report entry (a "
                         "batch: the report), or a Parameters for Accept: "
                         "application/fhir+json",
          "content": {JSON: {"schema": {"anyOf": [m.schema(m.CheckAnswer),
                                                  m.schema(m.BatchAnswer)]}},
                      **_fhir(m.Parameters)}},
    202: {"description": "Prefer: respond-async: accepted; poll Content-Location",
          "content": _fhir(m.OperationOutcome)},
    400: _error("Not a Claim, Bundle, Parameters or Reference; invalid JSON"),
    404: _error("The referenced claim is not on the FHIR server"),
    422: _error("No claim, an unreadable claim, a batch over its limit, or a resource type "
                "this version does not check"),
    502: _error("The FHIR server failed or refused the service's credentials"),
    **_BODY_ERRORS,
    **_AUTH_ERRORS,
}
CHECK_RESPONSES[429] = _error("The service is saturated (--max-concurrent), or too many "
                              "asynchronous jobs wait; Retry-After")

ASYNC_POLL = {
    200: {"description": "Done: the answer the request would have had (a FHIR client: a "
                         "batch-response Bundle holding the Parameters)",
          "content": {JSON: {"schema": {"type": "object"}}, **_fhir(m.Bundle)}},
    202: {"description": "Still queued or running (X-Progress, Retry-After)",
          "content": _fhir(m.OperationOutcome)},
    400: _error("The request the job ran was refused"),
    404: _error("No such job: cancelled, expired (an hour after it finished), or the service "
                "restarted"),
    408: _error("The request the job ran timed out"),
    415: _error("The request the job ran was not JSON"),
    422: _error("The request the job ran could not be processed"),
    502: _error("The FHIR server failed"),
    **_AUTH_ERRORS,
}
ASYNC_DELETE = {
    202: {"description": "Cancelled and forgotten", "content": _fhir(m.OperationOutcome)},
    404: _error("No such job"),
    **_AUTH_ERRORS,
}

NOTIFY_BODY = _json_body({"anyOf": [m.schema(m.Bundle), m.schema(m.Resource)]},
                         required=False)
PUT_BODY = _json_body(m.schema(m.Resource))
NOTIFY_RESPONSES = {
    200: _answer(m.NotifyAnswer, "Handshake, heartbeat, or the notified claims checked and "
                                 "written"),
    202: _answer(m.NotifyAnswer, "Empty notification (ping): an incremental sync run was "
                                 "started"),
    400: _error("Not a notification"),
    404: _error("No FHIR server configured"),
    422: _error("An empty notification and no --state"),
    502: _error("The FHIR server failed; deliver the notification again"),
    **_BODY_ERRORS,
    **_AUTH_ERRORS,
}

DISCOVERY = {200: _answer(m.Discovery, "The CDS services"), **_AUTH_ERRORS}
CDS_RESPONSES = {
    200: _answer(m.CdsAnswer, "Cards (none when the chart backs the order; a note in "
                              "extension when an order could not be read)"),
    400: _error("Not a CDS Hooks order-sign/order-select request (or a prefetch Bundle "
                "whose entry is not a list)"),
    412: _error("The chart can be neither prefetched nor fetched (prefetch missing and "
                "fhirServer not given, not allowed, or failing)"),
    422: _error("A draft B12 order cannot be read (its reason, supportingInfo or date): "
                "the order and the field are named, nothing is checked"),
    **_BODY_ERRORS,
    **_AUTH_ERRORS,
}
FEEDBACK_RESPONSES = {
    200: {"description": "Feedback logged", "content": {JSON: {"schema": {"type": "object"}}}},
    400: _error("Not a CDS Hooks feedback request"),
    **_BODY_ERRORS,
    **_AUTH_ERRORS,
}
FEEDBACK_BODY = _json_body(m.schema(m.FeedbackIn))


def cds_body(hook: str) -> dict[str, Any]:
    return _json_body(m.schema(m.hook_request(hook)))
