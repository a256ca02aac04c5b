"""ICD-10-CM facts read from the April 2026 tabular (simple-icd-10-cm), not from our lists."""

from __future__ import annotations

import pytest

from adapter.mappings import load_mappings
from adapter.terminology import icd10cm
from adapter.terminology.codes import CodeSet

B12 = frozenset({"E53.8", "D51.0", "D51.1", "D51.2", "D51.3", "D51.8", "D51.9"})
B12_ANEMIAS = frozenset(code for code in B12 if code.startswith("D51"))


# billable means a valid leaf

@pytest.mark.parametrize("code", [
    "D51.0", "D51.1", "D51.2", "D51.3", "D51.8", "D51.9", "E53.8", "G63", "G32.0",
    "K50.00", "K90.0", "K91.2", "Z98.84", "Z90.3", "Z86.2", "R53.83", "D63.8",
    "QA0.8", "QA0.0101",  # a letter second (QA0, FY2026)
])
def test_valid_leaf_codes_are_billable(code):
    assert icd10cm.is_billable(code) is True


@pytest.mark.parametrize("code", [
    "D51", "E53", "K50", "K90", "G32", "Z86",  # categories with children
    "D51.10", "D51.89", "G63.0",  # below a leaf
    "D50-D53", "garbage", "", "D51.-", "e53.8",  # not a code, or not normalised
])
def test_categories_and_non_codes_are_not_billable(code):
    assert icd10cm.is_billable(code) is False


def test_titles_come_from_the_tabular():
    assert icd10cm.title("D51.0") == \
        "Vitamin B12 deficiency anemia due to intrinsic factor deficiency"
    assert icd10cm.title("D51") == "Vitamin B12 deficiency anemia"
    assert icd10cm.title("XYZ") == ""


# normalisation

@pytest.mark.parametrize("raw, code", [
    (" d510 ", "D51.0"), ("E538", "E53.8"), ("e53.8", "E53.8"), ("K5000", "K50.00"),
    ("Z9884", "Z98.84"), ("G63", "G63"), ("D51.0", "D51.0"), ("D 51.0", "D51.0"),
    ("qa08", "QA0.8"), ("QA00101", "QA0.0101"),  # a letter second (QA0, FY2026)
])
def test_normalize_upper_cases_trims_and_dots(raw, code):
    assert icd10cm.normalize(raw) == code


def test_normalize_does_not_make_garbage_valid():
    assert icd10cm.is_billable(icd10cm.normalize("XYZ1")) is False


# manifestations of B12 deficiency, read from "code first" notes

@pytest.mark.parametrize("code", [
    "G63",  # code first: nutritional deficiency (E40-E64), which holds E53.8
    "G32.0",  # code first: D51.3, D51.0, D51.8, E53.8
    "F02.80",  # dementia in other diseases: code first ... vitamin B12 deficiency (E53.8)
    "G32.89",  # code first: vitamin B deficiency, except thiamine (E52-E53.-)
])
def test_manifestations_of_b12_deficiency_come_from_code_first_notes(code):
    assert icd10cm.is_manifestation_of(code, B12) is True


@pytest.mark.parametrize("code", [
    "D63.8",  # code first: fish tapeworm, hookworm, hypothyroidism...: not B12 deficiency
    "G99.2",  # code first: neoplasm (C00-D49) only
    "E53.8", "D51.0", "R53.83",  # no code-first note at all
    "D51", "XYZ",  # not a billable code
])
def test_codes_whose_notes_do_not_name_b12_deficiency_are_not_its_manifestations(code):
    assert icd10cm.is_manifestation_of(code, B12) is False


def test_g63_is_a_manifestation_of_e53_8_but_not_of_the_d51_anemias():
    # G63's note names E40-E64 and C00-D49; the D51 anemias fall in neither
    assert icd10cm.is_manifestation_of("G63", frozenset({"E53.8"})) is True
    assert icd10cm.is_manifestation_of("G63", B12_ANEMIAS) is False


def test_g32_0_names_its_underlying_codes():
    assert icd10cm.is_manifestation_of("G32.0", frozenset({"D51.0"})) is True
    assert icd10cm.is_manifestation_of("G32.0", frozenset({"D51.1"})) is False


