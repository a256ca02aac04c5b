"""Thresholds from mappings/ and a user's --config overrides."""

from __future__ import annotations

import pytest

from adapter.config import ConfigError, load_thresholds
from tests.scenario import clean_chart, codes


def test_defaults_are_the_spec_values():
    t = load_thresholds()
    assert (t.b12_low_pg_ml, t.mma_high_umol_l, t.homocysteine_high_umol_l) == (200, 0.4, 15)
    assert (t.hemoglobin_low_g_dl.male, t.hemoglobin_low_g_dl.female) == (13.0, 12.0)
    assert (t.lab_lookback_days, t.hemoglobin_window_days) == (365, 90)


def test_toml_override_changes_only_what_it_names(tmp_path):
    path = tmp_path / "b12.toml"
    path.write_text("lab_lookback_days = 10\n[hemoglobin_low_g_dl]\nfemale = 11.5\n")
    t = load_thresholds(path)
    assert t.lab_lookback_days == 10 and t.hemoglobin_low_g_dl.female == 11.5
    assert t.hemoglobin_low_g_dl.male == 13.0 and t.b12_low_pg_ml == 200
    assert "lab-missing" in codes(*clean_chart(), thresholds=t)  # the B12 lab is 20 days old
    assert "lab-missing" not in codes(*clean_chart())


def test_json_override_with_a_thresholds_table(tmp_path):
    path = tmp_path / "b12.json"
    path.write_text('{"thresholds": {"b12_low_pg_ml": 140}}')
    t = load_thresholds(path)
    assert t.b12_low_pg_ml == 140
    assert "lab-not-low" in codes(*clean_chart(), thresholds=t)


@pytest.mark.parametrize("text, words", [
    ("b12_low_pg_ml = 0\n", "b12_low_pg_ml"),
    ("b12_low = 180\n", "b12_low"),
    ("lab_lookback_days = 'a year'\n", "lab_lookback_days"),
    ("not toml at all [\n", "not valid toml"),
])
def test_invalid_override_names_the_file_and_the_setting(tmp_path, text, words):
    path = tmp_path / "b12.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_thresholds(path)
    assert "b12.toml" in str(caught.value) and words in str(caught.value)


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_thresholds(tmp_path / "nope.toml")
