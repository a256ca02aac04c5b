"""premedication-timing, and premedication as an indication (LCD L33967, SPEC 4.1): B12 before
pemetrexed or pralatrexate is covered whatever the diagnosis, on the drug's schedule."""

from __future__ import annotations

import pytest

from fixtures import builders as b
from tests.scenario import SERVICE, codes, finding, result

PEMETREXED = "1728072"
PRALATREXATE = "1796419"
LAB_FINDINGS = {"lab-missing", "lab-not-low"}


def _premedication(b12_day: str, *drug: dict, earlier_b12: tuple[str, ...] = (),
                   diagnoses: tuple[str, ...] = ("C34.90",)) -> list[dict]:
    """A lung-cancer patient's B12 claim, no B12 diagnosis, no B12 lab; ``drug`` the
    oncology drug's requests or administrations."""
    return [b.patient("p1"), b.condition("c1", "p1", icd="C34.90"),
            *(b.administration(f"e{n}", "p1", day) for n, day in enumerate(earlier_b12)),
            b.administration("a1", "p1", b12_day), *drug,
            b.claim("k1", "p1", b12_day, diagnoses=diagnoses)]


def _pemetrexed(day: str, n: int = 1, kind: str = "MedicationAdministration") -> dict:
    if kind == "MedicationAdministration":
        return b.administration(f"pem{n}", "p1", day, rxnorm=PEMETREXED, dose=500, unit="mg")
    return b.medication_request(f"pem{n}", "p1", day, rxnorm=PEMETREXED, kind=kind)


def test_b12_in_the_week_before_the_first_pemetrexed_dose_is_indicated_and_on_time():
    found = codes(*_premedication(SERVICE, _pemetrexed("2026-03-06")))
    assert not found & ({"dx-no-indication", "premedication-timing", "item-dx-link"}
                        | LAB_FINDINGS), found


def test_a_pemetrexed_order_alone_makes_the_claim_indicated():
    found = codes(*_premedication(SERVICE, _pemetrexed("2026-03-04", kind="MedicationRequest")))
    assert "dx-no-indication" not in found and not found & LAB_FINDINGS


def test_b12_two_weeks_before_the_first_pemetrexed_dose_is_off_schedule():
    f = finding(_premedication("2026-02-20", _pemetrexed("2026-03-06")), "premedication-timing")
    assert (f.severity, f.day.isoformat()) == ("moderate", "2026-02-20")
    assert "pemetrexed first given 2026-03-06" in f.message
    assert f.evidence == ("MedicationAdministration/pem1",)
    assert "dx-no-indication" not in codes(*_premedication("2026-02-20",
                                                           _pemetrexed("2026-03-06")))


@pytest.mark.parametrize("gap_days, fits", [(63, True), (56, True), (70, True), (35, False),
                                            (84, False)])
def test_later_pemetrexed_premedication_comes_every_8_to_10_weeks(gap_days, fits):
    from datetime import date, timedelta

    first_b12, first_dose = date(2025, 12, 29), date(2026, 1, 2)
    later = (first_b12 + timedelta(days=gap_days)).isoformat()
    doses = [_pemetrexed((first_dose + timedelta(days=21 * n)).isoformat(), n)
             for n in range(5)]
    found = codes(*_premedication(later, *doses, earlier_b12=(first_b12.isoformat(),)))
    assert ("premedication-timing" not in found) is fits


@pytest.mark.parametrize("days_before, fits", [(60, True), (70, True), (0, True), (75, False)])
def test_pralatrexate_premedication_within_10_weeks_before_the_first_dose(days_before, fits):
    from datetime import date, timedelta

    first = date(2026, 5, 1)
    b12 = (first - timedelta(days=days_before)).isoformat()
    drug = b.medication_request("pra1", "p1", first.isoformat(), rxnorm=PRALATREXATE)
    drug["authoredOn"] = first.isoformat()
    found = codes(*_premedication(b12, drug))
    assert ("premedication-timing" not in found) is fits
    assert "dx-no-indication" not in found


def test_a_drug_named_only_in_text_is_recognised():
    drug = b.administration("pem1", "p1", "2026-03-05", rxnorm=None, text="Pemetrexed 500 MG "
                            "Injection")
    assert "dx-no-indication" not in codes(*_premedication(SERVICE, drug))


def test_a_pemetrexed_course_years_ago_does_not_indicate_todays_b12():
    found = codes(*_premedication(SERVICE, _pemetrexed("2019-06-01")))
    assert "dx-no-indication" in found and "premedication-timing" not in found


def test_a_pemetrexed_statement_is_not_a_request_or_administration():
    found = codes(*_premedication(SERVICE, _pemetrexed("2026-03-05",
                                                       kind="MedicationStatement")))
    assert "dx-no-indication" in found


def test_without_an_oncology_drug_the_same_claim_has_no_indication():
    assert result(*_premedication(SERVICE)).verdict == "unsupported"
    assert "premedication-timing" not in codes(*_premedication(SERVICE))
