"""What a user installs: every package listed for the wheel, the mappings shipped inside it and
read through importlib.resources, and one clear error for a missing or broken mapping file.
(CI also builds the wheel and runs the demo from a clean venv: see .ci/run.)"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from adapter import mappings as mappings_module
from adapter.cli import main
from adapter.mappings import MappingsError, data_root, load_mappings

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_under_adapter_is_listed_for_the_wheel():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts)
               for p in (ROOT / "adapter").rglob("__init__.py")}
    assert on_disk <= set(config["packages"])
    assert config["package-dir"] == {"adapter.mappings_data": "mappings"}


def test_the_mappings_are_read_as_package_data_and_every_file_is_shipped():
    shipped = {p.name for p in (ROOT / "mappings").glob("*.json")}
    assert {p.name for p in data_root().iterdir() if p.name.endswith(".json")} == shipped
    assert load_mappings().thresholds.lab_lookback_days == 365


def test_the_icd10cm_releases_are_package_data_and_each_file_is_what_the_catalogue_names():
    """SPEC 4.3: every file the catalogue names is in the folder the wheel's glob ships, with
    the sha256 it gives (of the uncompressed file)."""
    import gzip
    import hashlib
    import json
    from fnmatch import fnmatch

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = config["package-data"]["adapter.terminology"]
    folder = ROOT / "adapter" / "terminology" / "icd10cm_releases"
    catalogue = json.loads((folder / "releases.json").read_text())["releases"]
    assert [r["id"] for r in catalogue] == ["FY2021", "FY2025-04", "FY2026-04"]
    for release in catalogue:
        for kind in ("tabular", "codes"):
            name = release[kind]
            assert any(fnmatch(f"icd10cm_releases/{name}", g) for g in globs), name
            data = gzip.decompress((folder / name).read_bytes())
            assert hashlib.sha256(data).hexdigest() == release["sha256"][kind], name


@pytest.fixture
def mappings_copy(tmp_path, monkeypatch):
    """A copy of mappings/ the program reads instead of the packaged one."""
    copy = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", copy)
    monkeypatch.setattr(mappings_module, "data_root", lambda: copy)
    load_mappings.cache_clear()
    yield copy
    load_mappings.cache_clear()


@pytest.mark.parametrize("name", ["thresholds.json", "icd10cm.json", "drugs.json"])
def test_a_missing_mapping_file_stops_the_run_with_its_name(mappings_copy, capsys, name):
    (mappings_copy / name).unlink()

    status = main(["check", "--source", str(ROOT / "fixtures" / "demo")])

    _, err = capsys.readouterr()
    assert status == 2
    assert name in err and "mapping file is missing" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("text, problem", [
    ("{not json", "not valid JSON"),
    ('{"b12_low_pg_ml": "low"}', "b12_low_pg_ml: must be a number greater than 0"),
    ('{"mma_high_umol_l": 0.4}', "b12_low_pg_ml: missing"),
    ('{"b12_low_pg_ml": 200}', "mma_high_umol_l: missing"),
])
def test_a_broken_thresholds_file_names_the_file_and_the_setting(mappings_copy, text, problem):
    (mappings_copy / "thresholds.json").write_text(text)

    with pytest.raises(MappingsError) as raised:
        load_mappings()

    assert "thresholds.json" in str(raised.value) and problem in str(raised.value)
