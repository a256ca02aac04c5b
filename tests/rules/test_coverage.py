"""dx-not-covered, frequency-exceeds-policy: the payer's policy (SPEC 4.4), judged on plain
evidence; which policy applies is decided from the claim's payers and the configuration."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from adapter.evidence.facts import B12Item, ClaimEvidence
from adapter.evidence.payer import Party
from adapter.payer_policies import PayerPolicies
from adapter.policy_files import shipped_policies
from adapter.rules import check
from adapter.rules.coverage import applicable, injection_days
from tests import facts as f

SHIPPED = shipped_policies()
AETNA_NPI = "http://hl7.org/fhir/sid/us-npi|1234567893"
PAYERS = PayerPolicies(SHIPPED, {AETNA_NPI: "aetna-cpb-0536", "Aetna": "aetna-cpb-0536",
                                 "CMS": "medicare-l33967"})
MEDICARE = (Party("Organization/cms", ("CMS",)),)
AETNA = (Party("Organization/aetna", (AETNA_NPI, "1234567893")),)
DAY = f.DAY  # 2026-03-02


def _policy(payers: PayerPolicies = PAYERS):
    return replace(f.policy(), payers=payers)


def _ev(*codes: str, payers: tuple[Party, ...] = MEDICARE, given: tuple[date, ...] = (),
        billed: tuple[date, ...] = (), loading: frozenset[date] = frozenset(),
        days: tuple[date, ...] = (DAY,)) -> ClaimEvidence:
    claim = f.claim(*codes)
    claim = replace(claim, b12_items=tuple(B12Item(n, True, 1.0, d, (1,), ())
                                          for n, d in enumerate(days, 1)),
                    service_date=min(days))
    ev = f.evidence(claim, conditions=[f.condition(codes=set(codes) or {"E53.8"})],
                    labs=[f.lab("Observation/o1", "b12", 150)],
                    administrations=[f.given(f"MedicationAdministration/a{n}", d)
                                     for n, d in enumerate(sorted({*given, *days}))])
    return replace(ev, payers=payers, loading_stated=loading,
                   billed=tuple((f"Claim/b{n}", d) for n, d in enumerate(billed)))


def _codes(ev: ClaimEvidence, payers: PayerPolicies = PAYERS) -> list[str]:
    return [x.code for x in check(ev, _policy(payers))]


def _found(ev: ClaimEvidence, code: str, payers: PayerPolicies = PAYERS):
    return [x for x in check(ev, _policy(payers)) if x.code == code]


def _days(start: date, *gaps: int) -> tuple[date, ...]:
    """``start`` and each day ``gaps`` days after the one before."""
    out = [start]
    for gap in gaps:
        out.append(out[-1] + timedelta(days=gap))
    return tuple(out)


# which policy applies


def test_the_insurer_identifier_as_system_and_value_picks_the_policy():
    assert applicable(_ev(payers=AETNA), _policy()).id == "aetna-cpb-0536"


def test_a_bare_identifier_value_picks_the_policy():
    payers = PayerPolicies(SHIPPED, {"1234567893": "aetna-cpb-0536"})
    assert applicable(_ev(payers=(Party(None, ("urn:other|1234567893", "1234567893")),)),
                      _policy(payers)).id == "aetna-cpb-0536"


def test_an_unmapped_insurer_falls_through_to_the_coverage_payor():
    ev = _ev(payers=(Party("Organization/x", ("Someone",)), *MEDICARE))
    assert applicable(ev, _policy()).id == "medicare-l33967"


def test_an_unknown_payer_gets_the_default_policy_when_one_is_configured():
    payers = PayerPolicies(SHIPPED, {}, "medicare-l33967")
    assert applicable(_ev(payers=()), _policy(payers)).id == "medicare-l33967"


def test_an_unknown_payer_without_default_gets_no_policy_and_no_policy_finding():
    ev = _ev("R53.83", payers=(Party("Organization/x", ("Someone",)),),
             days=_days(DAY, 3))
    assert applicable(ev, _policy()) is None
    codes = _codes(ev)
    assert "dx-not-covered" not in codes and "frequency-exceeds-policy" not in codes


def test_no_policies_configured_means_no_policy():
    assert applicable(_ev(), _policy(PayerPolicies())) is None


def test_a_policy_not_yet_in_effect_on_the_service_date_does_not_apply():
    aetna = replace(SHIPPED["aetna-cpb-0536"], effective_from=date(2027, 1, 1))
    payers = PayerPolicies({**SHIPPED, "aetna-cpb-0536": aetna}, {AETNA_NPI: "aetna-cpb-0536"})
    assert applicable(_ev(payers=AETNA), _policy(payers)) is None


# dx-not-covered


def test_dx_not_covered_fires_when_no_diagnosis_is_on_the_policy_and_names_it():
    found = _found(_ev("D52.0", payers=AETNA), "dx-not-covered")
    assert len(found) == 1
    assert found[0].severity == "high" and found[0].diagnosis == "D52.0"
    assert "aetna-cpb-0536" in found[0].message and "CPB 0536" in found[0].message


def test_dx_not_covered_does_not_fire_for_a_covered_code():
    assert "dx-not-covered" not in _codes(_ev("D51.0", payers=AETNA))


def test_dx_not_covered_does_not_fire_for_a_code_under_a_covered_prefix():
    assert "dx-not-covered" not in _codes(_ev("K90.821", payers=AETNA))


def test_dx_not_covered_fires_for_a_dual_diagnosis_code_without_its_partner():
    found = _found(_ev("E53.8", payers=AETNA), "dx-not-covered")
    assert [x.diagnosis for x in found] == ["E53.8"]
    assert "G63" in found[0].message


def test_dx_not_covered_does_not_fire_for_a_dual_diagnosis_code_beside_its_partner():
    assert "dx-not-covered" not in _codes(_ev("E53.8", "G63", payers=AETNA))
    assert "dx-not-covered" not in _codes(_ev("E53.8", "Z98.84", payers=AETNA))


def test_dx_not_covered_partner_may_be_under_a_category_medicare_g63_beside_d51():
    assert "dx-not-covered" not in _codes(_ev("D51.0", "G63"))
    found = _found(_ev("G63", "R53.83"), "dx-not-covered")
    assert [x.diagnosis for x in found] == ["G63"]


def test_dx_not_covered_does_not_fire_under_a_frequency_only_policy():
    aetna = replace(SHIPPED["aetna-cpb-0536"], covered_codes=None, covered_prefixes=(),
                    dual_diagnosis=())
    payers = PayerPolicies({"aetna-cpb-0536": aetna}, {AETNA_NPI: "aetna-cpb-0536"})
    assert "dx-not-covered" not in _codes(_ev("D52.0", payers=AETNA), payers)


def test_a_policy_with_dual_diagnosis_and_no_covered_list_covers_every_other_code():
    """SPEC 4.4: covered absent means every indication is covered; dual_diagnosis alone
    limits only its own codes (a D51.0 claim was 'No claim diagnosis is covered')."""
    dual = replace(SHIPPED["aetna-cpb-0536"], covered_codes=None, covered_prefixes=())
    payers = PayerPolicies({"aetna-cpb-0536": dual}, {AETNA_NPI: "aetna-cpb-0536"})
    assert "dx-not-covered" not in _codes(_ev("D51.0", payers=AETNA), payers)
    assert "dx-not-covered" not in _codes(_ev("E53.8", "G63", payers=AETNA), payers)
    found = _found(_ev("E53.8", payers=AETNA), "dx-not-covered", payers)
    assert [x.diagnosis for x in found] == ["E53.8"]
    assert "only beside one of" in found[0].message


def test_dx_not_covered_does_not_fire_without_a_policy():
    assert "dx-not-covered" not in _codes(_ev("D52.0", payers=()))


# frequency-exceeds-policy


def test_frequency_fires_for_a_shot_10_days_after_the_last_one_in_maintenance():
    # 5 daily, 4 weekly, a monthly one: the course is in maintenance; 10 days later again
    history = _days(date(2025, 12, 1), 1, 1, 1, 1, 7, 7, 7, 7, 30)
    day = history[-1] + timedelta(days=10)
    found = _found(_ev(given=history, days=(day,)), "frequency-exceeds-policy")
    assert len(found) == 1
    assert found[0].severity == "moderate" and found[0].day == day
    assert "10 days" in found[0].message and "28 days" in found[0].message
    assert "medicare-l33967" in found[0].message
    assert f"MedicationAdministration/a{len(history) - 1}" in found[0].evidence


def test_frequency_does_not_fire_for_a_monthly_shot_in_maintenance():
    history = _days(date(2025, 12, 1), 1, 1, 1, 1, 7, 7, 7, 7, 30)
    day = history[-1] + timedelta(days=28)
    assert "frequency-exceeds-policy" not in _codes(_ev(given=history, days=(day,)))


def test_frequency_does_not_fire_while_the_loading_allowance_lasts():
    history = _days(date(2026, 2, 1), 1, 1, 1, 1, 7, 7)  # 5 daily, 2 weekly
    day = history[-1] + timedelta(days=7)  # the 8th: weekly is still allowed
    assert "frequency-exceeds-policy" not in _codes(_ev(given=history, days=(day,)))


def test_frequency_fires_once_the_loading_allowance_is_used_up():
    history = _days(date(2026, 1, 20), 1, 1, 1, 1, 7, 7, 7, 7)  # 5 daily, 4 weekly: done
    day = history[-1] + timedelta(days=7)  # a 5th weekly shot
    found = _found(_ev(given=history, days=(day,), payers=AETNA), "frequency-exceeds-policy")
    assert len(found) == 1 and "injection 10 of the course" in found[0].message


def test_frequency_does_not_fire_when_the_days_note_states_a_loading_phase():
    history = _days(date(2025, 12, 1), 1, 1, 1, 1, 7, 7, 7, 7, 30)
    day = history[-1] + timedelta(days=10)
    ev = _ev(given=history, days=(day,), loading=frozenset({day}))
    assert "frequency-exceeds-policy" not in _codes(ev)


def test_frequency_does_not_fire_for_a_course_restarted_after_a_long_gap():
    history = _days(date(2025, 1, 5), 1, 1, 1, 1, 7, 7, 7, 7, 30, 30)
    restart = history[-1] + timedelta(days=200)  # more than the 180-day course gap
    days = _days(restart, 1, 1)  # daily again: a new loading phase
    assert "frequency-exceeds-policy" not in _codes(_ev(given=history, days=days))


def test_frequency_counts_other_claims_billed_dates_alongside_administrations():
    # the maintenance shots were billed on other claims, with no administration record here
    billed = _days(date(2025, 12, 1), 1, 1, 1, 1, 7, 7, 7, 7, 30)
    day = billed[-1] + timedelta(days=10)
    assert "frequency-exceeds-policy" in _codes(_ev(billed=billed, days=(day,)))
    assert "frequency-exceeds-policy" not in _codes(_ev(days=(day,)))


def test_frequency_names_the_other_claim_that_billed_the_injection_before():
    # SPEC 4: every finding carries the references of the evidence it used
    billed = _days(date(2025, 12, 1), 1, 1, 1, 1, 7, 7, 7, 7, 30)
    day = billed[-1] + timedelta(days=10)
    [found] = _found(_ev(billed=billed, days=(day,)), "frequency-exceeds-policy")
    assert f"Claim/b{len(billed) - 1}" in found.evidence
    assert "Claim/b0" not in found.evidence  # an earlier injection is not the one before


def test_each_injection_date_counts_once_whatever_records_it():
    billed = _days(date(2026, 2, 1), 1, 1)
    ev = _ev(given=billed, billed=billed, days=(date(2026, 2, 4),))
    assert injection_days(ev) == [*billed, date(2026, 2, 4)]
    assert "frequency-exceeds-policy" not in _codes(ev)  # the 4th daily shot


def test_frequency_judges_each_date_of_a_claim_with_several_lines():
    history = _days(date(2025, 12, 1), 1, 1, 1, 1, 7, 7, 7, 7, 30)
    days = (history[-1] + timedelta(days=28), history[-1] + timedelta(days=35))
    found = _found(_ev(given=history, days=days), "frequency-exceeds-policy")
    assert [x.day for x in found] == [days[1]]


def test_a_self_administered_or_not_completed_administration_is_no_injection():
    ev = _ev(days=(DAY,))
    earlier = replace(f.given("MedicationAdministration/x", DAY - timedelta(days=10)),
                      status="not-done")
    ev = replace(ev, administrations=(*ev.administrations,
                                      replace(ev.administrations[0], fact=earlier)))
    assert injection_days(ev) == [DAY]


@pytest.mark.parametrize("payers", [(), (Party("Organization/x", ("Someone",)),)])
def test_frequency_does_not_fire_without_a_policy(payers):
    ev = _ev(given=_days(DAY - timedelta(days=100), 1, 1, 1, 1, 7, 7, 7, 7, 30, 10),
             payers=payers)
    assert "frequency-exceeds-policy" not in _codes(ev)


def test_dx_not_covered_does_not_fire_in_a_pemetrexed_course():
    from adapter.evidence.facts import MedicationFact

    pemetrexed = MedicationFact("MedicationAdministration/pem1", f.PATIENT,
                                "MedicationAdministration", "pemetrexed", "completed",
                                DAY + timedelta(days=5))
    ev = replace(_ev("C34.90", payers=AETNA), medications=(pemetrexed,))
    assert "dx-not-covered" not in _codes(ev)
    assert "dx-not-covered" in _codes(_ev("C34.90", payers=AETNA))
