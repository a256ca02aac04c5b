"""Run the checks over a handful of built resources, as a test states a chart."""

from __future__ import annotations

from typing import Any

from adapter.driver import Driver
from adapter.findings import Finding
from adapter.mappings import load_mappings
from adapter.outcomes import ClaimResult
from adapter.output.report import Report
from adapter.payer_policies import NO_POLICIES, PayerPolicies
from adapter.rules import Policy
from adapter.sources.memory import MemorySource
from adapter.thresholds import Thresholds
from fixtures import builders as b

SERVICE = "2026-03-02"


def run(*resources: dict[str, Any], thresholds: Thresholds | None = None,
        payers: PayerPolicies = NO_POLICIES) -> Report:
    """Check every claim among ``resources`` against the rest, through the one driver."""
    mappings = load_mappings()
    policy = Policy.from_mappings(mappings, thresholds or mappings.thresholds, payers=payers)
    report = Report()
    Driver(MemorySource(resources), policy, mappings, [report]).run()
    return report


def result(*resources: dict[str, Any], thresholds: Thresholds | None = None,
           payers: PayerPolicies = NO_POLICIES) -> ClaimResult:
    report = run(*resources, thresholds=thresholds, payers=payers)
    assert len(report.claims) == 1, report.to_json()
    return report.claims[0]


def codes(*resources: dict[str, Any], thresholds: Thresholds | None = None) -> set[str]:
    return {f.code for f in result(*resources, thresholds=thresholds).findings}


def clean_chart(pid: str = "p1", dx: str = "E53.8", **claim_args: Any) -> list[dict[str, Any]]:
    """A fully backed B12 claim: documented, current, low B12, injection given, linked."""
    anemia = dx.startswith("D51")
    resources = [
        b.patient(pid),
        b.condition("c1", pid, icd=dx),
        b.lab("o1", pid, "b12", 150, "pg/mL", "2026-02-10"),
        b.administration("a1", pid, SERVICE),
    ]
    if anemia:
        resources.append(b.lab("h1", pid, "hemoglobin", 10.9, "g/dL", "2026-02-10"))
    args: dict[str, Any] = {"diagnoses": (dx,), "supporting": ("Condition/c1", "Observation/o1")}
    args.update(claim_args)
    resources.append(b.claim("k1", pid, SERVICE, **args))
    return resources


def replace(resources: list[dict[str, Any]], new: dict[str, Any]) -> list[dict[str, Any]]:
    """The same chart with the resource of the same type and id swapped for ``new``."""
    key = (new["resourceType"], new["id"])
    return [new if (r["resourceType"], r["id"]) == key else r for r in resources]


def without(resources: list[dict[str, Any]], rtype: str, rid: str) -> list[dict[str, Any]]:
    return [r for r in resources if (r["resourceType"], r["id"]) != (rtype, rid)]


def finding(resources: list[dict[str, Any]], code: str) -> Finding:
    """The first finding with ``code`` for the one claim among ``resources``; fails if none."""
    found = [f for f in result(*resources).findings if f.code == code]
    assert found, f"{code} did not fire"
    return found[0]
