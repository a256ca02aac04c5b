"""Which statuses count (SPEC section 4): the one place that says so.

Readers keep every status as written; the rules ask here whether a claim is in scope by its
status, whether a Condition counts, is confirmed and current, whether a lab is usable and an
administration was given.
"""

from __future__ import annotations

from datetime import date

from adapter.evidence.facts import AdministrationFact, ConditionFact, LabFact

SKIPPED_CLAIM_STATUSES = frozenset({"cancelled", "draft", "entered-in-error"})
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
    """Active/recurrence/relapse (or no status and not abated), onset not after ``day``."""
    if condition.onset is not None and condition.onset > day:
        return False
    if condition.abatement is not None and condition.abatement <= day:
        return False
    if condition.clinical_status is None:
        return not condition.abated
    return condition.clinical_status in ACTIVE_CLINICAL


def usable(lab: LabFact) -> bool:
    """Only final, amended and corrected results are evidence."""
    return lab.status in USABLE_OBSERVATION


def given(administration: AdministrationFact) -> bool:
    return administration.status in GIVEN_ADMINISTRATION
