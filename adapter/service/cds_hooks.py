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
from datetime import UTC, date, datetime
from typing import Any

from adapter.evidence.fields import (
    BadResource,
    codings,
    concept_text,
    is_object,
    items,
    optional_date,
    printable,
    reference,
    references,
    text,
)
from adapter.evidence.kinds import INCLUDES, PATIENT, RECORD_KINDS
from adapter.evidence.needs import record_searches
from adapter.evidence.read import mapped_snomed
from adapter.fhir import Query
from adapter.findings import Finding, Severity
from adapter.mappings import Mappings
from adapter.output.detected_issue import FINDING_SYSTEM
from adapter.rules.scope import b12_product
from adapter.service import crd
from adapter.service.outcome import ServiceError
from adapter.terminology import icd10cm
from adapter.terminology.systems import LOINC

Resource = dict[str, Any]
SERVICE_ID = "b12-injection"
SELECT_SERVICE_ID = "b12-injection-select"
HOOKS = {SERVICE_ID: "order-sign", SELECT_SERVICE_ID: "order-select"}
ORDER_TYPES = frozenset({"MedicationRequest", "ServiceRequest"})
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
CLAIM_PREFIX = "b12-order-"
SOURCE_LABEL = "B12 claim check (b12-fhir-adapter)"
# dx-derived: an order's reasonReference to a coded Condition is the order's diagnosis (the
# ordinary FHIR form), not a claim that forgot its code
NOT_BEFORE_CLAIM = frozenset({"admin-missing", "dose-units-mismatch", "item-dx-link",
                              "manifestation-sequencing", "evidence-not-linked", "dx-derived"})
# CRD: coverage and payment matters are info or warning; critical is for patient safety
INDICATOR = {Severity.HIGH: "warning", Severity.MODERATE: "warning", Severity.LOW: "info"}
SUMMARY_LIMIT = 139  # "<140 characters" (CDS Hooks 2.0)
FREQUENCY_CODE = "payer-frequency-limit"  # a CDS card of its own: not a finding of the rules
LAB_ORDER = {"system": LOINC, "code": "2132-9", "display": "Cobalamin (Vitamin B12) "
                                                          "[Mass/volume] in Serum or Plasma"}
# The chart a card needs; a key the client sent nothing for is missing (412 without a server).
PREFETCH_KEYS = ("patient", "conditions", "observations", "administrations")
# Read when sent, else no data: the patient's Coverages with their payors, for the payer's
# policy (SPEC 4.4). The record kinds table says which keys there are (evidence/kinds.py).
# CDS Hooks 2.0 recommends prefetch templates within a subset of FHIR search, which has no
# _include: each key's template keeps to it, and what a server search _includes (the
# Medications administrations name, a Coverage's payor) has an optional key of its own,
# "<key>-<included>", for the clients that can fill it (a client leaves out a key it cannot).
INCLUDED_PREFETCH_KEYS = tuple(f"{k.prefetch}-{INCLUDES[k.search]}" for k in RECORD_KINDS
                               if k.prefetch and k.search in INCLUDES)
OPTIONAL_PREFETCH_KEYS = tuple(k.prefetch for k in RECORD_KINDS
                               if k.prefetch and k.prefetch not in PREFETCH_KEYS
                               ) + INCLUDED_PREFETCH_KEYS
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
    "dx-excludes1": "ICD-10-CM never codes these two together (Excludes1): keep the reason "
                    "the chart supports and remove the other.",
    "code-set-missing": "The ICD-10-CM release in force on the order's date is not installed "
                        "on this service: the codes were checked against the nearest "
                        "releases. Ask its administrator to install it (b12-adapter codes "
                        "add).",
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
    """The record searches a server source runs, as prefetch templates for one patient:
    each within CDS Hooks' recommended subset (no ``_include``), and a search with an
    ``_include`` once more, whole, under its optional ``<key>-<included>`` key."""
    def template(rtype: str, params: tuple[tuple[str, str], ...]) -> str:
        return Query(rtype, (("patient", "PATIENT"), *params)).url().replace(
            "PATIENT", "{{context.patientId}}")

    templates = {"patient": "Patient/{{context.patientId}}"}
    names = {k.resource_type: k.prefetch for k in RECORD_KINDS
             if k.prefetch and k.fact != PATIENT}
    for search in record_searches(mappings):
        if (key := names.get(search.resource_type)) is None:
            continue
        rtype = search.resource_type
        templates[key] = template(rtype, tuple(p for p in search.params if p[0] != "_include"))
        for name, value in search.params:
            if name == "_include":
                templates[f"{key}-{value.partition(':')[2]}"] = template(rtype, search.params)
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
    unresolved: tuple[str, ...] = ()  # orders whose medicationReference could not be read


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
              and isinstance(e["resource"].get("resourceType"), str)
              and e["resource"]["resourceType"] in ORDER_TYPES]
    bundled = _bundled_medications(entries)
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
    if authorization is not None and not (isinstance(server, str) and server):
        raise ServiceError(400, "fhirAuthorization was given without fhirServer, which CDS "
                                "Hooks 2.0 then requires: the server the token is for")
    token = authorization.get("access_token") if isinstance(authorization, dict) else None
    if isinstance(token, str) and token and not (token.isascii() and token.isprintable()):
        raise ServiceError(400, "fhirAuthorization.access_token must be a bearer token "
                                "(printable ASCII)")
    unresolved = tuple(_order_label(o) for o in orders
                       if _medication_target(o) and not _order_concepts(o, bundled))
    return HookRequest(
        hook=hook, instance=text(instance.strip()), patient=patient,
        orders=tuple(o for o in orders if is_b12_order(o, mappings, bundled)),
        prefetch=prefetch if isinstance(prefetch, dict) else {},
        fhir_server=text(server) if isinstance(server, str) and server else None,
        access_token=token if isinstance(token, str) and token else None,
        unresolved=unresolved,
    )


