"""ICD-10-CM facts read from the April 2026 tabular (simple-icd-10-cm), not from our lists."""

from __future__ import annotations

import pytest

from adapter.terminology import icd10cm
from adapter.terminology.codes import CodeSet

B12 = frozenset({"E53.8", "D51.0", "D51.1", "D51.2", "D51.3", "D51.8", "D51.9"})


@pytest.mark.parametrize("code, billable", [
    ("D51.0", True), ("E53.8", True), ("G63", True), ("K50.00", True),
    ("D51", False), ("E53", False), ("D51.10", False), ("D51.89", False), ("G63.0", False),
    ("K50", False), ("garbage", False), ("D50-D53", False),
])
def test_billable_means_a_valid_leaf(code, billable):
    assert icd10cm.is_billable(code) is billable


def test_normalize_dots_and_upper_cases():
    assert icd10cm.normalize(" d510 ") == "D51.0"
    assert icd10cm.normalize("E53.8") == "E53.8"
    assert icd10cm.normalize("G63") == "G63"


@pytest.mark.parametrize("code, is_manifestation", [
    ("G63", True),  # code first: nutritional deficiency (E40-E64) holds E53.8
    ("G32.0", True),  # code first: D51.0, D51.3, E53.8...
    ("D63.8", False),  # code first: fish tapeworm, hookworm...: not B12 deficiency
    ("E53.8", False), ("R53.83", False),
])
def test_manifestations_of_b12_deficiency_come_from_code_first_notes(code, is_manifestation):
    assert icd10cm.is_manifestation_of(code, B12) is is_manifestation


def test_code_sets_match_subtrees_and_single_codes():
    causes = CodeSet.parse(["K90.-", "K91.2", "K50.0-", "Z98.84"])
    assert "K90.49" in causes and "K50.011" in causes and "K91.2" in causes
    assert "K91.1" not in causes and "K50.90" not in causes and "Z98.8" not in causes
