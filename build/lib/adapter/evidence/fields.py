"""Reading FHIR JSON fields with the checks a rule needs, failing with the field's name.

The read path parses plain JSON (the R4B models cost ~20x more per resource) and checks
each field it uses here, so a malformed resource is reported precisely and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Any

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?$")


class BadResource(ValueError):
    """A resource cannot be used as evidence; ``ref`` says which, the message says why."""

    def __init__(self, ref: str, problem: str) -> None:
        super().__init__(f"{ref}: {problem}")
        self.ref = ref
        self.problem = problem


def ref_of(resource: Mapping[str, Any]) -> str:
    rtype = resource.get("resourceType", "?")
    rid = resource.get("id")
    return f"{rtype}/{rid}" if isinstance(rid, str) and rid else f"{rtype}/(no id)"


def parse_date(value: object, where: str, ref: str) -> date:
    """A FHIR date or dateTime as a calendar date (partial dates give their first day)."""
    if not isinstance(value, str):
        raise BadResource(ref, f"{where} is not a date: {value!r}")
    parsed = _calendar_date(value)
    if parsed is None:
        raise BadResource(ref, f"{where} is not a valid date: {value!r}")
    return parsed


@lru_cache(maxsize=8192)
def _calendar_date(value: str) -> date | None:
    """Cached: an export repeats the same few thousand dates across its resources."""
    match = _DATE.match(value.strip())
    if not match:
        return None
    year, month, day = match.groups()
    try:
        return date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        return None


def optional_date(resource: Mapping[str, Any], *names: str, ref: str) -> date | None:
    """The first of ``names`` present (``effectiveDateTime``, ``effectivePeriod.start``, ...)."""
    for name in names:
        head, _, tail = name.partition(".")
        value = resource.get(head)
        if tail and isinstance(value, Mapping):
            value = value.get(tail)
        elif tail:
            continue
        if value is not None:
            return parse_date(value, name, ref)
    return None


def reference(value: object, where: str, ref: str) -> str | None:
    """A Reference's target as ``Type/id``; absolute URLs and ``_history`` suffixes are trimmed."""
    if value is None:
        return None
    if type(value) is not dict and not isinstance(value, Mapping):
        raise BadResource(ref, f"{where} is not a Reference")
    target = value.get("reference")
    if target is None:
        return None
    if not isinstance(target, str) or not target.strip():
        raise BadResource(ref, f"{where}.reference is not a string")
    return normalize_reference(target)


def normalize_reference(target: str) -> str:
    target = target.strip()
    if target.count("/") == 1:  # already ``Type/id`` (the common case)
        return target
    if target.startswith(("urn:uuid:", "urn:oid:", "#")):
        return target
    parts = target.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:]) if len(parts) >= 2 else target


def items(resource: Mapping[str, Any], name: str, ref: str) -> list[Mapping[str, Any]]:
    """A repeating element as a list of objects (absent -> empty)."""
    value = resource.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadResource(ref, f"{name} is not a list of objects")
    for v in value:  # a loop, and dict before the (slower) Mapping check: this is hot
        if type(v) is not dict and not isinstance(v, Mapping):
            raise BadResource(ref, f"{name} is not a list of objects")
    return value


def codings(concept: object, where: str, ref: str) -> list[tuple[str, str]]:
    """(system, code) pairs of a CodeableConcept; codings without a code are passed over.

    A list, not a generator: concepts hold one or two codings, and this runs for every
    coded element of every resource.
    """
    if concept is None:
        return []
    if type(concept) is not dict and not isinstance(concept, Mapping):
        raise BadResource(ref, f"{where} is not a CodeableConcept")
    pairs = []
    for coding in items(concept, "coding", ref):
        code = coding.get("code")
        if isinstance(code, str) and (code := code.strip()):
            system = coding.get("system")
            pairs.append((system.strip() if isinstance(system, str) else "", code))
    return pairs


def status_code(concept: object, where: str, ref: str) -> str | None:
    """The code of a status CodeableConcept (Condition.clinicalStatus and verificationStatus)."""
    found = codings(concept, where, ref)
    return found[0][1] if found else None


def concept_text(concept: object) -> str:
    """Free text of a CodeableConcept: its text and its codings' displays, lower-cased."""
    if not isinstance(concept, Mapping):
        return ""
    parts = [concept.get("text")]
    parts += [c.get("display") for c in concept.get("coding") or [] if isinstance(c, Mapping)]
    return " ".join(p for p in parts if isinstance(p, str)).lower()


def number(value: object, where: str, ref: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadResource(ref, f"{where} is not a number: {value!r}")
    return float(value)


def subject(resource: Mapping[str, Any], ref: str) -> str | None:
    """The patient a clinical resource is about (``subject`` or ``patient``)."""
    for name in ("subject", "patient"):
        target = reference(resource.get(name), name, ref)
        if target:
            return target
    return None
