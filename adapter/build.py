"""Which build is running: compiled by mypyc (``B12_ADAPTER_COMPILE=1``, see setup.py) or
pure Python. ``b12-adapter --version`` says, and so does the benchmark. And how to install an
optional extra, which every command missing one says the same way."""

from __future__ import annotations

from importlib.util import find_spec


def compiled() -> bool:
    """Whether the hot modules are C extensions (found, not imported: this runs at start)."""
    spec = find_spec("adapter.evidence.read")
    return spec is not None and spec.origin is not None and not spec.origin.endswith(".py")


def install_hint(extra: str) -> str:
    """How to install ``extra`` (the package is not on PyPI: from a clone or a wheel)."""
    return (f"in a clone, pip install -e '.[{extra}]'; from a wheel, pip install "
            f"'FILE.whl[{extra}]' (the package is not on PyPI)")


def name() -> str:
    return "compiled" if compiled() else "pure Python"
