"""Every finding names the date it concerns in its message (SPEC 4.1 "Dates of service"):
a claim billing B12 on several dates is read by a coder one date at a time."""

from __future__ import annotations

import re

from fixtures import builders as b
from tests.scenario import SERVICE, clean_chart, replace, result, without
from tests.test_demo import POLICIES, _check

SECOND = "2026-03-09"
ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


def _two_dates_nothing_documented():
    """E53.8 billed on SERVICE and SECOND; no Condition, no lab, one injection on SERVICE:
    claim-level findings (judged on the earliest date) and a per-date one (SECOND)."""
    claim = b.claim("k1", "p1", SERVICE, units=1, more_dates=(SECOND,))
    chart = without(without(replace(clean_chart(), claim), "Condition", "c1"), "Observation", "o1")
    return result(*chart)


def test_claim_level_findings_name_the_earliest_b12_date_and_per_date_ones_their_own():
    found = _two_dates_nothing_documented().findings
    by_code = {(x.code, x.day.isoformat() if x.day else None): x.message for x in found}
    assert ("dx-not-documented", None) in by_code and ("admin-missing", SECOND) in by_code
    for (code, day), message in by_code.items():
        assert (day or SERVICE) in message, (code, message)
    assert SECOND not in by_code[("dx-not-documented", None)]


def test_a_message_that_names_its_date_is_not_given_it_twice():
    found = _two_dates_nothing_documented().findings
    [missing] = [x for x in found if x.code == "lab-missing"]
    assert missing.message.count(SERVICE) == 1 and "date of service" not in missing.message


def test_every_finding_of_the_demo_names_a_date_of_its_claim():
    _, report = _check("--config", str(POLICIES))
    assert report["claims"]
    for claim in report["claims"]:
        for entry in claim["findings"]:  # the earliest B12 date, or a later one (a line's)
            named = ISO.findall(entry["message"])
            assert any(day >= claim["service_date"] for day in named), \
                (claim["claim"], entry["message"])
    messages = [f["message"] for c in report["claims"] for f in c["findings"]
                if f["code"] == "dx-not-documented"]
    assert messages and all("(date of service " in m for m in messages)
