"""The two builds (setup.py): pure Python, and compiled by mypyc with B12_ADAPTER_COMPILE=1.

CI runs the whole suite on both; ``B12_EXPECT_COMPILED=1`` marks the compiled run, which must
really run the compiled modules (a build that fell back to Python would pass every other test).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapter import build

ROOT = Path(__file__).resolve().parent.parent
COMPILED_RUN = os.environ.get("B12_EXPECT_COMPILED") == "1"


def _compiled_modules() -> list[str]:
    """The modules setup.py compiles, as import names."""
    namespace: dict[str, object] = {}
    source = (ROOT / "setup.py").read_text()
    exec(compile(source.split("ext_modules = []")[0], "setup.py", "exec"), namespace)
    paths = namespace["COMPILED"]
    assert isinstance(paths, list) and paths
    return [p.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for p in paths]


def test_version_says_which_build_runs():
    out = subprocess.run([sys.executable, "-m", "adapter", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip().endswith("(compiled)" if COMPILED_RUN else "(pure Python)")
    assert build.compiled() is COMPILED_RUN, (
        "compiled modules (*.so) sit beside the .py files: edits to those .py files do not run; "
        "remove them (git clean -fX adapter) or set B12_EXPECT_COMPILED=1")


@pytest.mark.skipif(not COMPILED_RUN, reason="the compiled run of .ci/run checks this")
def test_the_compiled_run_runs_every_compiled_module_compiled():
    for name in _compiled_modules():
        origin = importlib.import_module(name).__file__ or ""
        assert not origin.endswith(".py"), f"{name} runs from {origin}"
