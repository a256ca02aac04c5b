"""Reading FHIR JSON fields with the checks a rule needs, failing with the field's name.

The read path parses plain JSON (the R4B models cost ~20x more per resource) and checks
each field it uses here, so a malformed resource is reported precisely and skipped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeGuard
from zoneinfo import ZoneInfo

from adapter.terminology import statuses
from adapter.terminology.systems import ALIASES as _SYSTEMS

# FHIR date and dateTime, ASCII digits only (\d takes other scripts' digits, int() reads them):
# a time has hours 00-23 and minutes (seconds up to 60, a fraction), an offset up to 14:00
_DATE = re.compile(r"^([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?"
                   r"(?:T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::(?:[0-5][0-9]|60)(?:\.[0-9]+)?)?"
                   r"(?:Z|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00))?)?$")
_HAS_OFFSET = re.compile(r"(Z|[+-][0-9]{2}:[0-9]{2})$")
_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_TYPES_SEEN: set[str] = set()
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # raw: the pattern, not the text, has the escapes
_RESOLVABLE = re.compile(r"^(?:[A-Z][A-Za-z]{1,63}/[A-Za-z0-9\-.]{1,64}|urn:uuid:\S+|#\S+)$")


class BadResource(ValueError):
    """A resource cannot be used as evidence; ``ref`` says which, the message says why."""

    def __init__(self, ref: str, problem: str) -> None:
        super().__init__(f"{ref}: {problem}")
        self.ref = ref
        self.problem = problem

    def __reduce__(self) -> tuple[type[BadResource], tuple[str, str]]:
        """Pickled as its two parts: worker processes send what they read to the parent."""
        return BadResource, (self.ref, self.problem)


def ref_of(resource: Mapping[str, Any]) -> str:
    """``Type/id``; ``Type/(no id)`` when the id is missing or not a FHIR id (such a resource
    cannot be referenced, nor named in a DetectedIssue)."""
    rtype = resource.get("resourceType")
    if rtype not in _TYPES_SEEN:  # a type checked once is known good (this runs per resource)
        if not (isinstance(rtype, str) and _TYPE.fullmatch(rtype)):
            rtype = "?"
        elif len(_TYPES_SEEN) < 1000:
            _TYPES_SEEN.add(rtype)
    rid = resource.get("id")
    return f"{rtype}/{rid}" if isinstance(rid, str) and _ID.fullmatch(rid) else f"{rtype}/(no id)"


def is_object(value: object) -> TypeGuard[Mapping[str, Any]]:
    """A JSON object: a dict (what parsers give) or any other Mapping. A dict and an absent
    value are told first: the ABC check costs ten times as much."""
    return type(value) is dict or (value is not None and isinstance(value, Mapping))


def has_id(ref: str) -> bool:
    return not ref.endswith("/(no id)")


def text(value: str) -> str:
    """A string from the input, safe to print and to write as UTF-8: a lone surrogate (from a
    ``\\ud800`` escape in the JSON) becomes U+FFFD."""
    return value if value.isascii() else _SURROGATE.sub("\ufffd", value)


def printable(value: Any) -> Any:
    """A JSON value from the input with every string in it (keys too) as ``text`` makes it:
    safe to echo back in an answer that is written as UTF-8."""
    if isinstance(value, str):
        return text(value)
    if is_object(value):
        return {text(str(k)): printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable(v) for v in value]
    return value


def string(value: object) -> str | None:
    """A plain string field (a status, a use, a version) as ``text`` makes it; None when
    absent or not a string. Statuses reach messages and DetectedIssues as written."""
    return text(value) if isinstance(value, str) else None


def parse_date(value: object, where: str, ref: str, zone: ZoneInfo | None = None) -> date:
    """A FHIR date or dateTime as a calendar date (partial dates give their first day).

    The day of a dateTime is its local day at the clinic: in ``zone`` when one is configured
    (an injection at 19:30 EST stored as 00:30Z counts on the 19:30 day), else in the offset
    the timestamp is written with.
    """
    if not isinstance(value, str):
        raise BadResource(ref, f"{where} is not a date: {_shown(value)}")
    parsed = _calendar_date(value, zone)
    if parsed is None:
        raise BadResource(ref, f"{where} is not a valid date: {_shown(value)}")
    return parsed


@lru_cache(maxsize=8192)
def _calendar_date(value: str, zone: ZoneInfo | None) -> date | None:
    """Cached: an export repeats the same few thousand dates across its resources."""
    text = value.strip()
    match = _DATE.match(text)
    if not match:
        return None
    year, month, day = match.groups()
    try:
        written = date(int(year), int(month or 1), int(day or 1))
        if zone is None or "T" not in text or not _HAS_OFFSET.search(text):
            return written
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(zone).date()
    except (ValueError, OverflowError):  # no such day, or out of range once moved to the zone
        return None


def utc_other_days(value: object, zone: ZoneInfo | None) -> tuple[date, ...]:
    """The other calendar days a UTC timestamp (``Z``, ``+00:00``) may be at the clinic when no
    ``facility_timezone`` says (SPEC 4.1 "Times"): many servers store every instant in UTC,
    so 00:30Z on 03-03 is 03-02 in the Americas. Every day the instant falls on in some zone
    from UTC-12 to UTC+14, but the UTC day itself (the day ``parse_date`` gives)."""
    if zone is not None or not isinstance(value, str):
        return ()
    return _utc_other_days(value.strip())


@lru_cache(maxsize=8192)
def _utc_other_days(text: str) -> tuple[date, ...]:
    if "T" not in text or not text.endswith(("Z", "+00:00", "-00:00")) or not _DATE.match(text):
        return ()
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
        first, last = (instant - timedelta(hours=12)).date(), (instant + timedelta(hours=14)).date()
    except (ValueError, OverflowError):
        return ()
    written = instant.date()
    return tuple(first + timedelta(days=n) for n in range((last - first).days + 1)
                 if first + timedelta(days=n) != written)


def _shown(value: object) -> str:
    """A value for an error message: short, one line, printable."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def optional_date(resource: Mapping[str, Any], *names: str, ref: str,
                  zone: ZoneInfo | None = None) -> date | None:
    """The first of ``names`` present (``effectiveDateTime``, ``effectivePeriod.start``, ...)."""
    name, value = first_present(resource, *names)
    return parse_date(value, name, ref, zone) if value is not None else None


