"""Thresholds from mappings/ and a user's --config overrides (TOML or JSON)."""

from __future__ import annotations

import pytest

from adapter.config import ConfigError, load_thresholds
from fixtures import builders as b
from tests.scenario import clean_chart, codes, replace


def _config(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_are_the_spec_values():
    t = load_thresholds()
    assert (t.b12_low_pg_ml, t.mma_high_umol_l, t.homocysteine_high_umol_l) == (200, 0.4, 15)
    assert (t.hemoglobin_low_g_dl.male, t.hemoglobin_low_g_dl.female,
            t.hemoglobin_low_g_dl.unknown) == (13.0, 12.0, 12.0)
    assert (t.lab_lookback_days, t.hemoglobin_window_days) == (365, None)  # anemia: ever shown
    assert t.homocysteine_b12_borderline_pg_ml == 400
    assert t.premedication["pemetrexed"].first_dose_days_before == 7
    assert t.premedication["pralatrexate"].first_dose_days_before == 70


# overrides change a rule's outcome

def test_toml_lookback_override_makes_a_20_day_old_lab_too_old(tmp_path):
    t = load_thresholds(_config(tmp_path, "b12.toml", "lab_lookback_days = 10\n"))
    assert "lab-missing" in codes(*clean_chart(), thresholds=t)
    assert "lab-missing" not in codes(*clean_chart())


def test_toml_override_changes_only_what_it_names(tmp_path):
    path = _config(tmp_path, "b12.toml", "[hemoglobin_low_g_dl]\nfemale = 11.5\n")
    t = load_thresholds(path)
    assert t.hemoglobin_low_g_dl.female == 11.5
    assert t.hemoglobin_low_g_dl.male == 13.0 and t.b12_low_pg_ml == 200
    assert t.lab_lookback_days == 365


def test_toml_hemoglobin_override_changes_anemia_for_a_woman(tmp_path):
    t = load_thresholds(_config(tmp_path, "b12.toml", "[hemoglobin_low_g_dl]\nfemale = 11.5\n"))
    resources = replace(clean_chart(dx="D51.9"),
                        b.lab("h1", "p1", "hemoglobin", 11.7, "g/dL", "2026-02-10"))
    assert "anemia-not-supported" in codes(*resources, thresholds=t)
    assert "anemia-not-supported" not in codes(*resources)


def test_json_b12_override_makes_150_pg_ml_not_low(tmp_path):
    t = load_thresholds(_config(tmp_path, "b12.json", '{"b12_low_pg_ml": 140}'))
    assert t.b12_low_pg_ml == 140
    assert "lab-not-low" in codes(*clean_chart(), thresholds=t)  # B12 150 pg/mL
    assert "lab-not-low" not in codes(*clean_chart())


def test_json_override_inside_a_thresholds_table(tmp_path):
    t = load_thresholds(_config(tmp_path, "b12.json", '{"thresholds": {"b12_low_pg_ml": 140}}'))
    assert "lab-not-low" in codes(*clean_chart(), thresholds=t)


def test_json_mma_override_makes_0_35_umol_l_high(tmp_path):
    t = load_thresholds(_config(tmp_path, "b12.json", '{"mma_high_umol_l": 0.27}'))
    resources = [*replace(clean_chart(), b.lab("o1", "p1", "b12", 350, "pg/mL", "2026-02-10")),
                 b.lab("m1", "p1", "mma", 0.35, "umol/L", "2026-02-10")]
    assert "lab-not-low" not in codes(*resources, thresholds=t)
    assert "lab-not-low" in codes(*resources)


def test_toml_hemoglobin_window_limits_how_old_a_low_hemoglobin_may_be(tmp_path):
    t = load_thresholds(_config(tmp_path, "b12.toml", "hemoglobin_window_days = 90\n"))
    resources = replace(clean_chart(dx="D51.9"),
                        b.lab("h1", "p1", "hemoglobin", 10.0, "g/dL", "2025-11-01"))
    assert "anemia-not-supported" in codes(*resources, thresholds=t)
    assert "anemia-not-supported" not in codes(*resources)  # by default: ever shown


# unusable overrides: ConfigError naming the file and the setting

@pytest.mark.parametrize("name, text, setting", [
    ("b12.toml", "b12_low = 180\n", "b12_low"),
    ("b12.toml", "[hemoglobin_low_g_dl]\npregnant = 11.0\n", "hemoglobin_low_g_dl.pregnant"),
    ("b12.toml", "b12_low_pg_ml = 0\n", "b12_low_pg_ml"),
    ("b12.toml", "lab_lookback_days = -1\n", "lab_lookback_days"),
    ("b12.toml", "lab_lookback_days = 'a year'\n", "lab_lookback_days"),
    ("b12.toml", "hemoglobin_low_g_dl = 12\n", "hemoglobin_low_g_dl"),
    ("b12.json", '{"mma_high": 0.3}', "mma_high"),
    ("b12.json", '{"b12_low_pg_ml": "abc"}', "b12_low_pg_ml"),
    ("b12.json", '{"lab_lookback_days": 30.5}', "lab_lookback_days"),
    ("b12.json", '{"hemoglobin_low_g_dl": {"male": -13}}', "hemoglobin_low_g_dl.male"),
])
def test_an_unknown_key_or_invalid_value_names_the_file_and_the_setting(
        tmp_path, name, text, setting):
    with pytest.raises(ConfigError) as caught:
        load_thresholds(_config(tmp_path, name, text))
    assert name in str(caught.value) and setting in str(caught.value)


@pytest.mark.parametrize("name, text, words", [
    ("b12.toml", "not toml at all [\n", "not valid toml"),
    ("b12.json", "{not json", "not valid json"),
    ("b12.json", "[1, 2]", "expected a table of settings"),
])
def test_an_unreadable_file_names_the_file(tmp_path, name, text, words):
    with pytest.raises(ConfigError) as caught:
        load_thresholds(_config(tmp_path, name, text))
    assert name in str(caught.value) and words in str(caught.value)


def test_a_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_thresholds(tmp_path / "nope.toml")


@pytest.mark.parametrize("name, text", [
    ("b12.json", '{"thresholds": {"b12_low_pg_ml": 140}, "b12_low": 150}'),
    ("b12.toml", "b12_low = 150\n[thresholds]\nb12_low_pg_ml = 140\n"),
])
def test_an_unknown_key_beside_a_thresholds_table_is_an_error(tmp_path, name, text):
    with pytest.raises(ConfigError) as caught:
        load_thresholds(_config(tmp_path, name, text))
    assert name in str(caught.value) and "b12_low" in str(caught.value)


def test_a_boolean_lookback_is_an_invalid_value(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_thresholds(_config(tmp_path, "b12.json", '{"lab_lookback_days": true}'))
    assert "b12.json" in str(caught.value) and "lab_lookback_days" in str(caught.value)


def test_notes_settings_default_to_quoting_and_not_requiring_notes(tmp_path):
    from adapter.config import load_settings
    from adapter.mappings import load_mappings

    defaults = load_mappings().thresholds
    plain = load_settings(defaults, None)
    assert (plain.notes_quote, plain.notes_required) == (True, False)
    path = tmp_path / "b12.toml"
    path.write_text("b12_low_pg_ml = 180\n[notes]\nquote = false\nrequired = true\n")
    settings = load_settings(defaults, path)
    assert (settings.notes_quote, settings.notes_required) == (False, True)
    assert settings.thresholds.b12_low_pg_ml == 180


@pytest.mark.parametrize(("text", "said"), [
    ("[notes]\nquote = 1\n", "notes.quote: expected true or false"),
    ("[notes]\nrequire = true\n", "require: unknown setting"),
    ("notes = 3\n", "notes: expected a table"),
])
def test_bad_notes_settings_name_the_file_and_the_setting(tmp_path, text, said):
    from adapter.config import load_settings
    from adapter.mappings import load_mappings

    path = tmp_path / "b12.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=said):
        load_settings(load_mappings().thresholds, path)
