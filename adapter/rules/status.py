"""Which statuses count (SPEC section 4): the one place that says so.

Readers keep every status as written; the rules ask here whether a claim is in scope by its
status, whether a Condition counts, is confirmed and current, whether a lab is usable and an
administration was given.
"""

from __future__ import annotations

from datetime import date

from adapter.evidence.facts import (
    AdministrationFact,
    ConditionFact,
    LabFact,
    MedicationFact,
    ProcedureFact,
)

SKIPPED_CLAIM_STATUSES = frozenset({"cancelled", "draft", "entered-in-error"})
VOID_ORDERS = frozenset({"cancelled", "entered-in-error", "revoked", "not-taken"})
NOT_A_SERVICE_USES = frozenset({"preauthorization", "predetermination"})
ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
UNCONFIRMED_VERIFICATION = frozenset({"unconfirmed", "provisional", "differential"})
EXCLUDED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
USABLE_OBSERVATION = frozenset({"final", "amended", "corrected"})
GIVEN_ADMINISTRATION = frozenset({"completed"})


def counts(condition: ConditionFact) -> bool:
    """Refuted and entered-in-error Conditions do not count at all."""
    return condition.verification_status not in EXCLUDED_VERIFICATION


def confirmed(condition: ConditionFact) -> bool:
    return condition.verification_status not in UNCONFIRMED_VERIFICATION


def current_at(condition: ConditionFact, day: date) -> bool:
    """Whether the Condition was current on ``day`` (SPEC 4.1): onset not after it, and then
    active/recurrence/relapse, or no status and not abated. clinicalStatus says how things
    stand now, not on ``day``: a dated abatement after ``day`` keeps a Condition now resolved
    or inactive current on ``day``; resolved or inactive without a date is not current."""
    if condition.onset is not None and condition.onset > day:
        return False
    if condition.abatement is not None:
        return condition.abatement > day
    if condition.clinical_status is None:
        return not condition.abated
    return condition.clinical_status in ACTIVE_CLINICAL


def usable(lab: LabFact) -> bool:
    """Only final, amended and corrected results are evidence."""
    return lab.status in USABLE_OBSERVATION


def given(administration: AdministrationFact) -> bool:
    """A completed administration of an injectable (an oral tablet is not the injection)."""
    return administration.status in GIVEN_ADMINISTRATION and not administration.self_administered


def ordered(medication: MedicationFact) -> bool:
    """A request or statement that was not cancelled, revoked or entered in error."""
    return medication.status not in VOID_ORDERS


def performed(procedure: ProcedureFact) -> bool:
    return procedure.status in (None, "completed")
