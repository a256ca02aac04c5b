"""Data, not code: the code sets, LOINC and drug codes, SNOMED map and thresholds in this folder.

This file only makes the folder a package, so that the wheel ships it as
``adapter.mappings_data`` (pyproject.toml maps it there) and ``adapter.mappings`` reads it
with ``importlib.resources``. Nothing here is imported for its code.
"""
