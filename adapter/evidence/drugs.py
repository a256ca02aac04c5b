"""Which drug a medication use gives, and whether it was injected: the one place a use becomes
a fact. Decided once the drug is known, since a use may name a Medication resource read later
(``Chart.finish``): B12 (by RxNorm, NDC or name), pemetrexed or pralatrexate (the oncology
premedication of SPEC 4.1), or nothing the checks read; self-administered forms (oral,
sublingual, nasal) are marked so that they never count as a J3420 injection.
"""

from __future__ import annotations

import re
from functools import lru_cache

from adapter.evidence.facts import AdministrationFact, MedicationFact
from adapter.evidence.fields import BadResource
from adapter.evidence.read import Drug, MedicationUse
from adapter.mappings import DrugCodes
from adapter.terminology.systems import NDC, RXNORM
from adapter.terminology.units import UnitError, convert


def drug_group(drug: Drug, drugs: DrugCodes) -> str | None:
    """"b12", "pemetrexed" or "pralatrexate" by code, else by name; None for other drugs."""
    for system, code in drug.codes:
        if (system == RXNORM and code in drugs.rxnorm) or (
            system == NDC and drugs.ndc_strength(code) is not None
        ):
            return "b12"
        for name, group in drugs.premedicated.items():
            if group.has(system, code):
                return name
    if any(keyword in drug.text for keyword in drugs.keywords):
        return "b12"
    return next((name for name, group in drugs.premedicated.items()
                 if any(word in drug.text for word in group.words)), None)


def self_administered(use: MedicationUse, drug: Drug, drugs: DrugCodes) -> bool:
    """Oral, sublingual or nasal by route or dose form; by the product's name when neither is
    coded ("cyanocobalamin 1000 MCG Oral Tablet")."""
    shapes = drugs.self_administered
    coded = use.routes + drug.forms
    if coded:
        return any(shapes.has(system, code) for system, code in coded) or any(
            word in use.route_text for word in shapes.words)
    return _whole_words(shapes.words).search(f"{use.route_text} {drug.text}") is not None


@lru_cache(maxsize=16)
def _whole_words(words: tuple[str, ...]) -> re.Pattern[str]:
    """Any of ``words`` as a whole word (compiled once: this runs per administration)."""
    return re.compile("|".join(rf"\b{re.escape(word)}\b" for word in words) or r"(?!)")


def judge_use(use: MedicationUse, drug: Drug, drugs: DrugCodes,
              problems: list[BadResource]) -> AdministrationFact | MedicationFact | None:
    """The fact a medication use gives once its drug is known; None for drugs of no interest
    (an administration of B12 is an ``AdministrationFact``, the rest ``MedicationFact``)."""
    group = drug_group(drug, drugs)
    if group is None:
        return None
    if use.patient is None:
        problems.append(BadResource(use.ref, f"{use.kind} has no subject: whose it is cannot "
                                    "be told"))
        return None
    self_given = group == "b12" and self_administered(use, drug, drugs)
    if use.kind == "MedicationAdministration" and group == "b12":
        return AdministrationFact(
            ref=use.ref, patient=use.patient, status=use.status, day=use.day,
            dose_ug=_dose_ug(use, drug, drugs, problems), context=use.context,
            reasons=use.reasons, self_administered=self_given, other_days=use.other_days,
        )
    if use.kind != "MedicationStatement" or group == "b12":
        return MedicationFact(use.ref, use.patient, use.kind, group, use.status, use.day,
                              self_given)
    return None


def _dose_ug(use: MedicationUse, drug: Drug, drugs: DrugCodes,
             problems: list[BadResource]) -> float | None:
    """The dose in micrograms; a dose that cannot be converted is a problem, not a missing
    injection."""
    if use.dose is None:
        return None
    amount, unit = use.dose
    factors = dict(drugs.dose_units)
    if (strength := _strength(drug, drugs)) is not None:
        factors["ml"] = strength
    try:
        return convert(amount, (unit or "").lower() or None, factors, "ug")
    except UnitError as exc:
        problems.append(BadResource(use.ref, f"dosage.dose: {exc}"))
        return None


def _strength(drug: Drug, drugs: DrugCodes) -> float | None:
    """Micrograms per mL of a B12 product known by code (to convert a dose given in mL)."""
    for system, code in drug.codes:
        if system == RXNORM and code in drugs.rxnorm:
            return drugs.rxnorm[code]
        if system == NDC and (strength := drugs.ndc_strength(code)) is not None:
            return strength
    return None


# --- Procedure -------------------------------------------------------------------------------
