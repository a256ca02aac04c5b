"""The one list of record kinds (adapter.evidence.kinds) is what every part reads: the chart,
the server's searches, the file scan, the Subscription receiver, CDS Hooks and Spark."""

from __future__ import annotations

from adapter.evidence import kinds
from adapter.evidence.chart import Chart
from adapter.evidence.needs import LINKED_TYPES, chart_types, line_tests, record_searches
from adapter.mappings import load_mappings
from adapter.service.cds_hooks import prefetch_templates
from adapter.service.subscriptions import patients_of
from adapter.spark.records import wanted_type
from fixtures import builders as b

MAPPINGS = load_mappings()


def test_every_kind_is_read_by_the_chart_scanned_in_files_and_fetched_from_a_server():
    types = {k.resource_type for k in kinds.RECORD_KINDS}
    assert chart_types() == types
    assert set(line_tests(MAPPINGS)) == types  # a file of each kind is scanned with a test
    searched = {s.resource_type for s in record_searches(MAPPINGS)}
    # Medications come with the uses that name them, payer Organizations with the Coverages
    # that name them (_include; a claim's insurer is read by id), Binaries in a batch of
    # their own after the notes that point at them (SPEC 4.2)
    included = {"Medication", "Organization", "Binary"}
    assert searched | included == types
    assert types >= LINKED_TYPES
    assert all(wanted_type(t) for t in types)  # Spark reads the same files


def test_the_chart_files_each_kind_under_the_fact_its_row_names():
    chart = Chart(MAPPINGS)
    entries = chart.read(b.condition("c1", "p1", "E53.8"))
    assert tuple(what for what, _ in entries if what != "known") == (kinds.CONDITION, )
    assert chart.read({"resourceType": "Basic", "id": "x"}) == []  # no row: not read


def test_a_change_to_any_record_of_a_patient_rechecks_that_patient():
    changed = [
        {"resourceType": "Procedure", "id": "pr1", "subject": {"reference": "Patient/a"}},
        {"resourceType": "MedicationRequest", "id": "mr1",
         "subject": {"reference": "Patient/b"}},
        {"resourceType": "Patient", "id": "c"},
        {"resourceType": "Coverage", "id": "cov1", "beneficiary": {"reference": "Patient/d"}},
        {"resourceType": "DocumentReference", "id": "n1",
         "subject": {"reference": "Patient/e"}},  # a note: the day's words may change
        {"resourceType": "Binary", "id": "b1"},  # no patient: not traced
        {"resourceType": "Medication", "id": "m1"},  # no patient: not traced
        {"resourceType": "Organization", "id": "o1"},  # no patient: not traced
        {"resourceType": "Basic", "id": "z", "subject": {"reference": "Patient/z"}},
    ]
    assert patients_of(changed) == ["Patient/a", "Patient/b", "Patient/c", "Patient/d",
                                    "Patient/e"]


def test_cds_hooks_prefetch_keys_come_from_the_kinds():
    templates = prefetch_templates(MAPPINGS)
    expected = {k.prefetch for k in kinds.RECORD_KINDS if k.prefetch}
    # and a key of its own for each kind a server search _includes with (CDS Hooks' subset)
    included = {f"{k.prefetch}-{'medication' if k.search == kinds.WITH_MEDICATION else 'payor'}"
                for k in kinds.RECORD_KINDS
                if k.prefetch and k.search in (kinds.WITH_MEDICATION, kinds.WITH_PAYOR)}
    assert included == {"administrations-medication", "coverage-payor"}
    assert set(templates) == expected | included
    assert templates["observations"].startswith("Observation?patient={{context.patientId}}")
