"""The chart's name index and what a claim's outcome carries for the audit; other sinks see
the same report whether or not the audit runs beside them."""

from __future__ import annotations

import pytest

from adapter.driver import Driver
from adapter.evidence.chart import Chart
from adapter.evidence.names import NAME_PARTS, name_of, parts_key
from adapter.mappings import load_mappings
from adapter.outcomes import ClaimOutcome, PageOutcome
from adapter.output.audit.collect import AuditSink
from adapter.output.report import Report
from adapter.rules import Policy
from adapter.sources.files import FileSource
from adapter.sources.memory import MemorySource
from fixtures import builders as b
from tests.audit.scenario import backed
from tests.test_demo import DEMO


@pytest.mark.parametrize("resource, name", [
    (b.practitioner("d1", "Ana", "Ortiz", "Dr.", "MD"), "Dr. Ana Ortiz MD"),
    (b.location("l1", "  Main\n Clinic "), "Main Clinic"),
    (b.organization("o1", "Riverside"), "Riverside"),
    ({"resourceType": "Patient", "id": "p1", "name": [
        {"use": "old", "family": "Before"},
        {"use": "usual", "given": ["Al"]},
        {"use": "official", "text": "Alma Abbott"}]}, "Alma Abbott"),
    ({"resourceType": "Patient", "id": "p1", "name": [{"given": ["Ana", "Maria"],
                                                       "family": "Lopez"}]}, "Ana Maria Lopez"),
    # shapes a name can come in that name nothing: no name, never a crash
    ({"resourceType": "Practitioner", "id": "d1", "name": "Dr. Who"}, None),
    ({"resourceType": "Practitioner", "id": "d1", "name": [{"use": ["official"], "given": 7}]},
     None),
    ({"resourceType": "Location", "id": "l1", "name": {"text": "x"}}, None),
    ({"resourceType": "Patient", "id": "p1", "name": [{"family": "   "}]}, None),
    ({"resourceType": "Condition", "id": "c1", "name": "not a named type"}, None),
])
def test_a_display_name_from_each_shape(resource, name):
    assert name_of(resource) == name


def test_the_chart_keeps_names_only_of_the_types_asked_for():
    resources = [b.practitioner("d1", "Ana", "Ortiz"), b.location("l1", "Main Clinic"),
                 b.patient("p1", name=("Alma", "Abbott"))]
    default, providers, everyone = (Chart(load_mappings(), names=names) for names in (
        frozenset(), frozenset({"Practitioner", "Location"}),
        frozenset({"Practitioner", "Location", "Patient"})))
    for chart in (default, providers, everyone):
        for resource in resources:
            chart.add(resource)

    assert default.names == {}
    assert providers.names == {"Practitioner/d1": "Ana Ortiz", "Location/l1": "Main Clinic"}
    assert everyone.name("Patient/p1") == "Alma Abbott"
    assert providers.name("Patient/p1") is None
    assert "Patient/p1" in providers.patients  # the patient's facts are read as before


def test_for_masking_the_chart_keeps_the_words_of_a_patient_s_names_apart():
    patient = b.patient("p1", name=("Hedwig", "Gruenwald"))
    patient["name"] += [{"use": "maiden", "family": "Oberhauser-Klein"},
                        {"text": "Mrs. Hedi Gruenwald"}]
    chart = Chart(load_mappings(), names=frozenset({NAME_PARTS}))
    chart.add(patient)

    assert chart.name_parts("Patient/p1") == "Hedwig Gruenwald Oberhauser-Klein Hedi"
    assert chart.name("Patient/p1") is None  # no display name: it is not to be shown
    assert set(chart.names) == {parts_key("Patient/p1")}
    assert Chart(load_mappings()).name_parts("Patient/p1") is None


def test_an_outcome_carries_the_evidence_and_only_the_names_asked_for():
    mappings = load_mappings()
    policy = Policy.from_mappings(mappings, mappings.thresholds)
    chart = [b.patient("p1", name=("Alma", "Abbott")), b.practitioner("d1", "Ana", "Ortiz"),
             *backed("k1", "p1", "2026-03-02", practitioner="d1")[1:]]

    class Keep(AuditSink):
        def write(self, page: PageOutcome) -> None:
            self.seen = [*getattr(self, "seen", []), *page.claims]

    for show_names, names in ((False, {"Practitioner/d1": "Ana Ortiz",
                                       parts_key("Patient/p1"): "Alma Abbott"}),
                              (True, {"Practitioner/d1": "Ana Ortiz",
                                      "Patient/p1": "Alma Abbott"})):
        sink = Keep(policy, show_names=show_names)
        Driver(MemorySource(chart), policy, mappings, [sink]).run()
        [outcome] = sink.seen
        assert outcome.names == names
        assert outcome.evidence is not None
        assert [c.fact.ref for c in outcome.evidence.conditions] == ["Condition/k1-c"]
        assert outcome.evidence.claim.providers == ("Practitioner/d1",)


def test_without_the_audit_no_name_is_kept_and_outcomes_compare_as_before():
    mappings = load_mappings()
    policy = Policy.from_mappings(mappings, mappings.thresholds)
    seen: list[ClaimOutcome] = []

    class Keep(Report):
        def write(self, page: PageOutcome) -> None:
            seen.extend(page.claims)
            super().write(page)

    chart = [b.patient("p1", name=("Alma", "Abbott")), *backed("k1", "p1", "2026-03-02")[1:]]
    Driver(MemorySource(chart), policy, mappings, [Keep()]).run()

    assert seen[0].names == {}
    assert seen[0] == ClaimOutcome(seen[0].claim, result=seen[0].result)  # evidence not compared


def test_the_report_is_the_same_with_the_audit_beside_it():
    mappings = load_mappings()
    policy = Policy.from_mappings(mappings, mappings.thresholds)
    alone, beside = Report(), Report()
    Driver(FileSource.open(DEMO), policy, mappings, [alone]).run()
    Driver(FileSource.open(DEMO), policy, mappings,
           [beside, AuditSink(policy, show_names=True)]).run()

    assert beside.to_dict() == alone.to_dict()
    assert not any(hasattr(result, "evidence") for result in beside.claims)
