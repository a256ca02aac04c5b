"""Findings as R4 DetectedIssue resources (SPEC section 5), validated before anyone sees them."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime
from typing import Any

from adapter import __version__
from adapter.findings import Finding
from adapter.outcomes import ClaimResult

FINDING_SYSTEM = "urn:b12-fhir-adapter:finding"
IDENTIFIER_SYSTEM = "urn:b12-fhir-adapter:finding-id"
CLAIM_SYSTEM = "urn:b12-fhir-adapter:claim"  # second identifier: find a claim's issues
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_CODE_DISPLAY = {"VALIDAT": "validation issue", "DOSE": "Dosage problem",
                    "DOSEIVL": "Dose interval alert"}
STATUSES = frozenset({"registered", "preliminary", "final", "amended", "corrected", "cancelled",
                      "entered-in-error", "unknown"})
SEVERITIES = frozenset({"high", "moderate", "low"})
DEVICE_ID = "b12-fhir-adapter"
EVIDENCE_PATHS = {"linked": "linked from the claim or its linked resources",
                  "record": "found in the patient's record only"}


# R4 strings hold no character below U+0020 but tab, CR and LF (the string type's regex)
_NOT_FHIR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def fhir_string(value: str) -> str:
    """``value`` as an R4 string: a control character the type forbids (a claim's code with an
    ESC or a NUL in it) is written as its escape (``\\x1b``); other text is unchanged."""
    return _NOT_FHIR.sub(lambda m: repr(m.group())[1:-1], value) if _NOT_FHIR.search(value) \
        else value


class InvalidDetectedIssue(ValueError):
    """A DetectedIssue the adapter built fails validation: a bug, never sent anywhere."""


def issue_key(result: ClaimResult, finding: Finding) -> str:
    """Stable for (claim, finding code, diagnosis): the identifier that makes writes idempotent.

    A finding judged per date of service (a second loading dose not given) adds its date when
    it is not the claim's service date, so each date keeps an issue of its own.
    """
    key = f"{result.claim}:{finding.code}:{finding.diagnosis or '-'}"
    if finding.day is not None and finding.day != result.service_date:
        key += f":{finding.day.isoformat()}"
    return fhir_string(key)  # the identifier's value, and its hash the id


def issue_id(key: str) -> str:
    return "b12-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def issue_urn(issue_id_: str) -> str:
    """``urn:uuid:`` for a DetectedIssue built here (its id's 32 hex digits, hyphenated)."""
    return f"urn:uuid:{uuid.UUID(hex=issue_id_.removeprefix('b12-'))}"


def _author() -> tuple[dict[str, Any], dict[str, Any]]:
    device = {
        "resourceType": "Device",
        "id": DEVICE_ID,
        "deviceName": [{"name": "b12-fhir-adapter", "type": "manufacturer-name"}],
        "version": [{"value": __version__}],
    }
    return device, {"reference": f"#{DEVICE_ID}", "display": f"b12-fhir-adapter {__version__}"}


def build_detected_issue(result: ClaimResult, finding: Finding, identified: datetime) -> dict:
    """One DetectedIssue for one finding; the Device author is contained, so only it is written."""
    kind = finding.kind
    key = issue_key(result, finding)
    codings = [{"system": FINDING_SYSTEM, "code": finding.code, "display": kind.title}]
    if kind.act_code:
        codings.append({"system": ACT_CODE_SYSTEM, "code": kind.act_code,
                        "display": ACT_CODE_DISPLAY.get(kind.act_code, kind.act_code)})
    device, author = _author()
    issue: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "id": issue_id(key),
        "contained": [device],
        "identifier": [{"system": IDENTIFIER_SYSTEM, "value": key},
                       {"system": CLAIM_SYSTEM, "value": fhir_string(result.claim)}],
        "status": "final",
        "code": {"coding": codings, "text": kind.title},
        "severity": finding.severity.value,
        "patient": {"reference": result.patient},
        "identifiedDateTime": identified.isoformat(timespec="seconds"),
        "author": author,
        "implicated": [{"reference": result.versioned_claim}]
        + [{"reference": ref} for ref in finding.evidence],
        "detail": fhir_string(_detail(finding)),
    }
    groups = [(path, [ref for ref in finding.evidence if finding.path_of(ref) == path])
              for path in ("linked", "record")]
    evidence = [{"code": [{"text": EVIDENCE_PATHS[path]}],
                 "detail": [{"reference": ref} for ref in refs]}
                for path, refs in groups if refs]
    if evidence:
        issue["evidence"] = evidence
    validate(issue)
    return issue


def _detail(finding: Finding) -> str:
    """The message, then the note's sentence a note finding read, as two sentences."""
    if not finding.quote:
        return finding.message
    stop = "" if finding.message.endswith((".", "!", "?")) else "."
    return f"{finding.message}{stop} The note says: \u201c{finding.quote}\u201d"


def key_of(issue: dict) -> str | None:
    """The finding identifier of an issue this adapter wrote, else None."""
    return next((i.get("value") for i in issue.get("identifier") or []
                 if isinstance(i, dict) and i.get("system") == IDENTIFIER_SYSTEM), None)


def cancel(issue: dict, reason: str, when: datetime) -> dict:
    """The same issue set to ``cancelled`` with a mitigation saying why (a corrected claim)."""
    cancelled = {k: v for k, v in issue.items() if k != "meta"}
    cancelled["status"] = "cancelled"
    cancelled["mitigation"] = [*issue.get("mitigation", []), {
        "action": {"text": fhir_string(f"Finding no longer applies: {reason}")},
        "date": when.isoformat(timespec="seconds"),
        "author": issue.get("author", _author()[1]),
    }]
    validate(cancelled)
    return cancelled


def validate(issue: dict) -> None:
    """Validate with the R4B model, plus the required codes the model does not enforce."""
    if issue.get("status") not in STATUSES:
        raise InvalidDetectedIssue(f"DetectedIssue status {issue.get('status')!r} is not R4")
    if issue.get("severity") not in SEVERITIES:
        raise InvalidDetectedIssue(f"DetectedIssue severity {issue.get('severity')!r} is invalid")
    from fhir.resources.R4B.detectedissue import DetectedIssue  # 50 ms: only when writing
    from pydantic import ValidationError

    try:
        DetectedIssue.model_validate(issue)
    except ValidationError as exc:
        raise InvalidDetectedIssue(f"DetectedIssue fails R4B validation: {exc}") from exc
