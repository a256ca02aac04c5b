"""manifestation-sequencing, cause-not-coded, item-dx-link: is the claim coded right?"""

from __future__ import annotations

import pytest

from fixtures import builders as b
from tests import facts as f
from tests.scenario import SERVICE, clean_chart, codes, finding, replace, result


def _with_cause(cause: str = "K90.0", diagnoses: tuple[str, ...] = ("E53.8",),
                pointers: tuple[int, ...] = (1,), **condition):
    """The clean chart plus a charted cause Condition/c2; the claim codes ``diagnoses``."""
    return [*clean_chart(diagnoses=diagnoses, pointers=pointers),
            b.condition("c2", "p1", icd=cause, **condition)]


# manifestation-sequencing

def test_manifestation_sequencing_fires_for_g63_first_listed():
    resources = clean_chart(diagnoses=("G63", "E53.8"), pointers=(2,))
    f = finding(resources, "manifestation-sequencing")
    assert (f.severity, f.diagnosis, f.suggested_code, f.evidence) == (
        "moderate", "G63", None, ())
    assert "first-listed" in f.message
    assert result(*resources).verdict == "review"


def test_manifestation_sequencing_does_not_fire_for_g63_after_e53_8():
    assert codes(*clean_chart(diagnoses=("E53.8", "G63"))) == set()


def test_manifestation_sequencing_does_not_fire_for_g32_0_after_d51_0():
    assert "manifestation-sequencing" not in codes(*clean_chart(dx="D51.0",
                                                                diagnoses=("D51.0", "G32.0")))


def test_manifestation_sequencing_fires_when_the_underlying_b12_diagnosis_is_missing():
    resources = _with_cause(diagnoses=("K90.0", "G32.0"))
    f = finding(resources, "manifestation-sequencing")
    assert (f.diagnosis, f.evidence) == ("G32.0", ()) and "does not follow" in f.message


def test_manifestation_sequencing_fires_when_the_b12_diagnosis_comes_after_it():
    resources = _with_cause(diagnoses=("K90.0", "G63", "E53.8"))
    assert finding(resources, "manifestation-sequencing").diagnosis == "G63"


def test_manifestation_sequencing_reads_code_first_notes_beyond_g63_and_g32_0():
    # F02.80 (dementia in other diseases): "code first ... vitamin B12 deficiency (E53.8)"
    resources = clean_chart(diagnoses=("F02.80", "E53.8"), pointers=(2,))
    assert finding(resources, "manifestation-sequencing").diagnosis == "F02.80"
    assert "manifestation-sequencing" not in codes(*clean_chart(diagnoses=("E53.8", "F02.80")))


def test_manifestation_sequencing_does_not_judge_a_manifestation_of_something_else():
    # D63.8 "code first" names fish tapeworm, hookworm, hypothyroidism...: not B12 deficiency
    assert "manifestation-sequencing" not in codes(*clean_chart(diagnoses=("D63.8", "E53.8"),
                                                                pointers=(2,)))


def test_manifestation_sequencing_does_not_judge_arthropathy_in_hypersensitivity():
    # M36.4 "code first": Henoch(-Schönlein) purpura (D69.0), serum sickness (T80.6-)
    resources = _with_cause(diagnoses=("K90.0", "M36.4"))
    assert "manifestation-sequencing" not in codes(*resources)


# cause-not-coded

def test_cause_not_coded_fires_for_a_charted_cause_missing_from_the_claim():
    resources = _with_cause("K90.0")
    f = finding(resources, "cause-not-coded")
    assert (f.severity, f.diagnosis, f.suggested_code, f.evidence) == (
        "low", None, None, ("Condition/c2",))
    assert "K90.0" in f.message
    assert result(*resources).verdict == "supported"


@pytest.mark.parametrize("cause", ["K91.2", "K50.00", "Z90.3", "Z98.84", "K90.49",
                                   "K90.83", "B70.0"])  # K90.83, B70.0: SPEC 4.4
def test_cause_not_coded_fires_for_every_cause_family(cause):
    f = finding(_with_cause(cause), "cause-not-coded")
    assert cause in f.message and f.evidence == ("Condition/c2",)


def test_cause_not_coded_fires_for_crohns_disease_from_a_snomed_problem_list():
    resources = [*clean_chart(), b.condition("c2", "p1", snomed="34000006")]
    f = finding(resources, "cause-not-coded")
    assert f.evidence == ("Condition/c2",) and "K50.90" in f.message


