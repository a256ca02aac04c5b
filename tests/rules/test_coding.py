"""manifestation-sequencing, cause-not-coded, item-dx-link: is the claim coded right?"""

from __future__ import annotations

from fixtures import builders as b
from tests.scenario import clean_chart, codes, finding, result

# manifestation-sequencing

def test_manifestation_sequencing_fires_for_g63_first_listed():
    f = finding(clean_chart(diagnoses=("G63", "E53.8"), pointers=(2,)),
                 "manifestation-sequencing")
    assert (f.severity, f.diagnosis) == ("moderate", "G63") and "first-listed" in f.message


def test_manifestation_sequencing_does_not_fire_for_g63_after_e53_8():
    resources = clean_chart(diagnoses=("E53.8", "G63"))
    assert "manifestation-sequencing" not in codes(*resources)


def test_manifestation_sequencing_fires_when_the_underlying_b12_diagnosis_is_missing():
    resources = [*clean_chart(diagnoses=("K90.0", "G32.0")), b.condition("c2", "p1", icd="K90.0")]
    f = finding(resources, "manifestation-sequencing")
    assert f.diagnosis == "G32.0" and "does not follow" in f.message


def test_a_manifestation_of_something_else_is_not_judged():
    # D63.8 "code first" names fish tapeworm, hookworm, hypothyroidism...: not B12 deficiency.
    assert "manifestation-sequencing" not in codes(*clean_chart(diagnoses=("E53.8", "D63.8")))


# cause-not-coded

def test_cause_not_coded_fires_for_a_charted_crohns_disease_missing_from_the_claim():
    resources = [*clean_chart(), b.condition("c2", "p1", snomed="34000006")]
    f = finding(resources, "cause-not-coded")
    assert (f.severity, f.evidence) == ("low", ("Condition/c2",)) and "K50.90" in f.message
    assert result(*resources).verdict == "supported"


def test_cause_not_coded_does_not_fire_when_the_cause_is_on_the_claim():
    resources = [*clean_chart(diagnoses=("E53.8", "K90.0")), b.condition("c2", "p1", icd="K90.0")]
    assert "cause-not-coded" not in codes(*resources)


def test_cause_not_coded_does_not_fire_for_a_resolved_or_unconfirmed_cause():
    resolved = b.condition("c2", "p1", icd="K90.0", clinical="resolved")
    provisional = b.condition("c2", "p1", icd="K90.0", verification="provisional")
    assert "cause-not-coded" not in codes(*clean_chart(), resolved)
    assert "cause-not-coded" not in codes(*clean_chart(), provisional)


# item-dx-link

def test_item_dx_link_fires_when_the_b12_item_has_no_diagnosis_sequence():
    f = finding(clean_chart(pointers=None), "item-dx-link")
    assert f.severity == "moderate" and "no diagnosisSequence" in f.message


def test_item_dx_link_fires_when_it_points_at_a_symptom():
    resources = clean_chart(diagnoses=("E53.8", "R53.83"), pointers=(2,))
    f = finding(resources, "item-dx-link")
    assert f.diagnosis == "R53.83"


def test_item_dx_link_fires_when_it_points_at_no_diagnosis_at_all():
    assert "item-dx-link" in codes(*clean_chart(pointers=(4,)))


def test_item_dx_link_does_not_fire_when_one_pointer_is_an_indication():
    assert "item-dx-link" not in codes(*clean_chart(diagnoses=("R53.83", "E53.8"),
                                                    pointers=(1, 2)))
