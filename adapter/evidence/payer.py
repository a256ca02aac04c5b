"""Who pays a claim (SPEC 4.4): the claim's own ``insurer``, its focal ``insurance.coverage``,
and the Coverage and Organization resources those point at, read into facts.

A claim's payer written in an unexpected shape names no payer (the claim then gets the
configured default policy, or none): it never fails the claim. A malformed Coverage is an
error naming it; an Organization is read for what it has (most are not payers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from adapter.evidence.fields import BadResource, is_object, ref_of, reference, text
from adapter.values import value

PAYER_TYPES = frozenset({"Coverage", "Organization"})


@value
class Party:
    """A payer as a Reference (or an Organization) names it: the resource it points at, and
    the keys a configuration may map, in the order they are tried: each identifier as
    ``system|value``, then each bare value, then the name (or the reference's display);
    ``names`` are those of the keys that are names, matched whatever their case."""

    ref: str | None
    keys: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


@value
class CoverageFact:
    ref: str
    patient: str | None  # beneficiary
    status: str | None
    payors: tuple[Party, ...]


@value
class ClaimPayer:
    """What a Claim or ExplanationOfBenefit says about its payer."""

    insurer: Party | None = None
    coverage: str | None = None  # the focal insurance's Coverage (or the only one)
    contained: tuple[Party, ...] = ()  # its payors, when the Coverage is contained (Synthea)


def _keys(identifiers: object, names: Iterable[object]) -> tuple[str, ...]:
    pairs: list[tuple[str, str]] = []
    for ident in identifiers if isinstance(identifiers, list) else [identifiers]:
        if isinstance(ident, Mapping) and isinstance(ident.get("value"), str):
            system = ident.get("system")
            pairs.append((system.strip() if isinstance(system, str) else "",
                          ident["value"].strip()))
    keys = [f"{system}|{val}" for system, val in pairs if system and val]
    keys += [val for _, val in pairs if val]
    keys += _names(names)
    return tuple(dict.fromkeys(text(k) for k in keys))


def _names(names: Iterable[object]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(text(" ".join(name.split())) for name in names
                               if isinstance(name, str) and name.strip()))


def party(ref_value: object) -> Party | None:
    """A Reference to a payer as a ``Party``; None when it names nothing."""
    if not is_object(ref_value):
        return None
    try:
        target = reference(ref_value, "", "")
    except BadResource:
        target = None
    names = [ref_value.get("display")]
    keys = _keys(ref_value.get("identifier"), names)
    return Party(target, keys, _names(names)) if target or keys else None


def read_claim_payer(resource: Mapping[str, Any]) -> ClaimPayer:
    """The claim's ``insurer`` and its focal ``insurance.coverage`` (the one insurance when
    none is marked focal)."""
    insurer = party(resource.get("insurer"))
    entries = resource.get("insurance")
    entries = [e for e in entries if is_object(e)] if isinstance(entries, list) else []
    focal = [e for e in entries if e.get("focal") is True] or entries[:1]
    coverage = None
    if focal:
        try:
            coverage = reference(focal[0].get("coverage"), "insurance.coverage", "")
        except BadResource:
            coverage = None
    contained: tuple[Party, ...] = ()
    if coverage and coverage.startswith("#"):
        contained = _contained_payors(resource, coverage[1:])
    return ClaimPayer(insurer, coverage, contained) if insurer or coverage else NO_PAYER


def _contained_payors(resource: Mapping[str, Any], rid: str) -> tuple[Party, ...]:
    inner = resource.get("contained")
    for item in inner if isinstance(inner, list) else ():
        if (isinstance(item, Mapping) and item.get("resourceType") == "Coverage"
                and item.get("id") == rid):
            try:
                return read_coverage(item).payors
            except BadResource:
                return ()
    return ()


NO_PAYER = ClaimPayer()


def read_coverage(resource: Mapping[str, Any]) -> CoverageFact:
    """A Coverage: its beneficiary and payors; a malformed one is a ``BadResource`` naming the
    field (its claims then get the default policy, or none)."""
    ref = ref_of(resource)
    patient = reference(resource.get("beneficiary"), "beneficiary", ref)
    payors = resource.get("payor", [])
    if not isinstance(payors, list) or not all(isinstance(p, Mapping) for p in payors):
        raise BadResource(ref, "payor is not a list of References")
    found = []
    for n, payor in enumerate(payors):
        reference(payor, f"payor[{n}]", ref)  # a malformed reference is named
        if (payer := party(payor)) is not None:
            found.append(payer)
    status = resource.get("status")
    return CoverageFact(ref, patient, text(status) if isinstance(status, str) else None,
                        tuple(found))


def read_organization(resource: Mapping[str, Any]) -> Party:
    """An Organization as a payer: its identifiers, its name and its aliases."""
    aliases = resource.get("alias")
    names = [resource.get("name"), *(aliases if isinstance(aliases, list) else [])]
    return Party(ref_of(resource), _keys(resource.get("identifier"), names), _names(names))