def test_cause_not_coded_does_not_fire_when_the_cause_is_on_the_claim():
    assert codes(*_with_cause("K90.0", diagnoses=("E53.8", "K90.0"))) == set()


@pytest.mark.parametrize("condition", [
    {"clinical": "resolved"},
    {"clinical": "inactive"},
    {"onset": "2026-03-10"},
    {"verification": "refuted"},
    {"verification": "provisional"},
])
def test_cause_not_coded_does_not_fire_for_a_cause_that_is_not_current_or_confirmed(condition):
    assert "cause-not-coded" not in codes(*_with_cause("K90.0", **condition))


def test_cause_not_coded_does_not_fire_for_pernicious_anemia_which_is_no_cause():
    assert "cause-not-coded" not in codes(*_with_cause("D51.0"))


def test_cause_not_coded_does_not_fire_for_a_non_cause_like_hypertension():
    assert "cause-not-coded" not in codes(*_with_cause("I10"))


# item-dx-link

def test_item_dx_link_fires_when_the_b12_item_has_no_diagnosis_sequence():
    resources = clean_chart(pointers=None)
    f = finding(resources, "item-dx-link")
    assert (f.severity, f.diagnosis, f.suggested_code, f.evidence) == (
        "moderate", None, None, ())
    assert "no diagnosisSequence" in f.message
    assert result(*resources).verdict == "review"


def test_item_dx_link_fires_for_an_empty_diagnosis_sequence():
    claim = b.claim("k1", "p1", SERVICE, supporting=("Condition/c1", "Observation/o1"))
    claim["item"][0]["diagnosisSequence"] = []
    assert "item-dx-link" in codes(*replace(clean_chart(), claim))


def test_item_dx_link_fires_when_it_points_at_a_symptom():
    f = finding(clean_chart(diagnoses=("E53.8", "R53.83"), pointers=(2,)), "item-dx-link")
    assert f.diagnosis == "R53.83" and "R53.83" in f.message


def test_item_dx_link_fires_when_it_points_at_no_diagnosis_at_all():
    f = finding(clean_chart(pointers=(4,)), "item-dx-link")
    assert f.diagnosis is None and "nothing" in f.message


def test_item_dx_link_does_not_fire_when_one_pointer_is_a_b12_diagnosis():
    resources = clean_chart(diagnoses=("R53.83", "E53.8"), pointers=(1, 2))
    assert "item-dx-link" not in codes(*resources)


def test_item_dx_link_does_not_fire_when_it_points_at_a_cause():
    assert codes(*_with_cause("K90.0", diagnoses=("E53.8", "K90.0"), pointers=(2,))) == set()


# The same family on plain facts, no FHIR JSON (tests/facts.py)


def test_on_facts_g63_first_listed_is_a_sequencing_problem_and_after_e53_8_is_not():
    first = f.backed(f.claim("G63", "E53.8"), f.condition())
    after = f.backed(f.claim("E53.8", "G63"), f.condition())
    assert "manifestation-sequencing" in f.codes_of(first)
    assert "manifestation-sequencing" not in f.codes_of(after)


def test_on_facts_a_charted_cause_missing_from_the_claim_is_named():
    ev = f.backed(f.claim(), f.condition(), f.condition("Condition/c2", {"K90.0"}))
    [finding] = [x for x in f.findings(ev) if x.code == "cause-not-coded"]
    assert "K90.0" in finding.message and finding.evidence == ("Condition/c2",)
    assert "cause-not-coded" not in f.codes_of(
        f.backed(f.claim("E53.8", "K90.0"), f.condition(), f.condition("Condition/c2", {"K90.0"})))


@pytest.mark.parametrize("code", ["I21.A1", "M90.50"])
def test_manifestation_sequencing_leaves_notes_that_only_mention_anemia_alone(code):
    # I21.A1: "code first, if applicable ... anemia (D50.0-D64.9)"; M90.5-: "hemoglobinopathy
    # (D50-D64)": neither is a manifestation of B12 deficiency (SPEC 4.1)
    assert "manifestation-sequencing" not in codes(*clean_chart(diagnoses=(code, "E53.8"),
                                                                pointers=(2,)))
