"""The compiled build: ``B12_ADAPTER_COMPILE=1`` compiles the modules a bulk run spends its
CPU in (reading resources into facts, gathering, the rules, the file scan) with mypyc, as
black and mypy ship themselves. The same source, C extensions beside the .py files; a bulk
run takes about a third less CPU. Without the variable the build is pure Python (what an
editable install for development wants: a compiled module would shadow edits to its .py).
Everything else is in pyproject.toml.
"""

import os

from setuptools import setup

# Not compiled: modules tests monkeypatch (driver, parallel, modes), the values pickled
# between worker processes (facts, findings, outcomes: a compiled class does not pickle),
# the file scan (compiled, its generators held on to the blocks they read: 2.6x the memory)
# and everything off the hot path.
COMPILED = [
    "adapter/check.py",
    "adapter/evidence/chart.py",
    "adapter/evidence/drugs.py",
    "adapter/evidence/fields.py",
    "adapter/evidence/gather.py",
    "adapter/evidence/names.py",
    "adapter/evidence/read.py",
    "adapter/evidence/read_claims.py",
    "adapter/rules/__init__.py",
    "adapter/rules/administration.py",
    "adapter/rules/coding.py",
    "adapter/rules/diagnosis.py",
    "adapter/rules/labs.py",
    "adapter/rules/policy.py",
    "adapter/rules/premedication.py",
    "adapter/rules/scope.py",
    "adapter/rules/status.py",
    "adapter/terminology/codes.py",
    "adapter/terminology/icd10cm.py",
    "adapter/terminology/ndc.py",
    "adapter/terminology/units.py",
]

ext_modules = []
if os.environ.get("B12_ADAPTER_COMPILE") == "1":
    from mypyc.build import mypycify

    ext_modules = mypycify(["--ignore-missing-imports", *COMPILED], opt_level="3")

setup(ext_modules=ext_modules)
