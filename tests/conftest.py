"""Test-wide settings: hypothesis profiles. CI runs the default; a deeper search for crashes
runs with ``HYPOTHESIS_PROFILE=deep pytest tests/test_fuzz.py``."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", max_examples=300, deadline=None)
settings.register_profile("deep", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
