"""Test-wide settings: hypothesis profiles, and which suites are slow. CI runs the default
profile; a deeper search for crashes runs with ``HYPOTHESIS_PROFILE=deep pytest
tests/test_fuzz.py``.

The default test run (``pytest``) is a developer's loop: every suite but the slow ones, which
``pytest -m slow`` runs (the Spark suites: a JVM, minutes on two cores; ``.ci/run`` runs them,
and the whole suite again on the compiled build)."""

from __future__ import annotations

import os

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