def no_day(where: str, value: object) -> str | None:
    """Why a date read by ``parse_date`` cannot be a date of service: a year or a month
    (``"2026"``, ``"2026-06"``) is no day, though ``parse_date`` reads it as its first. None
    for a full date, told by its dashes first (the common case)."""
    if not isinstance(value, str) or (len(value) >= 10 and value[4] == "-" and value[7] == "-"):
        return None
    written: str = value.strip()
    if len(written) >= 10 and written[4] == "-" and written[7] == "-":
        return None
    return f"{where} is a partial date {_shown(value)}: a date of service needs the day"


def first_present(resource: Mapping[str, Any], *names: str) -> tuple[str, object]:
    """The first of ``names`` present and its value (``optional_date`` reads that one)."""
    for name in names:
        if "." in name:
            head, _, tail = name.partition(".")
            value = resource.get(head)
            if not is_object(value):
                continue
            value = value.get(tail)
        else:
            value = resource.get(name)
        if value is not None:
            return name, value
    return "", None


def reference(value: object, where: str, ref: str) -> str | None:
    """A Reference's target as ``Type/id`` (absolute URLs and ``_history`` trimmed), a
    ``urn:uuid:`` or a ``#contained`` id; None when absent or not something that can be
    looked up (an identifier-only or conditional reference, ``Patient/`` with no id)."""
    if value is None:
        return None
    if type(value) is not dict and not isinstance(value, Mapping):
        raise BadResource(ref, f"{where} is not a Reference")
    target = value.get("reference")
    if target is None:
        return None
    if not isinstance(target, str) or not target.strip():
        raise BadResource(ref, f"{where}.reference is not a string")
    return resolvable(target)


def resolvable(target: str) -> str | None:
    """A reference's target normalised, if it can be looked up (see ``reference``)."""
    target = normalize_reference(target)
    return text(target) if _RESOLVABLE.match(target) else None