def _bundled_medications(entries: list[Any]) -> dict[str, Resource]:
    """The draft Bundle's Medications by every name an order may use: ``Medication/id``, and
    the entry's fullUrl (``urn:uuid:...`` or absolute)."""
    found: dict[str, Resource] = {}
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "Medication":
            continue
        if isinstance(resource.get("id"), str):
            found[f"Medication/{resource['id']}"] = resource
        if isinstance(entry.get("fullUrl"), str):
            found[entry["fullUrl"]] = resource
    return found


def _medication_target(order: Resource) -> str | None:
    reference = order.get("medicationReference")
    target = reference.get("reference") if isinstance(reference, dict) else None
    return target if isinstance(target, str) and target else None


def is_b12_order(order: Resource, mappings: Mappings,
                 bundled: Mapping[str, Resource] | None = None) -> bool:
    try:
        concepts = _order_concepts(order, bundled or {})
        for concept in concepts:
            if b12_product(tuple(codings(concept, "code", "order")), mappings.drugs)[0]:
                return True
        text = " ".join(concept_text(c) for c in concepts).lower()
    except BadResource:
        return False
    return any(keyword in text for keyword in mappings.drugs.keywords)


def _order_concepts(order: Resource, bundled: Mapping[str, Resource]) -> list[Any]:
    """The concepts naming what is ordered: the ServiceRequest's code, the MedicationRequest's
    medicationCodeableConcept, or the code of the Medication its medicationReference names
    (contained, ``#id``; or in the draft Bundle, by ``Medication/id`` or fullUrl)."""
    if order.get("resourceType") == "ServiceRequest":
        return [order.get("code")] if isinstance(order.get("code"), dict) else []
    concepts = []
    if isinstance(order.get("medicationCodeableConcept"), dict):
        concepts.append(order["medicationCodeableConcept"])
    target = _medication_target(order)
    medication: Any = None
    if target and target.startswith("#"):  # contained not a list: unresolved, said in a note
        contained = order.get("contained")
        medication = next((c for c in contained if is_object(c) and c.get("id") == target[1:]),
                          None) if isinstance(contained, list) else None
    elif target:
        medication = bundled.get(target)
        if medication is None and "Medication/" in target:  # absolute or versioned
            rid = target.split("/_history/")[0].rstrip("/").rpartition("/")[2]
            medication = bundled.get(f"Medication/{rid}")
    if isinstance(medication, dict) and isinstance(medication.get("code"), dict):
        concepts.append(medication["code"])
    return concepts


