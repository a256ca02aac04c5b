"""Scope (SPEC section 4): which claims are checked, and the service date they are judged at.
A rule over the claim as read (ClaimRecord), no FHIR JSON."""

from __future__ import annotations

from datetime import date

import pytest

from adapter.evidence.facts import ClaimItem, ClaimRecord
from adapter.evidence.fields import BadResource
from adapter.mappings import load_mappings
from adapter.rules.scope import Skip, in_scope

HCPCS = ("http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "J3420")
CPT_96372 = ("http://www.ama-assn.org/go/cpt", "96372")
RXNORM = ("http://www.nlm.nih.gov/research/umls/rxnorm", "309594")


def _item(sequence: int, *product: tuple[str, str], day: date | None = None) -> ClaimItem:
    return ClaimItem(sequence, product, 1.0, day, (1,), ())


def _record(*items: ClaimItem, status: str | None = "active", patient: str | None = "Patient/p1",
            billable: date | None = date(2026, 3, 1), created: date | None = date(2026, 3, 5)
            ) -> ClaimRecord:
    return ClaimRecord("Claim/k1", "1", "2026-03-05T10:00:00Z", status, patient, billable,
                       created, (), items, ())


def _scope(record: ClaimRecord):
    return in_scope(record, load_mappings().drugs)


def test_a_j3420_line_puts_the_claim_in_scope_with_only_its_b12_lines():
    facts = _scope(_record(_item(1, CPT_96372), _item(2, HCPCS, day=date(2026, 3, 2))))
    assert [(i.sequence, i.is_j3420) for i in facts.b12_items] == [(2, True)]
    assert facts.service_date == date(2026, 3, 2)


def test_the_service_date_is_the_earliest_b12_line_date_whatever_the_line_order():
    # SPEC 4.1: the diagnosis, lab and anemia checks use the earliest B12 line date
    facts = _scope(_record(_item(1, HCPCS, day=date(2026, 3, 10)), _item(2, CPT_96372),
                           _item(3, HCPCS, day=date(2026, 3, 2))))
    assert facts.service_date == date(2026, 3, 2)
    assert facts.b12_dates == (date(2026, 3, 2), date(2026, 3, 10))


def test_an_rxnorm_b12_line_is_in_scope_but_not_j3420():
    facts = _scope(_record(_item(1, RXNORM)))
    assert [(i.sequence, i.is_j3420) for i in facts.b12_items] == [(1, False)]


def test_the_service_date_falls_back_to_the_billable_period_then_the_creation_date():
    assert _scope(_record(_item(1, HCPCS))).service_date == date(2026, 3, 1)
    assert _scope(_record(_item(1, HCPCS), billable=None)).service_date == date(2026, 3, 5)


@pytest.mark.parametrize("record, reason", [
    (_record(_item(1, CPT_96372)), "no B12 injection item"),
    (_record(_item(1, HCPCS), status="cancelled"), "claim status is cancelled"),
    (_record(_item(1, HCPCS), status="draft"), "claim status is draft"),
    (_record(_item(1, HCPCS), status="entered-in-error"), "claim status is entered-in-error"),
])
def test_claims_out_of_scope_are_skipped_with_the_reason(record, reason):
    assert _scope(record) == Skip(reason)


def test_a_b12_claim_that_cannot_be_judged_is_bad_input_not_a_skip():
    with pytest.raises(BadResource, match="no patient"):
        _scope(_record(_item(1, HCPCS), patient=None))
    with pytest.raises(BadResource, match="no service date"):
        _scope(_record(_item(1, HCPCS), billable=None, created=None))
    assert _scope(_record(_item(1, CPT_96372), patient=None)) == Skip("no B12 injection item")
