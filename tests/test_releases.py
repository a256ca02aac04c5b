"""SPEC 4.3: the ICD-10-CM release in force on the date of service, dx-excludes1 and
code-set-missing, judged with the releases that ship (FY2021, April 2025, April 2026) and
read from their real tabular notes; ``b12-adapter codes add`` and ``codes list``."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from dataclasses import replace
from datetime import date
from importlib.resources import files
from pathlib import Path

import pytest

from adapter.cli import main
from adapter.terminology import icd10cm, in_force, install, releases, tabular
from adapter.terminology.in_force import InForce
from tests import facts as f

SHIPPED = files("adapter.terminology") / releases.SHIPPED


def shipped_on(day: date) -> InForce:
    """What a claim dated ``day`` is judged with when only the shipped releases are there."""
    return in_force.of(*releases.in_force(day, releases.shipped()))


def judged(day: date, *codes: str) -> list:
    """The findings for a claim coding ``codes`` on ``day``, its chart backing the first."""
    facts = f.claim(*codes, day=day)
    ev = f.backed(facts, f.condition(codes={codes[0]}, onset=date(2020, 1, 1)),
                  labs=[f.lab("Observation/o1", "b12", 150, day),
                        f.lab("Observation/h1", "hemoglobin", 10.9, day)],
                  administrations=[f.given(day=day)])
    return f.findings(replace(ev, code_set=shipped_on(day)))


def of(findings: list, code: str) -> list:
    return [x for x in findings if x.code == code]


# which release is in force

@pytest.mark.parametrize("day, needed, used", [
    (date(2021, 6, 1), "FY2021", ("FY2021",)),
    (date(2020, 10, 1), "FY2021", ("FY2021",)),
    (date(2025, 4, 1), "FY2025-04", ("FY2025-04",)),
    (date(2025, 9, 30), "FY2025-04", ("FY2025-04",)),
    (date(2026, 5, 15), "FY2026-04", ("FY2026-04",)),
    # the October release is not installed: its installed neighbours
    (date(2025, 3, 31), "FY2025", ("FY2021", "FY2025-04")),  # the April update is no stand-in
    (date(2021, 10, 1), "FY2022", ("FY2021", "FY2025-04")),
    (date(2025, 10, 1), "FY2026", ("FY2025-04", "FY2026-04")),
    (date(2026, 3, 31), "FY2026", ("FY2025-04", "FY2026-04")),
    (date(2026, 10, 1), "FY2027", ("FY2026-04",)),  # after the newest: that one alone
    (date(2019, 5, 1), "FY2019", ("FY2021",)),
])
def test_the_release_in_force_by_date_of_service(day, needed, used):
    codes = shipped_on(day)
    assert (codes.needed.id, codes.ids) == (needed, used)
    assert codes.missing == (used != (needed,))
    assert codes.label == "+".join(used)


@pytest.mark.parametrize("day", [date(1, 1, 1), date(9999, 12, 31)])
def test_a_date_at_the_calendars_ends_is_judged_and_says_what_it_needs(day):
    codes = shipped_on(day)
    assert codes.missing and codes.ids in (("FY2021",), ("FY2026-04",))


def test_an_october_release_is_in_force_all_year_when_no_april_update_is_installed():
    october = [r for r in releases.shipped() if r.id == "FY2021"]
    need, used = releases.in_force(date(2021, 5, 3), tuple(october))
    assert need.id == "FY2021" and [r.id for r in used] == ["FY2021"]


def test_codes_list_shows_each_release_its_dates_and_the_gaps(capsys):
    assert main(["codes", "list"]) == 0
    out = capsys.readouterr().out
    assert "FY2021" in out and "2020-10-01 to 2021-09-30" in out
    assert "FY2025-04" in out and "2025-04-01 to 2025-09-30" in out
    assert "FY2026-04" in out and "2026-04-01 to 2026-09-30" in out
    assert "2021-10-01 to 2025-03-31" in out  # not installed
    assert "from 2026-10-01: judged with FY2026-04" in out


# dx-excludes1, from the real notes

@pytest.mark.parametrize("day", [date(2021, 3, 1), date(2025, 6, 2), date(2026, 5, 4)])
def test_dx_excludes1_fires_for_e53_8_with_folate_deficiency_anemia_in_every_release(day):
    (found,) = of(judged(day, "E53.8", "D52.0"), "dx-excludes1")
    assert found.severity == "moderate" and found.diagnosis == "D52.0"
    assert "E53.8 with D52.0" in found.message
    assert 'E53.8 Excludes1 "folate deficiency anemia (D52.-)"' in found.message


@pytest.mark.parametrize("pair, sits_on, words", [
    (("K90.0", "K91.2"), "K90",
     "intestinal malabsorption following gastrointestinal surgery (K91.2)"),
    (("K50.00", "K50.80"), "K50.0", "Crohn's disease of both small and large intestine (K50.8-)"),
])
def test_dx_excludes1_reads_the_notes_of_ancestors_and_categories(pair, sits_on, words):
    (found,) = of(judged(date(2026, 5, 4), *pair), "dx-excludes1")
    assert f'{sits_on} Excludes1 "{words}"' in found.message
    assert of(judged(date(2026, 5, 4), *reversed(pair)), "dx-excludes1")  # either order


@pytest.mark.parametrize("day", [date(2021, 3, 1), date(2025, 6, 2), date(2026, 5, 4)])
def test_dx_excludes1_reads_the_block_and_chapter_above_a_category_named_like_its_block(day):
    # 39 categories sit alone in a block of their name (T07, E89, C50, B20...); the index
    # made each its own parent, so the notes of its block and chapter were never read
    (found,) = of(judged(day, "T07.XXXA", "T63.441A"), "dx-excludes1")
    assert 'block T07-T07 Excludes1 "insect bite or sting, venomous (T63.4)"' in found.message
    (found,) = of(judged(day, "P72.2", "E89.0"), "dx-excludes1")  # chapter 4, E00-E89
    assert ('chapter 4 Excludes1 "transitory endocrine and metabolic disorders specific to newborn '
            '(P70-P74)"') in found.message
    assert of(judged(day, "T07.XXXA", "T63.001A"), "dx-excludes1") == []  # not T63.4


def test_d51_with_e53_8_was_an_excludes1_pair_until_fy2025_and_is_not_since_fy2026():
    (found,) = of(judged(date(2025, 6, 2), "D51.0", "E53.8"), "dx-excludes1")
    assert "FY2025-04" in found.message and "D51.0 with E53.8" in found.message
    assert of(judged(date(2026, 5, 4), "D51.0", "E53.8"), "dx-excludes1") == []


@pytest.mark.parametrize("day", [date(2021, 3, 1), date(2025, 6, 2), date(2026, 5, 4)])
def test_an_excludes2_pair_never_fires(day):
    assert of(judged(day, "Z98.84", "Z98.0"), "dx-excludes1") == []
    assert of(judged(day, "Z98.0", "Z98.84"), "dx-excludes1") == []


def test_dx_excludes1_does_not_fire_for_codes_no_note_bars():
    assert of(judged(date(2026, 5, 4), "D51.0", "K90.0"), "dx-excludes1") == []
    assert of(judged(date(2026, 5, 4), "E53.8", "E53.8"), "dx-excludes1") == []


def test_an_excludes1_pair_fires_without_the_release_in_force_only_when_all_neighbours_agree():
    day = date(2025, 11, 3)  # FY2026 not shipped: April 2025 (Excludes1) and April 2026 (not)
    found = judged(day, "D51.0", "E53.8")
    assert of(found, "dx-excludes1") == []
    (missing,) = of(found, "code-set-missing")
    assert "D51.0 with E53.8 is an Excludes1 pair in FY2025-04 only" in missing.message
    assert of(judged(day, "E53.8", "D52.0"), "dx-excludes1")  # both agree: it fires


# the premise of dx-invalid comes from the release in force

def test_a_code_that_did_not_exist_on_the_date_of_service_is_dx_invalid():
    # K90.821 (short bowel syndrome) was added after FY2021
    (found,) = of(judged(date(2021, 6, 1), "E53.8", "K90.821"), "dx-invalid")
    assert found.diagnosis == "K90.821" and "FY2021" in found.message
    assert of(judged(date(2025, 6, 2), "E53.8", "K90.821"), "dx-invalid") == []


def test_a_code_valid_in_either_neighbour_is_not_dx_invalid_and_the_dispute_is_said():
    found = judged(date(2023, 1, 9), "E53.8", "K90.821")  # FY2023: FY2021 and April 2025
    assert of(found, "dx-invalid") == []
    (missing,) = of(found, "code-set-missing")
    assert "K90.821 is billable in FY2025-04 only" in missing.message


# code-set-missing

def test_code_set_missing_names_the_release_needed_and_what_judged_instead():
    (missing,) = of(judged(date(2026, 11, 2), "E53.8"), "code-set-missing")
    assert missing.severity == "low"
    assert missing.message.startswith(
        "ICD-10-CM FY2027, in force from 2026-10-01, is not installed: diagnoses dated "
        "2026-11-02 judged with FY2026-04")
    assert "codes add" in missing.message


def test_code_set_missing_does_not_fire_when_the_release_in_force_is_installed():
    for day in (date(2021, 6, 1), date(2025, 6, 2), date(2026, 5, 4)):
        assert of(judged(day, "E53.8"), "code-set-missing") == []


def test_code_set_missing_alone_leaves_a_claim_supported():
    from adapter.findings import verdict

    found = judged(date(2026, 11, 2), "E53.8")
    assert {x.code for x in found} == {"code-set-missing", "evidence-not-linked"}
    assert verdict(found) == "supported"


def test_evidence_without_its_code_set_is_refused():
    ev = replace(f.backed(f.claim()), code_set=None)
    with pytest.raises(ValueError, match="without its ICD-10-CM code set"):
        f.findings(ev)


def test_the_code_set_pickles_to_a_worker_and_back():
    import pickle

    codes = shipped_on(date(2025, 11, 3))
    again = pickle.loads(pickle.dumps(codes))
    assert again == codes and again.is_billable("K90.821")


# the report: code_set per claim, a notice per release missing (the demo shows both)

def test_the_report_names_each_claims_code_set_and_says_once_what_is_missing(capsys):
    from tests.test_demo import DEMO

    assert main(["check", "--source", str(DEMO), "--format", "json"]) == 0
    import json

    out, err = capsys.readouterr()
    report = json.loads(out)
    by_claim = {c["claim"]: c["code_set"] for c in report["claims"]}
    assert by_claim["Claim/k68"] == "FY2025-04" and by_claim["Claim/k69"] == "FY2026-04"
    assert by_claim["Claim/k01"] == "FY2026-04"
    (note,) = report["notes"]
    assert note.startswith("ICD-10-CM FY2027, in force from 2026-10-01, is not installed: 1 "
                           "claim(s) judged with FY2026-04 instead (code-set-missing)")
    assert err.count("is not installed") == 1


# codes add

@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """A cache of its own (the shipped releases' indexes are not needed: nothing is judged)."""
    monkeypatch.setenv("B12_CACHE_DIR", str(tmp_path / "cache"))
    in_force.forget()
    yield tmp_path
    monkeypatch.undo()
    in_force.forget()


def _plain(name: str) -> bytes:
    return gzip.decompress((SHIPPED / name).read_bytes())


def _zip(path: Path, member: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"Table and Index/{member}", data)
        archive.writestr("Table and Index/readme.txt", b"read me")
    return path


def test_codes_add_installs_a_release_from_the_cdc_zips_and_codes_list_shows_it(own_cache,
                                                                                capsys):
    tabular = _zip(own_cache / "icd10cm-table-index-2026.zip", "icd10cm-tabular-2026.xml",
                   _plain("icd10c-tabular-April-1-2026.xml.gz"))
    codes = _zip(own_cache / "icd10cm-codes-2026.zip", "icd10cm-codes-2026.txt",
                 _plain("code-list-April-2026.txt.gz"))
    assert main(["codes", "add", "--tabular", str(tabular), "--codes", str(codes),
                 "--effective", "2025-10-01"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("installed ICD-10-CM FY2026 (FY2026), in force from 2025-10-01: ")
    need, used = releases.in_force(date(2025, 11, 3), releases.installed())
    assert need.id == "FY2026" and [r.id for r in used] == ["FY2026"]
    assert not in_force.for_day(date(2025, 11, 3)).missing
    assert main(["codes", "list"]) == 0
    listed = capsys.readouterr().out
    assert "FY2026     ICD-10-CM FY2026" in listed and "2025-10-01 to 2026-03-31" in listed
    assert "(added; index built)" in listed


def test_an_added_release_replacing_a_shipped_one_is_what_every_later_run_reads(own_cache,
                                                                                capsys):
    """codes add of the April 2026 update (shipped too, so the same id): check, the titles a
    page shows and the service's warm-up read the added one instead of failing to find the
    shipped one (KeyError 'FY2026-04 is not installed', exit 1)."""
    assert main(["check", "--source", "fixtures/demo", "--format", "json"]) == 0
    before = capsys.readouterr().out
    assert main(["codes", "add", "--tabular", str(SHIPPED / "icd10c-tabular-April-1-2026.xml.gz"),
                 "--codes", str(SHIPPED / "code-list-April-2026.txt.gz"),
                 "--effective", "2026-04-01"]) == 0
    assert "(FY2026-04), in force from 2026-04-01" in capsys.readouterr().out
    in_force.forget()  # as a new process
    assert tabular.default_release().id == "FY2026-04"
    assert not tabular.default_release().shipped
    assert icd10cm.title("D51.0").startswith("Vitamin B12 deficiency anemia")
    assert main(["check", "--source", "fixtures/demo", "--format", "json"]) == 0
    after = capsys.readouterr()
    assert "FY2026-04 is not installed" not in after.err
    assert json.loads(after.out)["claims"] == json.loads(before)["claims"]
    assert main(["codes", "list"]) == 0
    assert "FY2026-04" in capsys.readouterr().out


def _refused(capsys, own_cache, tabular: Path, codes: Path, effective: str, says: str) -> None:
    assert main(["codes", "add", "--tabular", str(tabular), "--codes", str(codes),
                 "--effective", effective]) == 2
    err = capsys.readouterr().err
    assert says in err, err
    added = own_cache / "cache" / releases.ADDED
    assert not added.exists() or not [p for p in added.iterdir()]  # nothing installed
    assert [r.id for r in releases.installed()] == ["FY2021", "FY2025-04", "FY2026-04"]


def test_codes_add_refuses_a_file_that_is_no_tabular(own_cache, capsys):
    junk = own_cache / "notes.xml"
    junk.write_text("<html>not a tabular</html>")
    _refused(capsys, own_cache, junk, junk, "2026-10-01", "not an ICD-10-CM tabular")


def test_codes_add_refuses_the_tabular_of_another_year(own_cache, capsys):
    tabular = own_cache / "icd10cm-tabular-2026.xml"
    tabular.write_bytes(_plain("icd10c-tabular-April-1-2026.xml.gz"))
    codes = own_cache / "codes.txt"
    codes.write_bytes(_plain("code-list-April-2026.txt.gz"))
    _refused(capsys, own_cache, tabular, codes, "2026-10-01",
             "the tabular is version 2026, but the release in force from the date given is "
             "FY2027")


def test_codes_add_refuses_a_date_that_is_no_release_date(own_cache, capsys):
    tabular = own_cache / "t.xml"
    tabular.write_bytes(b"<ICD10CM.tabular><version>2027</version>")
    _refused(capsys, own_cache, tabular, tabular, "2026-11-15", "is not a release date")


def test_codes_add_refuses_a_damaged_tabular_and_installs_nothing(own_cache, capsys):
    whole = _plain("icd10c-tabular-April-1-2026.xml.gz")
    cut = own_cache / "icd10cm-tabular-2026.xml"
    cut.write_bytes(whole[: len(whole) // 2])  # a download cut short
    codes = own_cache / "codes.txt"
    codes.write_bytes(_plain("code-list-April-2026.txt.gz"))
    _refused(capsys, own_cache, cut, codes, "2025-10-01", "not a readable ICD-10-CM release")
    assert not list((own_cache / "cache").glob("icd10cm-FY2026-*.sqlite"))


def test_codes_add_refuses_a_damaged_zip(own_cache, capsys):
    broken = own_cache / "icd10cm-table-index-2027.zip"
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("icd10cm-tabular-2027.xml", b"x" * 1000)
    broken.write_bytes(data.getvalue()[:-30])
    _refused(capsys, own_cache, broken, broken, "2026-10-01", "icd10cm-table-index-2027.zip")


def test_codes_add_refuses_an_xml_file_given_as_the_code_list(own_cache, capsys):
    tabular = own_cache / "icd10cm-tabular-2026.xml"
    tabular.write_bytes(_plain("icd10c-tabular-April-1-2026.xml.gz"))
    _refused(capsys, own_cache, tabular, tabular, "2025-10-01", "not a code list")


def _tabular_2026(own_cache) -> Path:
    tabular = own_cache / "icd10cm-tabular-2026.xml"
    tabular.write_bytes(_plain("icd10c-tabular-April-1-2026.xml.gz"))
    return tabular


@pytest.mark.parametrize("data, says", [
    (b"", "codes.txt: holds no codes (an empty file?)"),
    (b"%PDF-1.4\n" + b"x" * 1000, "codes.txt: line 1 is not a line of a code list ('%PDF-1.4')"),
    (b"A000    Cholera due to Vibrio cholerae\n" * 3, "codes.txt: holds 1 code, a whole"),
    (b"A000    Cholera\nA001    Cholera due to Vibrio cholerae 01, biovar eltor\n",
     "codes.txt: holds 2 codes, a whole"),
    # a download cut short: half the list (the tabular alone still gives ~36,000 billable codes)
    (_plain("code-list-April-2026.txt.gz")[:400_000],
     "codes.txt: 14136 of the tabular's 46881 codes are not in it (S61112, S61119, S6112, …): "
     "cut short, or the list of another release"),
    (_plain("code-list-April-2025.txt.gz"), "383 of the tabular's 46881 codes are not in it"),
])
def test_codes_add_refuses_a_code_list_that_is_empty_not_one_or_cut_short(own_cache, capsys,
                                                                         data, says):
    codes = own_cache / "codes.txt"
    codes.write_bytes(data)
    _refused(capsys, own_cache, _tabular_2026(own_cache), codes, "2025-10-01", says)


def test_codes_add_refuses_a_code_order_file_whose_last_line_is_cut(own_cache, capsys):
    tabular = own_cache / "icd10cm-tabular-2021.xml"
    tabular.write_bytes(_plain("icd10cm_tabular_2021.xml.gz"))
    codes = own_cache / "icd10cm-order-2021.txt"
    codes.write_bytes(_plain("icd10cm-order-Jan-2021.txt.gz")[:-40])
    _refused(capsys, own_cache, tabular, codes, "2020-10-01",
             "icd10cm-order-2021.txt: its last line is cut short (no line end)")


def test_codes_add_calls_a_zip_cut_short_damaged(own_cache, capsys):
    whole = _zip(own_cache / "whole.zip", "icd10cm-tabular-2026.xml",
                 _plain("icd10c-tabular-April-1-2026.xml.gz")).read_bytes()
    cut = own_cache / "icd10cm-table-index-2026.zip"
    cut.write_bytes(whole[: len(whole) // 2])
    codes = own_cache / "codes.txt"
    codes.write_bytes(_plain("code-list-April-2026.txt.gz"))
    _refused(capsys, own_cache, cut, codes, "2025-10-01",
             "icd10cm-table-index-2026.zip: a damaged zip file (its directory is missing")


def test_install_module_errors_are_values():
    assert issubclass(install.InstallError, RuntimeError)