def test_code_first_notes_are_parsed_line_by_line_codes_and_ranges_only():
    lines = icd10cm.parse_note(
        "underlying disease, such as:\nnutritional deficiency (E40-E64)\n"
        "endocrine disease (E00-E07, E15-E16)\nHenoch (-Schonlein) purpura (D69.0)\n"
        "cerebral degeneration (due to) vitamin B deficiency (E52-E53.-)")
    assert [line.ranges for line in lines] == [
        (), (("E40", "E64"),), (("E00", "E07"), ("E15", "E16")), (("D690", "D690"),),
        (("E52", "E53"),)]
    assert lines[1].words == "nutritional deficiency (e40-e64)"


@pytest.mark.parametrize("code, manifestation", [
    ("G63", True), ("G32.0", True), ("G32.89", True), ("F02.80", True),
    ("M90.50", False),  # "hemoglobinopathy (D50-D64)": a range holding D51, not a deficiency
    ("I21.A1", False),  # "code first, if applicable"
    ("F06.70", False),  # names E53.- but is not "classified elsewhere"
    ("D63.8", False), ("E53.8", False),
])
def test_manifestations_are_read_from_titles_and_notes(code, manifestation):
    words = load_mappings().codes.manifestation_note_words
    assert icd10cm.is_manifestation_of(code, B12, words) is manifestation


@pytest.mark.parametrize("code, low, high, inside", [
    ("E53.8", "E40", "E64", True), ("E65", "E40", "E64", False),
    ("D51.0", "D51.0", "D51.0", True), ("D51.9", "D51.0", "D51.0", False),
    ("D51.9", "D51", "D51", True), ("D51.0", "C00", "D49", False),
])
def test_in_range_compares_each_bound_at_its_own_precision(code, low, high, inside):
    assert icd10cm.in_range(code, low, high) is inside


def test_m36_4_arthropathy_in_hypersensitivity_is_not_a_manifestation_of_b12_deficiency():
    assert icd10cm.is_manifestation_of("M36.4", B12) is False


# named code sets

def test_code_sets_match_subtrees_and_single_codes():
    causes = CodeSet.parse(["K90.-", "K91.2", "K50.0-", "Z98.84"])
    assert "K90.49" in causes and "K50.011" in causes and "K91.2" in causes
    assert "K91.1" not in causes and "K50.90" not in causes and "Z98.8" not in causes


# a category named like its block (simple-icd-10-cm gives C50 itself as its parent)

def test_the_ancestors_of_a_code_under_a_self_named_block_reach_its_block_and_chapter():
    # in a child process: the walk from C50.911 once went C50, C50, C50... for ever, then
    # stopped at C50, short of its block and chapter
    import subprocess
    import sys

    walk = subprocess.run(
        [sys.executable, "-c", "from adapter.terminology import tabular; "
         "print(tabular.ancestors('C50.911'), tabular.ancestors('B20'), "
         "tabular.item('C50-C50')[0], tabular.item('2')[0])"],
        capture_output=True, text=True, timeout=60, check=False)
    assert walk.stdout.strip() == ("['C50.91', 'C50.9', 'C50', 'C50-C50', '2'] ['B20-B20', '1'] "
                                   "Malignant neoplasms of breast (C50) Neoplasms (C00-D49)")


def test_an_index_cached_in_an_older_shape_is_built_again():
    # the index of a release is cached under a name holding the shape it was written in: an
    # index that made C50 its own parent (cached as ...-adapter-0.1.0.sqlite) is not read
    from adapter.terminology import tabular

    assert tabular.INDEX_FORMAT >= 2
    assert tabular.cache_path().name.endswith(f"-index-{tabular.INDEX_FORMAT}.sqlite")


@pytest.mark.parametrize("code", ["C50.911", "B20", "D49.0"])
def test_a_code_under_a_self_named_block_is_judged_beside_e53_8(code):
    assert icd10cm.excludes1_note(code, "E53.8") is None
    assert icd10cm.is_manifestation_of(code, B12) is False