def normalize_reference(target: str) -> str:
    target = target.strip()
    if target.count("/") == 1 or "?" in target:  # ``Type/id`` (the common case), conditional
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
    """(system, code) pairs of a CodeableConcept, each system under its canonical URL
    (``adapter.terminology.systems``); codings without a code are passed over.

    A list, not a generator: concepts hold one or two codings, and this runs for every
    coded element of every resource.
    """
    if concept is None:
        return []
    if type(concept) is not dict and not isinstance(concept, Mapping):
        raise BadResource(ref, f"{where} is not a CodeableConcept")
    found = concept.get("coding")
    if not found:
        return []
    if type(found) is not list:
        raise BadResource(ref, f"{where}.coding is not a list of objects")
    pairs = []
    for n, coding in enumerate(found):
        if type(coding) is not dict and not isinstance(coding, Mapping):
            raise BadResource(ref, f"{where}.coding is not a list of objects")
        code = coding.get("code")
        if code is None:
            continue
        if type(code) is not str:
            raise BadResource(ref, f"{where}.coding[{n}].code is not a string: {_shown(code)}")
        if code := code.strip():
            system = coding.get("system")
            if type(system) is str:
                system = system.strip()
                system = _SYSTEMS.get(system, system)
            else:
                system = ""
            # inline isascii: a lone surrogate is made printable by text(), rarely needed
            pairs.append((system if system.isascii() else text(system),
                          code if code.isascii() else text(code)))
    return pairs


def codes_of(resource: Mapping[str, Any], name: str, ref: str) -> frozenset[str]:
    """Every code of a repeating CodeableConcept element (``category``, ``interpretation``)."""
    found: list[str] = []
    for n, concept in enumerate(items(resource, name, ref)):
        found += [code for _, code in codings(concept, f"{name}[{n}]", ref)]
    return frozenset(found)


def status_code(concept: object, where: str, ref: str, allowed: frozenset[str]) -> str | None:
    """The code of a status CodeableConcept (Condition.clinicalStatus and verificationStatus),
    read as ``status`` reads one."""
    found = codings(concept, where, ref)
    return status(found[0][1], where, ref, allowed) if found else None


def status(value: object, where: str, ref: str, allowed: frozenset[str]) -> str | None:
    """A status code trimmed and lower-cased (``adapter.terminology.statuses``); None when
    absent or not a string, as ``string``. A code outside ``allowed``, the element's FHIR
    value set, is a ``BadResource`` naming it, not a status the rules would misread."""
    if type(value) is not str:
        return None
    code = value if value in allowed else statuses.normalized(value)
    if code in allowed:
        return code
    raise BadResource(ref, statuses.unknown(where, text(value), allowed))


def concept_text(concept: object) -> str:
    """Free text of a CodeableConcept: its text and its codings' displays, lower-cased."""
    if type(concept) is not dict and not isinstance(concept, Mapping):
        return ""
    written = concept.get("text")
    parts = [written] if type(written) is str else []
    codings_ = concept.get("coding")
    if type(codings_) is list:
        for coding in codings_:
            if (type(coding) is dict or isinstance(coding, Mapping)) \
                    and type(display := coding.get("display")) is str:
                parts.append(display)
    return text(" ".join(parts).lower()) if parts else ""


def number(value: object, where: str, ref: str) -> float:
    """A finite JSON number (NaN, infinities and integers past a float are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadResource(ref, f"{where} is not a number: {_shown(value)}")
    try:
        result = float(value)
    except OverflowError:
        raise BadResource(ref, f"{where} is too large to be a number") from None
    if not math.isfinite(result):
        raise BadResource(ref, f"{where} is not a finite number: {_shown(value)}")
    return result


def subject(resource: Mapping[str, Any], ref: str) -> str | None:
    """The patient a clinical resource is about (``subject`` or ``patient``)."""
    return (reference(resource.get("subject"), "subject", ref)
            or reference(resource.get("patient"), "patient", ref))


def references(resource: Mapping[str, Any], name: str, ref: str, where: str = "",
                 key: str | None = None) -> tuple[str, ...]:
    """The targets of a repeating Reference element (or of each element's ``key``)."""
    if name not in resource:
        return ()
    path = f"{where}.{name}" if where else name
    return tuple(
        target for n, e in enumerate(items(resource, name, ref))
        if (target := reference(e if key is None else e.get(key), f"{path}[{n}]", ref))
    )
