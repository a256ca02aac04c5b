"""Which build is running: compiled by mypyc (``B12_ADAPTER_COMPILE=1``, see setup.py) or
pure Python. ``b12-adapter --version`` says, and so does the benchmark."""

from __future__ import annotations

from importlib.util import find_spec


def compiled() -> bool:
    """Whether the hot modules are C extensions (found, not imported: this runs at start)."""
    spec = find_spec("adapter.evidence.read")
    return spec is not None and spec.origin is not None and not spec.origin.endswith(".py")


def name() -> str:
    return "compiled" if compiled() else "pure Python"
