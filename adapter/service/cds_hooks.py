"""CDS Hooks 2.0 service ``b12-injection``: warn at order time, before the claim exists.

On ``order-sign`` (every draft order) and ``order-select`` (the selected ones), each draft
MedicationRequest or ServiceRequest for a B12 injection (HCPCS J3420, an RxNorm or NDC code
of cyanocobalamin or hydroxocobalamin, or the drug's name in the text) becomes a synthetic
Claim: the patient, the order's date (authoredOn, else today), its reasons
(``reasonCode`` as diagnoses, SNOMED mapped to ICD-10-CM; ``reasonReference`` as
diagnosisReference), its ``supportingInfo``, and one J3420 line pointing at every reason.
That claim goes through the same checks as a real one, against the chart from the prefetch
(or read from ``fhirServer``), and each finding becomes a card saying why the claim would not
be backed and what to document.

Which findings apply before a claim exists: the diagnosis (``dx-*``), lab
(``lab-missing``, ``lab-not-low``, ``anemia-not-supported``), ``specificity-loss`` and
``cause-not-coded`` findings. Not these: ``admin-missing`` and ``dose-units-mismatch`` (the
injection has not been given yet), ``item-dx-link`` and ``manifestation-sequencing`` (the
claim's lines and diagnosis order are made at billing, not by the order) and
``evidence-not-linked`` (links are made on the claim).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapter.evidence.fields import BadResource, codings, concept_text
from adapter.evidence.kinds import PATIENT, RECORD_KINDS
from adapter.evidence.needs import record_searches
from adapter.fhir import Query
from adapter.findings import Finding, Severity
from adapter.mappings import Mappings
from adapter.output.detected_issue import FINDING_SYSTEM
from adapter.rules.scope import b12_product
from adapter.service.outcome import ServiceError
from adapter.terminology import icd10cm
from adapter.terminology.snomed import SYSTEM as SNOMED

Resource = dict[str, Any]
SERVICE_ID = "b12-injection"
SELECT_SERVICE_ID = "b12-injection-select"
HOOKS = {SERVICE_ID: "order-sign", SELECT_SERVICE_ID: "order-select"}
ORDER_TYPES = frozenset({"MedicationRequest", "ServiceRequest"})
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
CLAIM_PREFIX = "b12-order-"
SOURCE_LABEL = "B12 claim check (b12-fhir-adapter)"
NOT_BEFORE_CLAIM = frozenset({"admin-missing", "dose-units-mismatch", "item-dx-link",
                              "manifestation-sequencing", "evidence-not-linked"})
INDICATOR = {Severity.HIGH: "critical", Severity.MODERATE: "warning", Severity.LOW: "info"}
PREFETCH_KEYS = ("patient", "conditions", "observations", "administrations")
_ID = re.compile(r"[^A-Za-z0-9\-.]")

# What to document, per finding: shown under the finding's own message.
ADVICE = {
    "dx-invalid": "Give the order a complete, billable ICD-10-CM reason (e.g. D51.0, D51.9, "
                  "E53.8) that the chart documents.",
    "dx-no-indication": "Add the reason for the injection: a B12 deficiency diagnosis "
                        "(D51.-, E53.8) or a malabsorption cause (K90.-, K91.2, K50.-, Z90.3, "
                        "Z98.84) documented on the problem list. Symptoms alone (fatigue, "
                        "neuropathy) do not support J3420.",
    "dx-not-documented": "Document the diagnosis in the chart (a confirmed, active Condition) "
                         "before signing, or choose the diagnosis the chart documents.",
    "dx-more-specific-than-chart": "The chart does not support this level of detail: document "
                                   "the specific diagnosis (and its basis), or order with the "
                                   "chart's code.",
    "dx-not-current": "The documenting Condition is resolved, inactive or not yet started on "
                      "this date: update the problem list if it is active again, or choose a "
                      "current diagnosis.",
    "dx-unconfirmed": "Confirm the diagnosis in the chart (verification status confirmed) once "
                      "it is established.",
    "lab-missing": "Record a serum B12 (LOINC 2132-9 or 14685-2), methylmalonic acid (13964-2) "
                   "or homocysteine (13965-9) result, unless a lifelong cause (pernicious "
                   "anemia, gastrectomy, ileal resection) is documented as current.",
    "lab-not-low": "Document why the injection is needed despite labs that do not show "
                   "deficiency, or record the result that shows it.",
    "anemia-not-supported": "Record the hemoglobin that shows the anemia, or use E53.8 (B12 "
                            "deficiency without anemia) as the reason.",
    "specificity-loss": "Use the chart's more specific diagnosis as the order's reason.",
    "cause-not-coded": "Add the documented cause of malabsorption as a reason as well.",
}


def discovery(mappings: Mappings) -> dict[str, Any]:
    """``GET /cds-services``: the service for order-sign, and the same for order-select."""
    templates = prefetch_templates(mappings)
    description = ("Warns when a vitamin B12 injection (J3420) is ordered and the chart would "
                   "not back the claim: the reason's diagnosis, its currency and confirmation, "
                   "B12-status labs and hemoglobin. Says what to document.")
    return {"services": [
        {"hook": hook, "id": service_id, "title": "B12 injection claim support",
         "description": description, "prefetch": templates,
         "usageRequirements": "Prefetch the patient's Conditions, B12-status and hemoglobin "
                              "Observations and MedicationAdministrations, or give fhirServer "
                              "and fhirAuthorization (the service must be allowed that server)."}
        for service_id, hook in HOOKS.items()]}


def prefetch_templates(mappings: Mappings) -> dict[str, str]:
    """The record searches a server source runs, as prefetch templates for one patient."""
    templates = {"patient": "Patient/{{context.patientId}}"}
    names = {k.resource_type: k.prefetch for k in RECORD_KINDS
             if k.prefetch and k.fact != PATIENT}
    for search in record_searches(mappings):
        if search.resource_type in names:
            query = Query(search.resource_type, (("patient", "PATIENT"), *search.params))
            templates[names[search.resource_type]] = query.url().replace(
                "PATIENT", "{{context.patientId}}")
    return templates


@dataclass(frozen=True)
class HookRequest:
    hook: str
    instance: str
    patient: str
    orders: tuple[Resource, ...]  # the B12 injection orders to check
    prefetch: Mapping[str, Any]
    fhir_server: str | None
    access_token: str | None


def read_request(data: Any, service_id: str, mappings: Mappings) -> HookRequest:
    """The parts of a CDS Hooks request the service uses; 400 for a malformed request."""
    if not isinstance(data, dict):
        raise ServiceError(400, "a CDS Hooks request is a JSON object")
    hook = data.get("hook")
    if hook not in HOOKS.values():
        raise ServiceError(400, f"service {service_id} answers order-sign and order-select, "
                                f"not {str(hook)[:64]!r}", code="not-supported")
    instance = data.get("hookInstance")
    if not isinstance(instance, str) or not instance.strip():
        raise ServiceError(400, "hookInstance is required (a UUID for this hook call)")
    context = data.get("context")
    if not isinstance(context, dict):
        raise ServiceError(400, "context is required: userId, patientId and draftOrders")
    patient = context.get("patientId")
    if not isinstance(patient, str) or not re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", patient):
        raise ServiceError(400, "context.patientId must be the patient's FHIR id")
    draft = context.get("draftOrders")
    if not isinstance(draft, dict) or draft.get("resourceType") != "Bundle":
        raise ServiceError(400, "context.draftOrders must be a Bundle of the draft orders")
    entries = draft.get("entry") or []
    if not isinstance(entries, list):
        raise ServiceError(400, "context.draftOrders.entry must be a list")
    orders = [e["resource"] for e in entries
              if isinstance(e, dict) and isinstance(e.get("resource"), dict)
              and e["resource"].get("resourceType") in ORDER_TYPES]
    if hook == "order-select":
        selections = context.get("selections")
        if not isinstance(selections, list):
            raise ServiceError(400, "order-select needs context.selections (the selected "
                                    "orders, 'Type/id')")
        chosen = {s for s in selections if isinstance(s, str)}
        orders = [o for o in orders if f"{o.get('resourceType')}/{o.get('id')}" in chosen]
    prefetch = data.get("prefetch")
    server = data.get("fhirServer")
    authorization = data.get("fhirAuthorization")
    token = authorization.get("access_token") if isinstance(authorization, dict) else None
    return HookRequest(
        hook=hook, instance=instance.strip(), patient=patient,
        orders=tuple(o for o in orders if is_b12_order(o, mappings)),
        prefetch=prefetch if isinstance(prefetch, dict) else {},
        fhir_server=server if isinstance(server, str) and server else None,
        access_token=token if isinstance(token, str) and token else None,
    )


def is_b12_order(order: Resource, mappings: Mappings) -> bool:
    try:
        concepts = _order_concepts(order)
        for concept in concepts:
            if b12_product(tuple(codings(concept, "code", "order")), mappings.drugs)[0]:
                return True
        text = " ".join(concept_text(c) for c in concepts).lower()
    except BadResource:
        return False
    return any(keyword in text for keyword in mappings.drugs.keywords)


def _order_concepts(order: Resource) -> list[Any]:
    if order.get("resourceType") == "ServiceRequest":
        return [order.get("code")] if isinstance(order.get("code"), dict) else []
    concepts = []
    if isinstance(order.get("medicationCodeableConcept"), dict):
        concepts.append(order["medicationCodeableConcept"])
    reference = order.get("medicationReference")
    target = reference.get("reference") if isinstance(reference, dict) else None
    if isinstance(target, str) and target.startswith("#"):
        for contained in order.get("contained") or []:
            if isinstance(contained, dict) and contained.get("id") == target[1:] and \
                    isinstance(contained.get("code"), dict):
                concepts.append(contained["code"])
    return concepts


def prefetched(request: HookRequest) -> tuple[list[Resource], list[str]]:
    """The prefetched resources (Bundles unpacked) and the prefetch keys that are missing
    (absent, null, or an OperationOutcome: the client could not fetch them)."""
    resources: list[Resource] = []
    missing = []
    for key in PREFETCH_KEYS:
        value = request.prefetch.get(key)
        if not isinstance(value, dict) or value.get("resourceType") in (None,
                                                                       "OperationOutcome"):
            missing.append(key)
        elif value["resourceType"] == "Bundle":
            resources += [e["resource"] for e in value.get("entry") or []
                          if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
        else:
            resources.append(value)
    return resources, missing


def synthetic_claim(order: Resource, patient: str, mappings: Mappings) -> Resource:
    """The claim this order would become, for the same checks as a real one."""
    diagnoses: list[Resource] = []
    for concept in order.get("reasonCode") or []:
        if not isinstance(concept, dict):
            continue
        coded = [dict(c) for c in concept.get("coding") or [] if isinstance(c, dict)]
        if not any(c.get("system") in icd10cm.SYSTEMS for c in coded):
            for c in list(coded):
                mapped = mappings.snomed.lookup(str(c.get("code", ""))) \
                    if c.get("system") == SNOMED else None
                if mapped:
                    coded.append({"system": icd10cm.SYSTEM, "code": mapped})
        diagnoses.append({"diagnosisCodeableConcept": {**concept, "coding": coded}})
    for reason in order.get("reasonReference") or []:
        if isinstance(reason, dict) and str(reason.get("reference", "")).startswith("Condition/"):
            diagnoses.append({"diagnosisReference": {"reference": reason["reference"]}})
    for sequence, diagnosis in enumerate(diagnoses, 1):
        diagnosis["sequence"] = sequence
    when = _order_date(order)
    claim: Resource = {
        "resourceType": "Claim",
        "id": CLAIM_PREFIX + _ID.sub("-", str(order.get("id") or "draft"))[:50],
        "status": "active",
        "use": "claim",
        "patient": {"reference": f"Patient/{patient}"},
        "created": when,
        "diagnosis": diagnoses,
        "item": [{"sequence": 1,
                  "productOrService": {"coding": [{"system": HCPCS, "code": "J3420"}]},
                  "servicedDate": when, "quantity": {"value": 1},
                  "diagnosisSequence": list(range(1, len(diagnoses) + 1))}],
    }
    supporting = [s for s in order.get("supportingInfo") or []
                  if isinstance(s, dict) and isinstance(s.get("reference"), str)]
    if supporting:
        claim["supportingInfo"] = [{"sequence": n, "category": {"text": "order support"},
                                    "valueReference": {"reference": s["reference"]}}
                                   for n, s in enumerate(supporting, 1)]
    return claim


def _order_date(order: Resource) -> str:
    for name in ("occurrenceDateTime", "authoredOn"):
        value = order.get(name)
        if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}", value):
            return value[:10]
    return datetime.now(UTC).date().isoformat()


def cards(request: HookRequest, order: Resource, findings: Iterable[Finding]) -> list[Resource]:
    """One card per finding that applies before the claim exists."""
    label = _order_label(order)
    found = []
    for finding in findings:
        if finding.code in NOT_BEFORE_CLAIM:
            continue
        kind = finding.kind
        summary = f"B12 injection: {kind.title}"
        if finding.diagnosis:
            summary += f" ({finding.diagnosis})"
        detail = (f"**{finding.message}**\n\n{ADVICE.get(finding.code, '')}\n\n"
                  f"Order: {label}. Finding `{finding.code}` ({finding.severity.value}); "
                  "the claim would be flagged for review or denied.")
        if finding.suggested_code:
            detail += f" Suggested code: {finding.suggested_code}."
        key = f"{request.instance}|{label}|{finding.code}|{finding.diagnosis or '-'}"
        found.append({
            "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
            "summary": summary[:140],
            "detail": detail,
            "indicator": INDICATOR[finding.severity],
            "source": {"label": SOURCE_LABEL,
                       "topic": {"system": FINDING_SYSTEM, "code": finding.code,
                                 "display": kind.title}},
        })
    return found


def _order_label(order: Resource) -> str:
    return f"{order.get('resourceType')}/{order.get('id') or '(draft)'}"


def answer(cards_found: Sequence[Resource], note: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"cards": list(cards_found)}
    if note:
        body["extension"] = {"org.b12-fhir-adapter.note": note}
    return body
