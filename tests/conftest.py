"""Test-wide settings: hypothesis profiles, and which suites are slow. CI runs the default
profile; a deeper search for crashes runs with ``HYPOTHESIS_PROFILE=deep pytest
tests/test_fuzz.py``.

The default test run (``pytest``) is a developer's loop: every suite but the slow ones, which
``pytest -m slow`` runs (the Spark suites: a JVM, minutes on two cores; ``.ci/run`` runs them,
and the whole suite again on the compiled build)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=300, deadline=None)
settings.register_profile("deep", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SLOW_SUITES = ("tests/spark/",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(suite in item.nodeid for suite in SLOW_SUITES):
            item.add_marker(pytest.mark.slow)

# --- ICD-10-CM releases (SPEC 4.3) -------------------------------------------------------------
# Most tests were written with service dates in February and March 2026, when ICD-10-CM FY2026
# (the October 2025 release) is in force: a release no package registry holds, so a real run
# judges those dates with the April 2025 and April 2026 releases and adds `code-set-missing`.
# Tests about something else should not carry that finding, so the suite runs with a cache in
# which FY2026 is installed through `codes add`, its files stood in by the April 2026 update's
# (the same <version>2026</version> tabular). The release tests (tests/test_releases.py) judge
# with the shipped releases alone, in a cache of their own; the demo's dates fall in shipped
# releases, so it reads the same with or without this stand-in.

def _install_fy2026_stand_in() -> None:
    from datetime import date
    from importlib.resources import files

    from adapter.terminology import in_force, install, releases

    base = releases.cache_dir()
    os.environ["B12_CACHE_DIR"] = str(base / "tests-fy2026-stand-in")
    in_force.forget()
    if any(r.id == "FY2026" for r in releases.added()):
        return
    shipped = files("adapter.terminology") / releases.SHIPPED
    install.add(Path(str(shipped / "icd10c-tabular-April-1-2026.xml.gz")),
                Path(str(shipped / "code-list-April-2026.txt.gz")), date(2025, 10, 1))


_install_fy2026_stand_in()
