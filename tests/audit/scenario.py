"""Audit a handful of built resources through the one driver, as a test states a chart."""

from __future__ import annotations

from typing import Any

from adapter.driver import Driver
from adapter.mappings import load_mappings
from adapter.output.audit.collect import Audit, AuditSink, SampleRow
from adapter.output.report import Report
from adapter.rules import Policy
from adapter.sources.memory import MemorySource
from fixtures import builders as b

Resource = dict[str, Any]


def audit(*resources: Resource, **options: Any) -> Audit:
    """The audit of every claim among ``resources``; ``options`` go to ``AuditSink``."""
    mappings = load_mappings()
    policy = Policy.from_mappings(mappings, mappings.thresholds)
    sink = AuditSink(policy, **options)
    Driver(MemorySource(resources), policy, mappings, [Report(), sink]).run()
    return sink.audit()


def rows(result: Audit) -> list[SampleRow]:
    return [row for provider in result.sample for row in provider.rows]


def backed(kid: str, pid: str, day: str, *, dx: str = "E53.8", lab: float | None = 150,
           given: bool = True, practitioner: str | None = None,
           facility: str | None = None) -> list[Resource]:
    """A claim of ``pid`` on ``day`` with its Condition, a B12 lab (``lab`` pg/mL, none when
    None: lab-missing) and the injection (``given``; else admin-missing), all linked."""
    resources = [
        b.patient(pid),
        b.condition(f"{kid}-c", pid, icd=dx, onset="2024-01-15"),
        b.claim(kid, pid, day, diagnoses=(dx,),
                supporting=(f"Condition/{kid}-c", *((f"Observation/{kid}-o",) if lab else ()))),
    ]
    if lab is not None:
        resources.append(b.lab(f"{kid}-o", pid, "b12", lab, "pg/mL", day))
    if given:
        resources.append(b.administration(f"{kid}-a", pid, day))
    if dx.startswith("D51"):
        resources.append(b.lab(f"{kid}-h", pid, "hemoglobin", 10.1, "g/dL", day))
    resources[2] = b.staffed(resources[2], practitioner=practitioner, facility=facility)
    return resources
