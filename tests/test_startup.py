"""Start-up (issue 13): the ICD-10-CM index on disk answers exactly as the package does, is
built once and shared, and a file check imports neither the package's XML parse, pydantic nor
the HTTP stack. Speed itself is measured in bench/, never asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from adapter.terminology import icd10cm, tabular
from tests.scenario import clean_chart

B12 = frozenset({"E53.8", "D51.0", "D51.1", "D51.2", "D51.3", "D51.8", "D51.9"})


@pytest.fixture(scope="module")
def icd():
    import simple_icd_10_cm

    simple_icd_10_cm.change_version()  # its own April 2026 data (a release build switches it)
    return simple_icd_10_cm


def test_the_index_holds_every_item_of_the_tabular_as_the_package_reads_it(icd):
    # the newest shipped release (April 2026) is the package's own, from our vendored copy
    codes = icd.get_all_codes(with_dots=True)
    assert len(codes) > 90_000
    blocks = 0
    for code in codes:
        title, leaf, parent, note = tabular.item(code)
        above = icd.get_parent(code)
        if above == code:  # C50 in its block of one (<section id="C50">): the block, C50-C50
            above, blocks = f"{code}-{code}", blocks + 1
            assert tabular.item(above) == (
                icd.get_description(code, prioritize_blocks=True), False,
                icd.get_parent(code, prioritize_blocks=True),
                icd.get_code_first(code, search_in_ancestors=True, prioritize_blocks=True))
        assert (title, leaf, parent or "", note) == (
            icd.get_description(code), icd.is_leaf(code), above,
            icd.get_code_first(code, search_in_ancestors=True)), code
    assert blocks == 2 * 39  # the package lists each such name twice, block and category
    assert tabular.item("D51.89") is None and tabular.item("XYZ") is None


@pytest.mark.parametrize("code", ["D51", "D51.0", "E53.8", "G63", "G32.0", "F02.80", "M90.50",
                                  "I21.A1", "K50.10", "Z98.84", "D51.89", "J11.00"])
def test_billable_title_and_manifestation_agree_with_the_package(icd, code):
    valid = icd.is_valid_item(code)
    assert icd10cm.is_billable(code) == (valid and icd.is_leaf(code))
    assert icd10cm.title(code) == (icd.get_description(code) if valid else "")


def test_the_index_is_built_once_into_the_cache_and_then_only_opened(tmp_path):
    env = {"B12_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    probe = ("from adapter.terminology import icd10cm, tabular; import sys; "
             "print(icd10cm.title('D51.0')); print('simple_icd_10_cm' in sys.modules)")
    first = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                           text=True, check=True).stdout.split()
    files = [p.name for p in tmp_path.iterdir()]
    again = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                           text=True, check=True).stdout.split()
    assert first[-1] == "True" and again[-1] == "False"  # parsed to build, then only opened
    assert [p.name for p in tmp_path.iterdir()] == files and len(files) == 1
    assert files[0].startswith("icd10cm-") and files[0].endswith(".sqlite")


def test_an_unwritable_cache_builds_the_index_in_memory(tmp_path):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the cache folder would go")
    env = {"B12_CACHE_DIR": str(blocked / "cache"), "PATH": "/usr/bin:/bin"}
    probe = "from adapter.terminology import icd10cm; print(icd10cm.is_billable('D51.0'))"
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "True" and "built in memory" in done.stderr


def test_a_file_check_imports_neither_the_xml_parse_nor_pydantic_nor_http(tmp_path):
    bundle = tmp_path / "one.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": r} for r in clean_chart()]}))
    probe = (f"import sys; from adapter.cli import main; main(['check', '--source', "
             f"{str(bundle)!r}, '--format', 'json']); "
             "print(sorted(m for m in ('simple_icd_10_cm', 'pydantic', 'requests', "
             "'fhir.resources', 'jwt', 'spacy', 'medspacy') if m in sys.modules), "
             "file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parent.parent)
    assert json.loads(done.stdout)["summary"]["supported"] == 1
    assert done.stderr.strip().splitlines()[-1] == "[]"


def _nlp_loaded_by_a_check(tmp_path, note_text: str) -> tuple[dict, bool]:
    from fixtures import builders as b
    from tests.scenario import SERVICE

    bundle = tmp_path / "one.json"
    resources = [*clean_chart(), b.document_reference("n1", "p1", SERVICE, note_text)]
    bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": r} for r in resources]}))
    probe = (f"import sys; from adapter.cli import main; main(['check', '--source', "
             f"{str(bundle)!r}, '--format', 'json']); "
             "print('spacy' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parent.parent)
    return json.loads(done.stdout), done.stderr.strip().splitlines()[-1] == "True"


def test_a_note_with_no_term_of_the_table_costs_no_nlp(tmp_path):
    report, loaded = _nlp_loaded_by_a_check(tmp_path, "# Assessment and Plan\nWell visit.")
    assert not loaded
    assert [f["code"] for f in report["claims"][0]["findings"]] == ["note-no-indication"]


def test_the_nlp_pipeline_is_imported_when_a_note_holds_a_term(tmp_path):
    report, loaded = _nlp_loaded_by_a_check(tmp_path, "# Assessment and Plan\nB12 deficiency.")
    assert loaded and report["claims"][0]["verdict"] == "supported"
