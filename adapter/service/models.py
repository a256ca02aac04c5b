"""The service's bodies and answers as declared models: FastAPI and pydantic write the
OpenAPI document (served at /openapi.json) from these, in place of hand-written schemas.

Answers are built by the adapter's own code (the JSON report, FHIR resources as dicts); the
models describe them, and tests check the answers against the document (schemathesis). The
request models describe what is accepted and refuse in the schema what the service refuses
(blank strings, malformed ids and references): the endpoints still read the raw body with the
adapter's readers, which name the resource and the problem, so bad input is a 4xx
OperationOutcome in the adapter's words, not FastAPI's.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

NON_BLANK = r"\S"
FHIR_ID = r"^[A-Za-z0-9\-.]{1,64}$"


class Open(BaseModel):
    """A JSON object that may hold more than the fields named (FHIR resources do)."""

    model_config = ConfigDict(extra="allow")


# --- FHIR resources, as far as the service answers them ---------------------------------------


class Issue(Open):
    severity: Literal["fatal", "error", "warning", "information"]
    code: str
    diagnostics: str | None = None


class OperationOutcome(Open):
    resourceType: Literal["OperationOutcome"]
    issue: list[Issue] = Field(min_length=1)


class Resource(Open):
    resourceType: str = Field(pattern=r"^[A-Z][A-Za-z]{1,63}$")
    id: str | None = Field(default=None, pattern=FHIR_ID)


class BundleEntry(Open):
    fullUrl: str | None = None
    resource: Resource | None = None


class Bundle(Open):
    resourceType: Literal["Bundle"]
    type: str | None = None
    entry: list[BundleEntry] | None = None


class Parameter(Open):
    name: str = Field(min_length=1)


class Parameters(Open):
    """``Accept: application/fhir+json``: a ``result`` per claim (parts claim, patient,
    serviceDate, verdict or skipped, finding), a ``detectedIssue`` per DetectedIssue,
    ``writes`` and ``outcome`` (see the OperationDefinition)."""

    resourceType: Literal["Parameters"]
    parameter: list[Parameter] | None = None


# --- the JSON report (SPEC section 5) and the operation's JSON answers ----------------------


class Finding(BaseModel):
    code: str
    severity: Literal["high", "moderate", "low"]
    diagnosis: str | None
    message: str
    suggested_code: str | None
    quote: str | None = Field(None, description="a note finding's sentence, the mention "
                              "marked [[...]] (SPEC 4.2); only on note findings")
    evidence: list[str]


class ClaimEntry(BaseModel):
    """A claim's entry of the JSON report."""

    claim: str
    patient: str
    service_date: str
    code_set: str = Field("", description="The ICD-10-CM release(s) the claim was judged with "
                          "(SPEC 4.3): one id, or two joined by '+' when the release in force "
                          "was not installed")
    verdict: Literal["supported", "review", "unsupported"]
    policy: str | None = Field(None, description="The payer policy applied (SPEC 4.4), if any")
    findings: list[Finding]


class Skipped(BaseModel):
    claim: str
    reason: str


class Problem(BaseModel):
    """A resource that could not be used (the run went on without it)."""

    resource: str
    message: str


class Writes(BaseModel):
    """With a FHIR server: the DetectedIssue writes as the server confirmed them (dry run:
    the writes planned, none made)."""

    created: int
    updated: int
    cancelled: int
    unchanged: int
    failed: int
    dry_run: bool
    planned: list[str]


class Summary(BaseModel):
    checked: int
    supported: int
    review: int
    unsupported: int
    skipped: int
    errors: int


class CheckAnswer(BaseModel):
    """One claim: its JSON report entry (null when skipped), the resources that could not be
    used, a collection Bundle of the DetectedIssues built, the writes (server only)."""

    claim: ClaimEntry | None
    skipped: Skipped | None
    errors: list[Problem]
    detected_issues: Bundle
    writes: Writes | None


class BatchAnswer(BaseModel):
    """A batch: the JSON report (one entry per claim), the DetectedIssues and the writes."""

    claims: list[ClaimEntry]
    skipped: list[Skipped]
    errors: list[Problem]
    notes: list[str] = Field([], description="What the run says once about itself: a guessed "
                             "clinic day, an ICD-10-CM release in force and not installed "
                             "(SPEC 4.3); absent when none")
    summary: Summary
    detected_issues: Bundle
    writes: Writes | None


class NotifyAnswer(Open):
    notification: str
    checked: list[dict[str, Any]] | None = None
    skipped: list[Skipped] | None = None
    errors: list[Problem] | None = None
    writes: Writes | None = None
    ignored: list[str] | None = None
    sync: str | None = None


# --- CDS Hooks 2.0 ------------------------------------------------------------------------------


class Suggestion(Open):
    label: str
    uuid: str


class Link(Open):
    label: str
    url: str
    type: Literal["absolute", "smart"]


class Source(Open):
    label: str


class Card(Open):
    uuid: str | None = None
    summary: str = Field(max_length=139)
    detail: str | None = None
    indicator: Literal["info", "warning"]
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: str | None = None
    links: list[Link] | None = None


class CdsAnswer(BaseModel):
    """Cards (none when the chart backs the order); ``extension`` holds a note when an order
    could not be read."""

    cards: list[Card]
    extension: dict[str, Any] | None = None


class CdsService(Open):
    hook: str
    id: str
    description: str
    prefetch: dict[str, str] | None = None


class Discovery(BaseModel):
    services: list[CdsService]


class Ready(Open):
    status: Literal["ready", "starting"]
    fhir_server_answers: bool | None = None


# --- request bodies (described, read by the adapter) -----------------------------------------


class ReferenceIn(BaseModel):
    reference: str = Field(min_length=1, pattern=NON_BLANK)


class ClaimParameter(BaseModel):
    name: Literal["resource", "claim"]
    resource: Resource | None = None
    valueReference: ReferenceIn | None = None


class ParametersIn(BaseModel):
    resourceType: Literal["Parameters"]
    parameter: list[ClaimParameter] = Field(min_length=1)


class DraftOrders(BaseModel):
    resourceType: Literal["Bundle"]
    entry: list[BundleEntry] | None = None


class HookContext(Open):
    userId: str | None = None
    patientId: str = Field(pattern=FHIR_ID)
    draftOrders: DraftOrders


class SelectContext(HookContext):
    selections: list[str]


class Feedback(Open):
    card: str = Field(min_length=1, pattern=NON_BLANK)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[dict[str, Any]] | None = None
    overrideReason: dict[str, Any] | None = None
    outcomeTimestamp: str | None = None


class FeedbackIn(BaseModel):
    feedback: list[Feedback] = Field(min_length=1)


def hook_request(hook: str) -> type[BaseModel]:
    """The body of a CDS Hooks call for ``hook`` (order-sign or order-select)."""
    context = SelectContext if hook == "order-select" else HookContext
    return create_model(
        f"HookRequest_{hook.replace('-', '_')}",
        hook=(str, Field(json_schema_extra={"enum": [hook]})),
        hookInstance=(str, Field(min_length=1, pattern=NON_BLANK)),
        fhirServer=(str | None, None),
        fhirAuthorization=(dict[str, Any] | None, None),
        context=(context, ...),
        prefetch=(dict[str, Any] | None, None),
    )


def schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with every ``$ref`` inlined (for a body or content that
    FastAPI does not place in the document's components itself)."""
    full = model.model_json_schema()
    definitions = full.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[1]])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(full)
