"""``POST /Claim/$b12-check``: what a caller may post, read into one ``Posted`` value.

Accepted bodies (JSON, ``application/fhir+json`` or ``application/json``):

- a Claim (or ExplanationOfBenefit, at its own endpoint): checked against the configured FHIR
  server's chart, or against nothing but itself when there is none;
- a Bundle holding the claim and its evidence: checked against the Bundle only;
- a Reference, ``{"reference": "Claim/k1"}``: read from the configured FHIR server;
- a Parameters resource wrapping any of these: parameter ``resource`` (a Claim or Bundle) or
  ``claim`` (a resource, or a ``valueReference``).

A batch (answered one result per claim, see ``batch.py``): a Bundle holding more than one
claim, or of ``type`` ``batch``; or a Parameters with several ``claim``/``resource``
parameters (claim references read from the server, or claims).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from adapter.evidence.fields import text
from adapter.fhir.guard import ID_RE
from adapter.service.outcome import ServiceError

Resource = dict[str, Any]
PARAMETER_NAMES = ("resource", "claim", "bundle")


@dataclass(frozen=True)
class Posted:
    """A posted claim: resources to check (``in_bundle``: with their own evidence), or a
    reference to read from the server."""

    resources: tuple[Resource, ...] = ()
    reference: str | None = None
    batch: bool = False
    references: tuple[str, ...] = ()  # a batch's claims on the server

    @property
    def in_bundle(self) -> bool:
        return any(r.get("resourceType") == "Bundle" for r in self.resources)


def read_json(body: bytes, content_type: str | None) -> Any:
    """The body as JSON; 415 for a declared non-JSON type (FHIR XML), 400 for bad JSON."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media and "json" not in media:
        raise ServiceError(415, f"send application/fhir+json, not {media!r} "
                                "(FHIR XML is not supported)", code="not-supported")
    if not body.strip():
        raise ServiceError(400, "the request has no body; post a Claim, a Bundle, a Parameters "
                                "or a Reference")
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise ServiceError(400, "the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ServiceError(400, f"the body is not valid JSON ({exc.msg} at line {exc.lineno}, "
                                f"column {exc.colno})") from None
    except RecursionError:
        raise ServiceError(400, "the body is nested too deeply") from None
    except ValueError as exc:  # an integer too long to convert (over 4300 digits)
        raise ServiceError(400, f"the body is not usable JSON ({str(exc).split(';')[0]})"
                           ) from None


def read_posted(data: Any, claim_type: str) -> Posted:
    """What to check, from a decoded body; 400 naming the problem for anything else."""
    if not isinstance(data, dict):
        raise ServiceError(400, f"the body must be a JSON object, not {_kind(data)}")
    rtype = data.get("resourceType")
    if rtype is None and "reference" in data:
        return Posted(reference=reference_of(data, claim_type))
    if rtype == "Parameters":
        return _from_parameters(data, claim_type)
    if rtype == "Bundle":
        if not isinstance(data.get("entry", []), list):
            raise ServiceError(400, "Bundle.entry is not a list")
        return Posted(resources=(data,),
                      batch=data.get("type") == "batch" or claim_count(data) > 1)
    if rtype == claim_type:
        return Posted(resources=(data,))
    raise ServiceError(400, f"this operation checks a {claim_type}: post the {claim_type}, a "
                            f"Bundle holding it and its evidence, a Parameters wrapping either, "
                            f"or a reference; got {_describe(rtype)}")


def reference_of(data: Any, claim_type: str) -> str:
    """``Type/id`` of a Reference (relative, or absolute on any base: the server is ours)."""
    ref = data.get("reference") if isinstance(data, dict) else None
    if not isinstance(ref, str) or not ref.strip():
        raise ServiceError(400, "Reference.reference must be a string such as "
                                f"'{claim_type}/k1'")
    parts = ref.strip().split("/_history/")[0].rstrip("/").split("/")
    if len(parts) < 2 or parts[-2] != claim_type or not ID_RE.fullmatch(parts[-1]):
        raise ServiceError(400, f"reference {ref[:100]!r} is not a {claim_type} reference "
                                f"('{claim_type}/<id>')")
    return f"{claim_type}/{parts[-1]}"


def claim_count(bundle: Resource) -> int:
    """Claims and ExplanationOfBenefits among a Bundle's entries."""
    return sum(1 for e in bundle.get("entry") or [] if isinstance(e, dict)
               and isinstance(e.get("resource"), dict)
               and e["resource"].get("resourceType") in ("Claim", "ExplanationOfBenefit"))


def _from_parameters(data: Resource, claim_type: str) -> Posted:
    parameters = data.get("parameter")
    if not isinstance(parameters, list):
        raise ServiceError(400, "Parameters.parameter must be a list")
    named = [p for p in parameters
             if isinstance(p, dict) and p.get("name") in PARAMETER_NAMES]
    if len(named) > 1:
        return _batch_parameters(named, claim_type)
    for parameter in parameters:
        if not isinstance(parameter, dict) or parameter.get("name") not in PARAMETER_NAMES:
            continue
        if "resource" in parameter:
            inner = parameter["resource"]
            if isinstance(inner, dict) and inner.get("resourceType") == "Parameters":
                raise ServiceError(400, "a Parameters may not wrap another Parameters")
            return read_posted(inner, claim_type)
        if "valueReference" in parameter:
            return Posted(reference=reference_of(parameter["valueReference"], claim_type))
        raise ServiceError(400, f"parameter {parameter['name']!r} needs a resource or a "
                                "valueReference")
    raise ServiceError(400, "Parameters holds no parameter named 'resource' or 'claim'")


def _batch_parameters(named: list[Resource], claim_type: str) -> Posted:
    """Several ``claim``/``resource`` parameters: references (read from the server) or
    resources (claims, or Bundles of claims and their charts), not both."""
    references: list[str] = []
    resources: list[Resource] = []
    for parameter in named:
        if "valueReference" in parameter:
            references.append(reference_of(parameter["valueReference"], claim_type))
        elif isinstance(parameter.get("resource"), dict) and \
                parameter["resource"].get("resourceType") in (claim_type, "Bundle"):
            resources.append(parameter["resource"])
        else:
            raise ServiceError(400, f"parameter {parameter['name']!r} needs a {claim_type}, "
                                    "a Bundle or a valueReference")
    if references and resources:
        raise ServiceError(400, "a batch gives its claims as references or as resources, "
                                "not both")
    if resources:
        for resource in resources:
            if resource["resourceType"] == "Bundle" and \
                    not isinstance(resource.get("entry", []), list):
                raise ServiceError(400, "Bundle.entry is not a list")
        return Posted(resources=tuple(resources), batch=True)
    return Posted(references=tuple(dict.fromkeys(references)), batch=True)


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _describe(rtype: Any) -> str:
    if rtype is None:
        return "an object with no resourceType"
    return repr(rtype)[:80] if not isinstance(rtype, str) else f"a {text(rtype[:64])}"