def prefetched(request: HookRequest) -> tuple[list[Resource], list[str]]:
    """The prefetched resources (Bundles unpacked) and the prefetch keys that are missing
    (absent, or an OperationOutcome: the client could not fetch them). A key whose value is
    ``null`` is "no data" (CDS Hooks 2.0: the search found nothing), not missing."""
    resources: list[Resource] = []
    seen: set[tuple[str, str]] = set()  # a key and its "-<included>" key hold the same ones
    missing = []
    for key in (*PREFETCH_KEYS, *OPTIONAL_PREFETCH_KEYS):
        if request.prefetch.get(key) is None and (
                key in request.prefetch or key in OPTIONAL_PREFETCH_KEYS):
            continue
        value = request.prefetch.get(key)
        if not isinstance(value, dict) or value.get("resourceType") in (None,
                                                                       "OperationOutcome"):
            missing.append(key)
        elif value["resourceType"] == "Bundle":
            entries = value.get("entry")
            if entries is not None and not isinstance(entries, list):
                raise ServiceError(400, f"prefetch.{key}: Bundle.entry is not a list")
            resources += [e["resource"] for e in entries or []
                          if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
        else:
            resources.append(value)
    return [r for r in resources if _first_time(r, seen)], missing


def _first_time(resource: Resource, seen: set[tuple[str, str]]) -> bool:
    """Whether ``resource`` (by type and id) was not met before; one without an id always is."""
    rid = resource.get("id")
    if not isinstance(rid, str):
        return True
    key = (str(resource.get("resourceType")), rid)
    if key in seen:
        return False
    seen.add(key)
    return True


def synthetic_claim(order: Resource, patient: str, mappings: Mappings,
                    coverages: Sequence[str] = ()) -> Resource:
    """The claim this order would become, for the same checks as a real one.

    ``reasonCode`` becomes coded diagnoses; ``reasonReference`` to a Condition becomes a
    diagnosisReference (judged by the Condition's code: the order's diagnosis); to a
    contained Condition, that Condition's code. The order's ``insurance`` (a Coverage) is the
    claim's focal coverage, else the patient's one prefetched Coverage (``coverages``): its
    payor's policy applies as to the claim.

    The order is read with the checked field readers, as a claim's diagnoses and
    supportingInfo are: a malformed reason, supportingInfo or date is a ``BadResource``
    naming the order and the field (the order cannot be judged); a malformed ``insurance`` is
    passed over, as a claim's is (``evidence.payer``)."""
    ref = _order_label(order)
    diagnoses = [_coded_diagnosis(concept, f"reasonCode[{n}]", ref, mappings)
                 for n, concept in enumerate(items(order, "reasonCode", ref))]
    for target in references(order, "reasonReference", ref):
        if target.startswith("#"):
            diagnoses += _contained_reason(order, target[1:], ref, mappings)
        elif target.startswith("Condition/"):
            diagnoses.append({"diagnosisReference": {"reference": target}})
    for sequence, diagnosis in enumerate(diagnoses, 1):
        diagnosis["sequence"] = sequence
    supporting = references(order, "supportingInfo", ref)
    when = _order_date(order, ref)
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
    insured = _coverages(order, ref) or (list(coverages) if len(coverages) == 1 else [])
    if insured:
        claim["insurance"] = [{"sequence": 1, "focal": True,
                               "coverage": {"reference": insured[0]}}]
    if supporting:
        claim["supportingInfo"] = [{"sequence": n, "category": {"text": "order support"},
                                    "valueReference": {"reference": target}}
                                   for n, target in enumerate(supporting, 1)]
    return claim


def _coded_diagnosis(concept: Any, where: str, ref: str, mappings: Mappings) -> Resource:
    """A reason as a claim diagnosis: its codings (checked: ``codings`` names a malformed
    one), with the ICD-10-CM mapping of its SNOMED codes when it has no ICD-10-CM code."""
    pairs = codings(concept, where, ref)
    coded = [dict(c) for c in concept.get("coding") or []]
    if not any(system in icd10cm.SYSTEMS for system, _ in pairs):
        coded += [{"system": icd10cm.SYSTEM, "code": mapped}
                  for mapped in mapped_snomed(pairs, mappings)]
    return {"diagnosisCodeableConcept": {**concept, "coding": coded}}


def _contained_reason(order: Resource, rid: str, ref: str, mappings: Mappings
                      ) -> list[Resource]:
    """The diagnosis of a ``#id`` reasonReference: the contained Condition's code."""
    for n, contained in enumerate(items(order, "contained", ref)):
        if contained.get("resourceType") == "Condition" and contained.get("id") == rid:
            code = contained.get("code")
            return [] if code is None else [
                _coded_diagnosis(code, f"contained[{n}].code", ref, mappings)]
    return []


def _coverages(order: Resource, ref: str) -> list[str]:
    """The Coverages of the order's ``insurance``; an entry that is not a Reference is
    passed over, as a claim's malformed insurance is (``evidence.payer``)."""
    entries = order.get("insurance")
    found = []
    for n, entry in enumerate(entries if isinstance(entries, list) else ()):
        try:
            target = reference(entry, f"insurance[{n}]", ref)
        except BadResource:
            continue
        if target and target.startswith("Coverage/"):
            found.append(target)
    return found


def _order_date(order: Resource, ref: str) -> str:
    """The order's day (occurrenceDateTime, else authoredOn, read as a claim's dates are;
    else today)."""
    when = optional_date(order, "occurrenceDateTime", "authoredOn", ref=ref)
    return (when or datetime.now(UTC).date()).isoformat()


def cards(request: HookRequest, order: Resource, findings: Iterable[Finding]) -> list[Resource]:
    """One card per finding that applies before the claim exists: a summary under 140
    characters, ``warning`` at most (a billing matter), a suggestion (with its uuid) where
    there is one thing to do, and a link to the documenting Condition on ``fhirServer``."""
    label = _order_label(order)
    coverage = crd.read(order)
    found = []
    for finding in findings:
        if finding.code in NOT_BEFORE_CLAIM:
            continue
        kind = finding.kind
        summary = f"B12 injection: {kind.title}"
        if finding.diagnosis:
            summary += f" ({finding.diagnosis})"
        if len(summary) > SUMMARY_LIMIT:
            summary = summary[:SUMMARY_LIMIT - 3].rstrip() + "..."
        detail = (f"**{finding.message}**\n\n{ADVICE.get(finding.code, '')}\n\n"
                  f"Order: {label}. Finding `{finding.code}` ({finding.severity.value}); "
                  "the claim would be flagged for review or denied.")
        if finding.suggested_code:
            detail += f" Suggested code: {finding.suggested_code}."
        if coverage is not None:
            detail += "\n\n" + coverage.describe()
        key = f"{request.instance}|{label}|{finding.code}|{finding.diagnosis or '-'}"
        card: Resource = {
            "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
            "summary": summary,
            "detail": detail,
            "indicator": INDICATOR[finding.severity],
            "source": {"label": SOURCE_LABEL,
                       "topic": {"system": FINDING_SYSTEM, "code": finding.code,
                                 "display": kind.title}},
        }
        suggestion = _suggestion(order, finding, request.patient, key)
        if suggestion:
            card["suggestions"] = [suggestion]
            card["selectionBehavior"] = "at-most-one"
        links = _condition_links(request.fhir_server, finding.evidence)
        if links:
            card["links"] = links
        found.append(card)
    return found


def frequency_card(request: HookRequest, order: Resource, chart: Sequence[Resource],
                   mappings: Mappings) -> Resource | None:
    """A card when the payer's coverage information on the order limits how often (CRD
    ``allowed-quantity`` per period) and the chart's completed B12 injections in that period,
    with this order, would pass the limit."""
    coverage = crd.read(order)
    if coverage is None or coverage.limit is None:
        return None
    on = date.fromisoformat(_order_date(order, _order_label(order)))
    bundled = {f"Medication/{r['id']}": r for r in chart
               if r.get("resourceType") == "Medication" and isinstance(r.get("id"), str)}
    days = [day for r in chart if (day := _injection_day(r, mappings, bundled)) is not None]
    given = crd.injections_in_period(days, on, coverage.limit)
    if given + 1 <= coverage.limit.count:
        return None
    label = _order_label(order)
    limit = coverage.limit.describe()
    key = f"{request.instance}|{label}|{FREQUENCY_CODE}"
    return {
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
        "summary": f"B12 injection: over the payer's limit of {limit}"[:SUMMARY_LIMIT],
        "detail": (f"**The chart has {given} B12 injection(s) in the "
                   f"{coverage.limit.days} days up to {on.isoformat()}; the payer's coverage "
                   f"information on this order allows {limit}.**\n\nThis order would be one "
                   f"more: the claim would be denied for frequency unless the payer is shown "
                   f"why (a loading schedule, a documented relapse).\n\nOrder: {label}. "
                   + coverage.describe()),
        "indicator": "warning",
        "source": {"label": SOURCE_LABEL,
                   "topic": {"system": FINDING_SYSTEM, "code": FREQUENCY_CODE,
                             "display": "Over the payer's frequency limit"}},
    }


def _injection_day(resource: Resource, mappings: Mappings,
                   bundled: Mapping[str, Resource]) -> date | None:
    if resource.get("resourceType") != "MedicationAdministration" or \
            resource.get("status") != "completed":
        return None
    if not is_b12_order(resource, mappings, bundled):
        return None
    period = resource.get("effectivePeriod")
    when = resource.get("effectiveDateTime") or (
        period.get("start") if isinstance(period, dict) else None)
    if not isinstance(when, str) or not re.match(r"\d{4}-\d{2}-\d{2}", when):
        return None
    try:
        return date.fromisoformat(when[:10])
    except ValueError:
        return None


def _suggestion(order: Resource, finding: Finding, patient: str,
                key: str) -> Resource | None:
    """The one thing to do, as a CDS Hooks suggestion: the chart's more specific code as the
    order's reason, or a serum B12 order when no lab is on file."""
    if finding.suggested_code and order.get("id"):
        reasons = [c for c in order.get("reasonCode") or []
                   if not (isinstance(c, dict) and finding.diagnosis and any(
                       isinstance(x, dict) and icd10cm.normalize(str(x.get("code", "")))
                       == finding.diagnosis for x in c.get("coding") or []))]
        title = icd10cm.title(finding.suggested_code) or finding.suggested_code
        reason = {"coding": [{"system": icd10cm.SYSTEM, "code": finding.suggested_code,
                              "display": title}]}
        return {"label": f"Use {finding.suggested_code} ({title})"[:80] + " as the reason",
                "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, key + "|reason")),
                "isRecommended": True,
                "actions": [{"type": "update",
                             "description": f"Set the order's reason to "
                                            f"{finding.suggested_code}",
                             "resource": printable({**order,
                                                    "reasonCode": [reason, *reasons]})}]}
    if finding.code == "lab-missing":
        lab = {"resourceType": "ServiceRequest", "status": "draft", "intent": "order",
               "subject": {"reference": f"Patient/{patient}"},
               "code": {"coding": [LAB_ORDER], "text": "Vitamin B12 level"}}
        return {"label": "Order a serum vitamin B12 level (LOINC 2132-9)",
                "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, key + "|lab")),
                "isRecommended": True,
                "actions": [{"type": "create", "description": "Order a serum B12 level",
                             "resource": lab}]}
    return None


def _condition_links(server: str | None, evidence: Sequence[str]) -> list[Resource]:
    if not server:
        return []
    base = server.rstrip("/")
    return [{"label": f"Documenting {ref}", "url": f"{base}/{ref}", "type": "absolute"}
            for ref in evidence if ref.startswith("Condition/")][:3]


def _order_label(order: Resource) -> str:
    """``Type/id`` of a draft order (its id as written, made printable), in messages, notes
    and the cards' uuids."""
    rid = order.get("id")
    return (f"{text(str(order.get('resourceType')))}/"
            f"{text(rid) if isinstance(rid, str) and rid.strip() else '(draft)'}")


FEEDBACK_OUTCOMES = frozenset({"accepted", "overridden"})


def read_feedback(data: Any) -> list[dict[str, Any]]:
    """The feedback items of a CDS Hooks 2.0 feedback request, reduced to what is logged:
    the card's uuid, the outcome, the accepted suggestions' uuids and the override reason's
    code (no free text: it may hold PHI)."""
    if not isinstance(data, dict) or not isinstance(data.get("feedback"), list) \
            or not data["feedback"]:
        raise ServiceError(400, "a feedback request is {\"feedback\": [...]}, one item per card")
    found = []
    for n, item in enumerate(data["feedback"]):
        if not isinstance(item, dict) or not isinstance(item.get("card"), str) \
                or not item["card"].strip():
            raise ServiceError(400, f"feedback[{n}].card must be the card's uuid")
        if not isinstance(item.get("outcome"), str) or item["outcome"] not in FEEDBACK_OUTCOMES:
            raise ServiceError(400, f"feedback[{n}].outcome must be accepted or overridden")
        accepted = item.get("acceptedSuggestions") or []
        if not isinstance(accepted, list):
            raise ServiceError(400, f"feedback[{n}].acceptedSuggestions must be a list")
        if item["outcome"] == "accepted" and not accepted:  # CDS Hooks 2.0: conditional
            raise ServiceError(400, f"feedback[{n}].acceptedSuggestions is required for an "
                                    "accepted outcome (the suggestions the user accepted)")
        when = item.get("outcomeTimestamp")
        if not isinstance(when, str) or not _is_instant(when):
            raise ServiceError(400, f"feedback[{n}].outcomeTimestamp is required: the UTC "
                                    "instant the user acted on the card")
        reason = item.get("overrideReason")
        code = None
        if isinstance(reason, dict) and isinstance(reason.get("reason"), dict) and \
                isinstance(reason["reason"].get("code"), str):
            code = reason["reason"]["code"]
        found.append({"card": text(item["card"][:64]), "outcome": item["outcome"],
                      "accepted_suggestions": [text(str(a.get("id"))[:64]) for a in accepted
                                               if isinstance(a, dict)],
                      "override_reason": text(code[:64]) if code else None})
    return found


def _is_instant(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in value


def answer(cards_found: Sequence[Resource], note: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"cards": list(cards_found)}
    if note:
        body["extension"] = {"org.b12-fhir-adapter.note": note}
    return body
